import CustosCrypto
import CustosStore
import Foundation
import SQLKit
import Testing

@testable import CustosKeystore

/// Someone who can write the data directory but holds no root secret tries to hide
/// records: each attempt must be a finding of `verify`, never "intact".
@Suite("Audit log tampering")
struct AuditTamperingTests {
    /// Seven records (see `AuditLogTests.populated`), signed at 7, then three more
    /// signed at 10: two checkpoints, and a high-water mark at 10.
    static func checkpointed() async throws -> Fixture {
        let fixture = try await AuditLogTests.populated()
        try #require(try await fixture.service.audit.checkpoint()?.sequence == 7)
        for alias in ["a", "b", "c"] {
            _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: try KeyAlias(validating: alias), algorithm: .signing(.ed25519)), by: .local)
        }
        try #require(try await fixture.service.audit.checkpoint()?.sequence == 10)
        try #require(try await fixture.service.audit.verify().intact)
        return fixture
    }

    static func markPath(_ fixture: Fixture) -> String { fixture.databasePath + ".audit-mark" }

    func kinds(_ fixture: Fixture) async throws -> [String] {
        try await fixture.service.audit.verify().findings.map(\.kind.rawValue)
    }

    @Test func deletingTheNewestRecordsAndTheirCheckpointIsNamed() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("DELETE FROM audit_records WHERE sequence > 7")
        try await fixture.execute("DELETE FROM audit_checkpoints WHERE sequence > 7")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.kind.rawValue) == ["rolled-back"])
        #expect(result.findings.first?.sequence == 8)
    }

    @Test func wipingEveryRecordAndCheckpointIsNamed() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("DELETE FROM audit_records")
        try await fixture.execute("DELETE FROM audit_checkpoints")
        let result = try await fixture.service.audit.verify()
        #expect(!result.intact && result.recordsChecked == 0)
        #expect(result.findings.map(\.kind.rawValue).contains("rolled-back"))
    }

    @Test func truncatingThenAppendingAndCheckpointingIsRefusedAndNamed() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("DELETE FROM audit_records WHERE sequence > 5")
        try await fixture.execute("DELETE FROM audit_checkpoints")
        // The service's cached head is stale after a change behind its back; reopen.
        let service = try await fixture.reopened().service
        _ = try await service.sign(tenant: "node-1", alias: "a", message: [1], by: .local)
        await #expect(throws: KeystoreError.self) { try await service.audit.checkpoint() }
        #expect(try await service.store.latestCheckpoint() == nil, "the rolled-back head was not signed")
        #expect(try await kinds(fixture).contains("rolled-back"))
    }

    @Test func deletingOnlyTheCheckpointsIsNamed() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("DELETE FROM audit_checkpoints")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.kind.rawValue) == ["rolled-back"])
        #expect(result.findings.first?.detail.contains("checkpoints were deleted") == true)
    }

    @Test(arguments: [
        "UPDATE audit_checkpoints SET time = time - 3600 WHERE sequence = 10",
        "UPDATE audit_checkpoints SET signer_fingerprint = 'SHA256:' || substr(signer_fingerprint, 8, 10) || 'x' WHERE sequence = 10",
        "UPDATE audit_checkpoints SET sequence = 9 WHERE sequence = 10",
        "UPDATE audit_checkpoints SET head_hash = (SELECT hash FROM audit_records WHERE sequence = 9) WHERE sequence = 10",
    ] as [String])
    func editingACheckpointFieldIsNamed(statement: String) async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute(SQLQueryString(statement))
        #expect(try await kinds(fixture).contains("bad-checkpoint"), "\(statement)")
    }

    @Test(arguments: [Int64(0), -1, -9_223_372_036_854_775_807])
    func rowsAtSequenceZeroOrBelowAreNamed(sequence: Int64) async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("""
            INSERT INTO audit_records (sequence, time_us, actor, tenant_id, operation, key_id, key_version, outcome, details, previous_hash, hash)
            SELECT \(bind: sequence), time_us, actor, tenant_id, operation, key_id, key_version, outcome, details, previous_hash, hash
            FROM audit_records WHERE sequence = 3
            """)
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.kind.rawValue) == ["out-of-range"])
        #expect(result.findings.first?.sequence == sequence)
    }

    @Test func aCheckpointAtSequenceZeroIsNamed() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("INSERT INTO audit_checkpoints SELECT 0, head_hash, time, signer_fingerprint, signature FROM audit_checkpoints WHERE sequence = 7")
        #expect(try await kinds(fixture) == ["out-of-range"])
    }

    @Test func anUnreadableCellIsAFindingNotAnError() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.execute("UPDATE audit_records SET time_us = 'yesterday' WHERE sequence = 4")
        try await fixture.execute("UPDATE audit_checkpoints SET time = 'noon' WHERE sequence = 7")
        let result = try await fixture.service.audit.verify()
        #expect(result.findings.map(\.sequence) == [4, 7])
        #expect(result.findings.allSatisfy { $0.kind.rawValue == "unreadable" })
        #expect(result.findings.allSatisfy { !$0.detail.contains("yesterday") && !$0.detail.contains("noon") }, "no cell value in a finding")
        #expect(result.recordsChecked == 10)
    }

    // MARK: The high-water mark file

    @Test func aDeletedMarkIsNamedAndBlocksCheckpoints() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        try FileManager.default.removeItem(atPath: Self.markPath(fixture))
        #expect(try await kinds(fixture) == ["bad-mark"])
        _ = try await fixture.service.sign(tenant: "node-1", alias: "a", message: [2], by: .local)
        await #expect(throws: KeystoreError.self) { try await fixture.service.audit.checkpoint() }
        #expect(!FileManager.default.fileExists(atPath: Self.markPath(fixture)), "a refused checkpoint writes no mark")
    }

    @Test func aReplacedMarkIsNamed() async throws {
        let fixture = try await Self.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        let other = try await Self.checkpointed()
        defer { Task { await other.cleanUp() } }
        // A genuine mark of another data directory, and an edited copy of this one's.
        try FileManager.default.removeItem(atPath: Self.markPath(fixture))
        try FileManager.default.copyItem(atPath: Self.markPath(other), toPath: Self.markPath(fixture))
        #expect(try await kinds(fixture) == ["bad-mark"])
        let text = try String(contentsOfFile: Self.markPath(other), encoding: .utf8).replacingOccurrences(of: "\"sequence\":10", with: "\"sequence\":3")
        try text.write(toFile: Self.markPath(fixture), atomically: true, encoding: .utf8)
        #expect(try await kinds(fixture) == ["bad-mark"])
    }

    /// Rolling back the mark alone hides nothing (the log still holds every record);
    /// rolling back the mark with the database is the whole-directory rollback that
    /// only an off-node sink catches (AuditSinkTests).
    @Test func anOlderMarkWithTheDatabaseRolledBackTooIsTheDocumentedLimit() async throws {
        let fixture = try await AuditLogTests.populated()
        defer { Task { await fixture.cleanUp() } }
        try #require(try await fixture.service.audit.checkpoint() != nil)
        let oldMark = try Data(contentsOf: URL(fileURLWithPath: Self.markPath(fixture)))
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "late", algorithm: .signing(.ed25519)), by: .local)
        try #require(try await fixture.service.audit.checkpoint()?.sequence == 8)
        try oldMark.write(to: URL(fileURLWithPath: Self.markPath(fixture)))
        #expect(try await fixture.service.audit.verify().intact, "an older mark over the full log hides nothing")
        try await fixture.execute("DELETE FROM audit_records WHERE sequence = 8")
        try await fixture.execute("DELETE FROM audit_checkpoints WHERE sequence = 8")
        #expect(try await fixture.service.audit.verify().intact, "documented: without a sink, a whole-directory rollback is not visible")
    }

    @Test func aNewDataDirectoryHasAMarkAndAnIntactLog() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        #expect(FileManager.default.fileExists(atPath: Self.markPath(fixture)))
        #expect(try await fixture.service.audit.verify().intact)
        #expect(try await fixture.service.audit.checkpoint() != nil)
        #expect(try await fixture.reopened().service.audit.verify().intact)
    }
}
