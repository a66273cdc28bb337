import CustosCrypto
import CustosStore
import Foundation
import SQLKit
import Testing

@testable import CustosKeystore

@Suite("Audit log")
struct AuditLogTests {
    /// A store with a few audited operations: tenant, generate, sign ×3, rotate, disable.
    static func populated() async throws -> Fixture {
        let fixture = try await Fixture.make()
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        for index in 0..<3 {
            _ = try await service.sign(tenant: "node-1", alias: "k", message: Array("message \(index)".utf8), by: .local)
        }
        _ = try await service.rotate(tenant: "node-1", alias: "k", by: .local)
        _ = try await service.disable(tenant: "node-1", alias: "k", by: .local)
        return fixture
    }

    static func records(_ fixture: Fixture) async throws -> [AuditRecord] {
        try await fixture.service.store.auditRecords(AuditQuery(limit: 1000))
    }

    @Test func operationsAreRecordedInOrderAndTheChainVerifies() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        let records = try await Self.records(fixture)
        #expect(records.map(\.operation) == ["tenant.create", "generate", "sign", "sign", "sign", "rotate", "disable"])
        #expect(records.map(\.sequence) == Array(1...7))
        #expect(records.allSatisfy { $0.actor == "cli" && $0.outcome == "success" })
        #expect(records[5].keyVersion == 2)
        #expect(records[0].previousHash == AuditRecord.genesisHash)
        for (earlier, later) in zip(records, records.dropFirst()) { #expect(later.previousHash == earlier.hash) }
        let result = try await fixture.service.audit.verify()
        #expect(result.intact && result.recordsChecked == 7)
    }

