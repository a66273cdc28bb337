import CustosCrypto
import CustosStore
import Foundation
import SQLKit
import Testing

@testable import CustosKeystore

/// A writer of the data directory without the root of trust: edits of key and version
/// rows are refused at use, and an older copy of the database does not bring a
/// destroyed key back.
@Suite("Key-row integrity and crypto-shredding")
struct RowIntegrityTests {
    static func records(_ fixture: Fixture) async throws -> [AuditRecord] {
        try await fixture.service.store.auditRecords(AuditQuery(limit: 1000))
    }

    func expectCorrupt(_ fixture: Fixture, _ alias: KeyAlias) async throws {
        await #expect {
            _ = try await fixture.service.sign(tenant: "node-1", alias: alias, message: [1], by: .local)
        } throws: { error in
            (error as? KeystoreError)?.code == "corrupt-record" && "\(error)".contains("does not match its MAC")
        }
        let last = try #require(try await Self.records(fixture).last)
        #expect(last.operation == "sign" && last.outcome == "failure" && last.detailValues["error"] == "corrupt-record")
    }

    @Test func editedStatusPrimaryVersionAndSchemeAreRefused() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let disabled = try await service.generateKey(KeySpec(tenant: "node-1", alias: "disabled", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.disable(tenant: "node-1", alias: "disabled", by: .local)
        let rotated = try await service.generateKey(KeySpec(tenant: "node-1", alias: "rotated", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.rotate(tenant: "node-1", alias: "rotated", by: .local)
        let scheme = try await service.generateKey(KeySpec(tenant: "node-1", alias: "scheme", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        let destroyed = try await service.generateKey(KeySpec(tenant: "node-1", alias: "destroyed", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.destroy(tenant: "node-1", alias: "destroyed", by: .local)
        // Every key works or is refused for its real state before the edits.
        _ = try await service.sign(tenant: "node-1", alias: "rotated", message: [1], by: .local)

        try await fixture.execute("UPDATE keys SET status = 'enabled' WHERE id = \(bind: disabled.id)")
        try await fixture.execute("UPDATE keys SET primary_version = 1 WHERE id = \(bind: rotated.id)")
        try await fixture.execute("UPDATE keys SET scheme = 'ecdsa-p384-sha384' WHERE id = \(bind: scheme.id)")
        try await fixture.execute("UPDATE keys SET status = 'enabled' WHERE id = \(bind: destroyed.id)")
        let reopened = try await fixture.reopened()
        for alias: KeyAlias in ["disabled", "rotated", "scheme", "destroyed"] { try await expectCorrupt(reopened, alias) }
        await #expect(throws: KeystoreError.self) { _ = try await reopened.service.enable(tenant: "node-1", alias: "disabled", by: .local) }
        await #expect(throws: KeystoreError.self) {
            _ = try await reopened.service.verify(tenant: "node-1", alias: "rotated", message: [1], signature: [UInt8](repeating: 0, count: 64), by: .local)
        }
    }

    @Test func editedVersionRowsAreRefused() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let key = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        _ = try await fixture.service.rotate(tenant: "node-1", alias: "k", by: .local)
        // Marking version 2 destroyed (material gone) to force signatures back to version 1 is an edit too.
        try await fixture.execute("UPDATE key_versions SET wrapping_generation = 7 WHERE key_id = \(bind: key.id) AND version = 2")
        try await expectCorrupt(try await fixture.reopened(), "k")
    }

    @Test func rowsWithoutMACAreMACdOnceOnUpgradeThenRefused() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        // A data directory written before row MACs: no MACs, no marker.
        try await fixture.execute("UPDATE keys SET row_mac = NULL")
        try await fixture.execute("UPDATE key_versions SET row_mac = NULL")
        try await fixture.execute("DELETE FROM metadata WHERE name = 'row_macs'")
        let upgraded = try await fixture.reopened()
        _ = try await upgraded.service.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        let upgrade = try #require(try await Self.records(upgraded).first { $0.operation == "integrity.upgrade" })
        #expect(upgrade.actor == "keystore" && upgrade.detailValues["rows"] == "2")
        // Once upgraded, a row whose MAC was removed is refused, not MAC'd again.
        try await fixture.execute("UPDATE keys SET row_mac = NULL")
        try await expectCorrupt(try await fixture.reopened(), "k")
    }

    @Test func anOlderDatabaseDoesNotBringADestroyedKeyBack() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "doomed", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "kept", algorithm: .symmetric(.aes256GCM)), by: .local)
        let sealed = try await service.encrypt(tenant: "node-1", alias: "kept", plaintext: [42], by: .local)
        let backup = fixture.directory + "/backup.sqlite"
        _ = try await fixture.reopened { try FileManager.default.copyItem(atPath: fixture.databasePath, toPath: backup) }

        let destroyed = try await fixture.service.destroy(tenant: "node-1", alias: "doomed", by: .local)
        #expect(destroyed.status == .destroyed)
        // The surviving key was re-wrapped under the new generation and still works.
        #expect(try await fixture.service.decrypt(tenant: "node-1", alias: "kept", ciphertext: sealed, by: .local).copyBytes() == [42])
        let generations = try await fixture.service.store.wrappingKeys(tenantID: "node-1").map(\.generation)
        #expect(generations == [0, 2])
        let afterDestroy = try await fixture.reopened()
        #expect(try await afterDestroy.service.decrypt(tenant: "node-1", alias: "kept", ciphertext: sealed, by: .local).copyBytes() == [42])

        // The writer restores the copy taken before the destroy.
        let restored = try await fixture.reopened {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: fixture.databasePath + suffix) }
            try FileManager.default.copyItem(atPath: backup, toPath: fixture.databasePath)
        }
        await #expect(throws: KeystoreError.wrappingKeyUnavailable(tenant: "node-1", generation: 1)) {
            _ = try await restored.service.sign(tenant: "node-1", alias: "doomed", message: [1], by: .local)
        }
        await #expect(throws: KeystoreError.wrappingKeyUnavailable(tenant: "node-1", generation: 1)) {
            _ = try await restored.service.decrypt(tenant: "node-1", alias: "kept", ciphertext: sealed, by: .local)
        }
    }

    @Test func theShredLedgerCannotBeRemovedOrLowered() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        _ = try await fixture.service.destroy(tenant: "node-1", alias: "k", by: .local)
        let ledger = fixture.directory + "/" + ShredLedger.fileName
        let text = try String(contentsOfFile: ledger, encoding: .utf8)
        #expect(text.contains("\"floor\":2"))
        try await fixture.service.close()
        try text.replacingOccurrences(of: "\"floor\":2", with: "\"floor\":1").write(toFile: ledger, atomically: true, encoding: .utf8)
        let root = try PassphraseRoot.unseal(at: fixture.rootPath, passphrase: SecretBytes(Array(Fixture.passphrase.utf8)))
        let store = try await SQLiteStore.open(path: fixture.databasePath)
        await #expect { _ = try await KeyService(store: store, root: root) } throws: { error in
            (error as? KeystoreError)?.code == "corrupt-record" && "\(error)".contains("shred ledger entry")
        }
        try FileManager.default.removeItem(atPath: ledger)
        await #expect { _ = try await KeyService(store: store, root: root) } throws: { error in
            "\(error)".contains("shred ledger custos.shred is missing")
        }
        try await store.close()
        try text.write(toFile: ledger, atomically: true, encoding: .utf8)
        let service = try await KeyService(store: try await SQLiteStore.open(path: fixture.databasePath), root: root)
        try await service.close()
    }
}
