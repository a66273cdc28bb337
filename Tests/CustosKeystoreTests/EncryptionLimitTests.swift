import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// AES-GCM with random nonces: each key version makes at most a set number of
/// encryptions (2^32 by default), counted durably across restarts.
@Suite("AES-GCM usage limit")
struct EncryptionLimitTests {
    static let limit = EncryptionLimit(perVersion: 5, block: 2)

    func service(_ fixture: Fixture) async throws -> KeyService {
        let root = try PassphraseRoot.unseal(at: fixture.rootPath, passphrase: SecretBytes(Array(Fixture.passphrase.utf8)))
        return try await KeyService(store: try await SQLiteStore.open(path: fixture.databasePath), root: root, encryptionLimit: Self.limit)
    }

    @Test func aVersionRefusesEncryptionPastItsLimitUntilRotated() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "aes", algorithm: .symmetric(.aes256GCM)), by: .local)
        try await fixture.service.close()

        var service = try await service(fixture)
        var sealed: [[UInt8]] = []
        for index in 0..<3 { sealed.append(try await service.encrypt(tenant: "node-1", alias: "aes", plaintext: [UInt8(index)], by: .local)) }
        // A restart does not reset the count: the unused part of a reserved block counts as spent.
        try await service.close()
        service = try await self.service(fixture)
        sealed.append(try await service.encrypt(tenant: "node-1", alias: "aes", plaintext: [3], by: .local))
        await #expect(throws: KeystoreError.usageLimitReached(alias: "aes", version: 1, limit: 5)) {
            _ = try await service.encrypt(tenant: "node-1", alias: "aes", plaintext: [9], by: .local)
        }
        let records = try await service.store.auditRecords(AuditQuery(limit: 1000))
        #expect(records.last?.operation == "encrypt" && records.last?.detailValues["error"] == "key-usage-exhausted")
        // Decryption is not limited, and a rotation starts a fresh count.
        for (index, ciphertext) in sealed.enumerated() {
            #expect(try await service.decrypt(tenant: "node-1", alias: "aes", ciphertext: ciphertext, by: .local).copyBytes() == [UInt8(index)])
        }
        _ = try await service.rotate(tenant: "node-1", alias: "aes", by: .local)
        let fresh = try await service.encrypt(tenant: "node-1", alias: "aes", plaintext: [7], by: .local)
        #expect(try VersionedCiphertext(parsing: fresh).keyVersion == 2)
        try await service.close()
    }

    @Test func concurrentEncryptionsNeverPassTheLimit() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "aes", algorithm: .symmetric(.aes256GCM)), by: .local)
        try await fixture.service.close()
        let service = try await service(fixture)
        let successes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask { (try? await service.encrypt(tenant: "node-1", alias: "aes", plaintext: [1], by: .local)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        // What concurrent callers left reserved in memory is still usable, up to the limit.
        var later = 0
        while (try? await service.encrypt(tenant: "node-1", alias: "aes", plaintext: [1], by: .local)) != nil, later < 10 { later += 1 }
        #expect(successes >= 1 && successes + later == 5, "\(successes) + \(later)")
        try await service.close()
    }
}