    @Test func payloadsAreStoredOnlyAsHMACs() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let message = Array("a very recognisable payload 7f3a".utf8)
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        _ = try await fixture.service.sign(tenant: "node-1", alias: "k", message: message, by: .local)
        let sign = try #require(try await Self.records(fixture).last)
        #expect(sign.detailValues["message_hmac"] == fixture.service.audit.digest(message))
        #expect(sign.detailValues["message_hmac"] != Hex.encode(message))
        try await fixture.service.close()
        for file in try FileManager.default.contentsOfDirectory(atPath: fixture.directory) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture.directory + "/" + file))
            #expect(bytes.range(of: Data(message)) == nil, "payload found in \(file)")
            #expect(bytes.range(of: Data(Hex.encode(message).utf8)) == nil, "hex payload found in \(file)")
        }
    }

    @Test func failuresAreRecordedWithTheirCode() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        await #expect(throws: KeystoreError.keyNotFound(tenant: "node-1", alias: "absent")) {
            try await fixture.service.sign(tenant: "node-1", alias: "absent", message: [1], by: .local)
        }
        let signer = Principal(id: "token:0011223344556677", tenant: "node-1", role: .signer)
        await #expect(throws: KeystoreError.self) {
            try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "x", algorithm: .signing(.ed25519)), by: signer)
        }
        let records = try await Self.records(fixture)
        #expect(records.count == 3)
        #expect(records[1].operation == "sign" && records[1].outcome == "failure" && records[1].detailValues["error"] == "key-not-found")
        #expect(records[2].operation == "generate" && records[2].outcome == "denied" && records[2].actor == signer.id)
        #expect(try await fixture.service.audit.verify().intact)
    }

    @Test func concurrentSignaturesAreGroupCommittedAndEachIsRecorded() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<300 {
                group.addTask { _ = try await service.sign(tenant: "node-1", alias: "k", message: Array("m\(index)".utf8), by: .local) }
            }
            try await group.waitForAll()
        }
        let records = try await Self.records(fixture)
        #expect(records.filter { $0.operation == "sign" }.count == 300)
        let digests = Set(records.compactMap { $0.detailValues["message_hmac"] })
        #expect(digests.count == 300)
        #expect(try await service.audit.verify().intact)
    }

    @Test func aBatchIsRecordedOncePerKeyVersionAndOncePerFailedItem() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "a", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "b", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "mac", algorithm: .symmetric(.hmacSHA256)), by: .local)
        let before = try await Self.records(fixture).count
        let messages = (0..<40).map { Array("batch message \($0)".utf8) }
        let items = messages.enumerated().map { index, message in
            SignRequestItem(alias: index == 7 ? "absent" : index == 9 ? "mac" : index % 3 == 0 ? "b" : "a", message: message)
        }
        let results = try await service.signBatch(tenant: "node-1", items: items, by: .local)
        #expect(results.filter { (try? $0.get()) == nil }.count == 2)
        let batch = Array(try await Self.records(fixture).dropFirst(before))
        #expect(batch.map(\.outcome) == ["success", "success", "failure", "failure"])
        // Records follow the first item each one covers: b (item 0), a (item 1), 7, 9.
        let keyB = try await service.key(tenant: "node-1", alias: "b", by: .local), keyA = try await service.key(tenant: "node-1", alias: "a", by: .local)
        #expect(batch[0].keyID == keyB.id && batch[1].keyID == keyA.id)
        #expect(batch[2].detailValues["alias"] == "absent" && batch[2].detailValues["error"] == "key-not-found")
        #expect(batch[3].detailValues["alias"] == "mac" && batch[3].detailValues["error"] == "wrong-key-kind")
        for (record, alias) in [(batch[0], "b"), (batch[1], "a")] {
            let signed = items.indices.filter { items[$0].alias == alias }
            #expect(record.keyVersion == 1 && record.operation == "sign")
            #expect(record.detailValues["signatures"] == String(signed.count))
            #expect(record.detailValues["message_hmacs"] == signed.map { service.audit.digest(messages[$0]) }.joined(separator: " "))
        }
        #expect(try await service.audit.verify().intact)
    }

    /// Two processes on one database (a server and the CLI): each keeps the chain head
    /// in memory, so the second one's appends must notice the other's and re-chain.
    @Test func twoWritersOnOneDatabaseKeepOneChain() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let first = fixture.service
        _ = try await first.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let root = try PassphraseRoot.unseal(at: fixture.rootPath, passphrase: SecretBytes(Array(Fixture.passphrase.utf8)))
        let second = try await KeyService(store: try await SQLiteStore.open(path: fixture.databasePath), root: root)
        defer { Task { try? await second.close() } }
        for round in 0..<5 {
            _ = try await first.sign(tenant: "node-1", alias: "k", message: [UInt8(round)], by: .local)
            _ = try await second.sign(tenant: "node-1", alias: "k", message: [UInt8(round), 1], by: .local)
            _ = try await second.rotate(tenant: "node-1", alias: "k", by: .local)
            _ = try await first.sign(tenant: "node-1", alias: "k", message: [UInt8(round), 2], by: .local)
        }
        let records = try await Self.records(fixture)
        #expect(records.map(\.sequence) == Array(1...Int64(records.count)))
        #expect(records.filter { $0.operation == "sign" }.count == 15)
        #expect(try await first.audit.verify().intact)
        #expect(try await second.audit.verify().intact)
    }

    // MARK: Tampering: each kind is named at the record where it happened.

    @Test func anEditedRecordIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("UPDATE audit_records SET outcome = 'failure' WHERE sequence = 4")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.sequence) == [4])
        #expect(result.findings.first?.kind == .edited)
    }

    @Test func anEditedActorOrTimeIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("UPDATE audit_records SET actor = 'token:ffffffffffffffff' WHERE sequence = 2")
        try await fixture.execute("UPDATE audit_records SET time_us = time_us + 1 WHERE sequence = 6")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.sequence) == [2, 6])
        #expect(result.findings.allSatisfy { $0.kind == .edited })
    }

    @Test func aDeletedRecordIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("DELETE FROM audit_records WHERE sequence = 3")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.count == 1)
        #expect(result.findings.first?.kind == .deleted && result.findings.first?.sequence == 3)
    }

    @Test func aDeletionHiddenByRenumberingIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("DELETE FROM audit_records WHERE sequence = 3")
        try await fixture.execute("UPDATE audit_records SET sequence = sequence - 1 WHERE sequence > 3")
        let result = try await fixture.service.audit.verify()
        let first = try #require(result.findings.first)
        #expect(first.kind == .reordered && first.sequence == 3)
        #expect(first.detail.contains("deleted"))
    }

    @Test func anInsertedRecordIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        // A forged record placed at 5, later ones renumbered to make room; the forger
        // links it correctly but cannot seal it without the chain key.
        let records = try await Self.records(fixture)
        try await fixture.execute("UPDATE audit_records SET sequence = sequence + 100 WHERE sequence >= 5")
        try await fixture.execute("UPDATE audit_records SET sequence = sequence - 99 WHERE sequence >= 105")
        try await fixture.execute("""
            INSERT INTO audit_records (sequence, time_us, actor, tenant_id, operation, key_id, key_version, outcome, details, previous_hash, hash)
            VALUES (5, \(bind: records[3].timeMicros + 1), 'cli', 'node-1', 'destroy', \(bind: records[3].keyID), NULL, 'success', '{}',
                    \(bind: Data(records[3].hash)), \(bind: Data(repeating: 7, count: 32)))
            """)
        let result = try await fixture.service.audit.verify()
        let first = try #require(result.findings.first)
        #expect(first.kind == .inserted && first.sequence == 5)
        #expect(result.findings.dropFirst().allSatisfy { $0.kind == .reordered })
    }

    @Test func anAppendedForgeryIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        let last = try #require(try await Self.records(fixture).last)
        try await fixture.execute("""
            INSERT INTO audit_records (sequence, time_us, actor, tenant_id, operation, key_id, key_version, outcome, details, previous_hash, hash)
            VALUES (8, \(bind: last.timeMicros + 1), 'cli', 'node-1', 'enable', \(bind: last.keyID), NULL, 'success', '{}',
                    \(bind: Data(last.hash)), \(bind: Data(repeating: 9, count: 32)))
            """)
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.sequence) == [8])
        #expect(result.findings.first?.kind == .edited || result.findings.first?.kind == .inserted)
    }

    @Test func reorderedRecordsAreNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("UPDATE audit_records SET sequence = 100 WHERE sequence = 3")
        try await fixture.execute("UPDATE audit_records SET sequence = 3 WHERE sequence = 4")
        try await fixture.execute("UPDATE audit_records SET sequence = 4 WHERE sequence = 100")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.sequence) == [3, 4])
        #expect(result.findings.allSatisfy { $0.kind == .reordered })
        #expect(result.findings[0].detail.contains("written as 4"))
        #expect(result.findings[1].detail.contains("written as 3"))
    }

    @Test func truncationAfterASignedCheckpointIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        let checkpoint = try #require(try await fixture.service.audit.checkpoint())
        #expect(checkpoint.sequence == 7)
        #expect(try await fixture.service.audit.checkpoint() == nil, "no new records, no new checkpoint")
        #expect(try await fixture.service.audit.verify().intact)
        try await fixture.execute("DELETE FROM audit_records WHERE sequence >= 6")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.count == 1)
        #expect(result.findings.first?.kind == .truncated && result.findings.first?.sequence == 6)
    }

    @Test func aForgedCheckpointIsNamed() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.service.audit.checkpoint()
        try await fixture.execute("UPDATE audit_checkpoints SET sequence = 9")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.first?.kind == .badCheckpoint)
    }

    @Test func tenantAuditorsSeeOnlyTheirFindings() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.createTenant("node-2", by: .local)
        try await fixture.execute("UPDATE audit_records SET outcome = 'x' WHERE sequence = 8")
        #expect(try await fixture.service.audit.verify(tenant: "node-1").intact)
        #expect(try await fixture.service.audit.verify(tenant: "node-2").findings.map(\.sequence) == [8])
    }

    @Test func theChainSurvivesARestartAndAWrongRootCannotOpenIt() async throws {
        let fixture = try await Self.populated()
        defer { Task { await fixture.cleanUp() } }
        let reopened = try await fixture.reopened()
        _ = try await reopened.service.enable(tenant: "node-1", alias: "k", by: .local)
        let result = try await reopened.service.audit.verify()
        #expect(result.intact && result.recordsChecked == 8)
    }
}
