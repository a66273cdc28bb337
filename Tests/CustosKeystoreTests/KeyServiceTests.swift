import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

@Suite("Key service")
struct KeyServiceTests {
    static let signingSchemes: [SignatureScheme] = SignatureScheme.allCases

    @Test(arguments: SignatureScheme.allCases)
    func generateSignVerifyEveryScheme(scheme: SignatureScheme) async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let key = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(scheme),
                                                        options: GenerationOptions(rsaKeySize: .bits2048)), by: .local)
        #expect(key.algorithm.identifier == scheme.rawValue)
        #expect(key.primaryVersion == 1)
        #expect(key.fingerprint?.hasPrefix("1220") == true)
        let message = Array("transfer 10 units".utf8)
        let signed = try await service.sign(tenant: "node-1", alias: "k", message: message, by: .local)
        #expect(signed.version == 1 && signed.keyID == key.id)
        #expect(try await service.verify(tenant: "node-1", alias: "k", message: message, signature: signed.signature, by: .local).valid)
        #expect(try await !service.verify(tenant: "node-1", alias: "k", message: message + [0], signature: signed.signature, by: .local).valid)
        // The exported public key verifies on its own, and its fingerprint matches.
        guard case .signing(let publicKey) = try await service.publicKey(tenant: "node-1", alias: "k", by: .local) else {
            Issue.record("not a signing key"); return
        }
        #expect(try publicKey.isValidSignature(signed.signature, for: message))
        #expect(publicKey.fingerprint.description == key.fingerprint)
    }

    @Test func rotationKeepsOldSignaturesVerifying() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "consensus", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        let message = Array("block 1".utf8)
        let old = try await service.sign(tenant: "node-1", alias: "consensus", message: message, by: .local)
        let rotated = try await service.rotate(tenant: "node-1", alias: "consensus", by: .local)
        #expect(rotated.primaryVersion == 2)
        #expect(rotated.versions?.count == 2)
        #expect(rotated.versions?[0].fingerprint != rotated.versions?[1].fingerprint)
        let new = try await service.sign(tenant: "node-1", alias: "consensus", message: message, by: .local)
        #expect(new.version == 2)
        let oldCheck = try await service.verify(tenant: "node-1", alias: "consensus", message: message, signature: old.signature, by: .local)
        #expect(oldCheck.valid && oldCheck.version == 1)
        let newCheck = try await service.verify(tenant: "node-1", alias: "consensus", message: message, signature: new.signature, by: .local)
        #expect(newCheck.valid && newCheck.version == 2)
        // Pinning a version: the old signature does not verify under version 2.
        #expect(try await !service.verify(tenant: "node-1", alias: "consensus", message: message, signature: old.signature, version: 2, by: .local).valid)
    }

    @Test func keysSurviveARestart() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "ledger", algorithm: .signing(.ed25519)), by: .local)
        let reopened = try await fixture.reopened()
        defer { Task { await reopened.cleanUp() } }
        let signed = try await reopened.service.sign(tenant: "node-1", alias: "ledger", message: [1, 2, 3], by: .local)
        #expect(try await reopened.service.verify(tenant: "node-1", alias: "ledger", message: [1, 2, 3], signature: signed.signature, by: .local).valid)
    }

    @Test func destroyShredsEveryVersion() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.rotate(tenant: "node-1", alias: "k", by: .local)
        let destroyed = try await service.destroy(tenant: "node-1", alias: "k", by: .local)
        #expect(destroyed.status.rawValue == "destroyed")
        #expect(destroyed.versions?.allSatisfy(\.destroyed) == true)
        let count = try await Raw.withDatabase(fixture.databasePath) { db in
            try await db.raw("SELECT COUNT(*) AS n FROM key_versions WHERE wrapped_material IS NOT NULL").first()!.decode(column: "n", as: Int.self)
        }
        #expect(count == 0)
        await #expect(throws: KeystoreError.keyDestroyed(tenant: "node-1", alias: "k")) {
            try await service.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        }
        // The tombstone still answers who the key was.
        let shown = try await service.key(tenant: "node-1", alias: "k", by: .local)
        #expect(shown.versions?.count == 2 && shown.fingerprint != nil)
    }

    @Test func encryptDecryptAcrossRotation() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "data", algorithm: .symmetric(.aes256GCM)), by: .local)
        let aad = Array("record 7".utf8)
        let first = try await service.encrypt(tenant: "node-1", alias: "data", plaintext: Array("secret payload".utf8), associatedData: aad, by: .local)
        let again = try await service.encrypt(tenant: "node-1", alias: "data", plaintext: Array("secret payload".utf8), associatedData: aad, by: .local)
        #expect(first != again, "every encryption draws a fresh nonce")
        _ = try await service.rotate(tenant: "node-1", alias: "data", by: .local)
        let second = try await service.encrypt(tenant: "node-1", alias: "data", plaintext: Array("after".utf8), by: .local)
        #expect(second[4] == 2 && first[4] == 1, "the ciphertext names its key version")
        #expect(try await service.decrypt(tenant: "node-1", alias: "data", ciphertext: first, associatedData: aad, by: .local).copyBytes() == Array("secret payload".utf8))
        #expect(try await service.decrypt(tenant: "node-1", alias: "data", ciphertext: second, by: .local).copyBytes() == Array("after".utf8))
        await #expect(throws: KeystoreError.self) {
            try await service.decrypt(tenant: "node-1", alias: "data", ciphertext: first, associatedData: Array("record 8".utf8), by: .local)
        }
        var altered = first
        altered[altered.count - 1] ^= 1
        await #expect(throws: KeystoreError.self) {
            try await service.decrypt(tenant: "node-1", alias: "data", ciphertext: altered, associatedData: aad, by: .local)
        }
    }

    @Test func hmacAndTypedKeyMisuse() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "mac", algorithm: .symmetric(.hmacSHA512)), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "sig", algorithm: .signing(.ed25519)), by: .local)
        let (mac, version) = try await service.mac(tenant: "node-1", alias: "mac", message: [1, 2, 3], by: .local)
        #expect(mac.count == 64 && version == 1)
        #expect(try await service.verifyMAC(tenant: "node-1", alias: "mac", message: [1, 2, 3], mac: mac, by: .local))
        #expect(try await !service.verifyMAC(tenant: "node-1", alias: "mac", message: [1, 2, 4], mac: mac, by: .local))
        // A signing key cannot encrypt and an HMAC key cannot sign.
        await #expect(throws: KeystoreError.wrongKeyKind(alias: "sig", algorithm: "ed25519", operation: "encrypt")) {
            try await service.encrypt(tenant: "node-1", alias: "sig", plaintext: [1], by: .local)
        }
        await #expect(throws: KeystoreError.wrongKeyKind(alias: "mac", algorithm: "hmac-sha512", operation: "sign")) {
            try await service.sign(tenant: "node-1", alias: "mac", message: [1], by: .local)
        }
    }

    @Test func listingFiltersPagesAndLookups() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        var specs = try (1...25).map { KeySpec(tenant: "node-1", alias: try KeyAlias(validating: String(format: "acct-%02d", $0)), algorithm: .signing(.ecdsaSecp256k1Keccak256), category: .accounts) }
        specs.append(KeySpec(tenant: "node-1", alias: "tls-1", algorithm: .signing(.ecdsaP384SHA384), category: .tls, labels: ["zone": "a"], externalID: "ext-9"))
        let created = try await service.generateKeys(specs, batchSize: 10, by: .local)
        #expect(created.count == 26)
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await service.listKeys(tenant: "node-1", filter: KeyFilter(category: "ACCOUNTS"), page: PageRequest(limit: 10, after: cursor), by: .local)
            seen += page.keys.map(\.alias.rawValue)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seen == specs.prefix(25).map(\.alias.rawValue))
        let prefixed = try await service.listKeys(tenant: "node-1", filter: KeyFilter(aliasPrefix: "acct-1"), by: .local)
        #expect(prefixed.keys.map(\.alias.rawValue) == (10...19).map { "acct-\($0)" })
        let tls = try await service.listKeys(tenant: "node-1", filter: KeyFilter(scheme: "ecdsa-p384-sha384"), by: .local)
        #expect(tls.keys.count == 1 && tls.keys[0].labels == ["zone": "a"] && tls.keys[0].externalID == "ext-9")
        #expect(tls.keys[0].fingerprint == created[25].fingerprint && tls.keys[0].fingerprint != nil, "listings carry the primary fingerprint")
        // By ids in bulk and by public key.
        let byIDs = try await service.keys(tenant: "node-1", ids: [created[3].id, created[25].id, "missing"], by: .local)
        #expect(Set(byIDs.map(\.alias.rawValue)) == ["acct-04", "tls-1"])
        let der = try await service.publicKey(tenant: "node-1", alias: "tls-1", by: .local).encodedRepresentation
        #expect(try await service.keys(tenant: "node-1", encodedPublicKey: der, by: .local).map(\.alias) == ["tls-1"])
        // Another tenant sees none of it.
        _ = try await service.createTenant("node-2", by: .local)
        #expect(try await service.listKeys(tenant: "node-2", by: .local).keys.isEmpty)
        #expect(try await service.keys(tenant: "node-2", encodedPublicKey: der, by: .local).isEmpty)
        await #expect(throws: KeystoreError.keyNotFound(tenant: "node-2", alias: "tls-1")) {
            try await service.sign(tenant: "node-2", alias: "tls-1", message: [1], by: .local)
        }
    }

    @Test func importedKeySignsAsItsOwner() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let external = P256.Signing.PrivateKey()
        let pem = external.pemRepresentation
        let key = try await fixture.service.importKey(KeySpec(tenant: "node-1", alias: "imported", algorithm: .signing(.ecdsaP256SHA256)),
                                                      privateKey: SecretBytes(Array(pem.utf8)), by: .local)
        let expected = try SigningPublicKey(derRepresentation: external.publicKey.derRepresentation, scheme: .ecdsaP256SHA256)
        #expect(key.fingerprint == expected.fingerprint.description)
        let signed = try await fixture.service.sign(tenant: "node-1", alias: "imported", message: [9, 9], by: .local)
        #expect(external.publicKey.isValidSignature(try P256.Signing.ECDSASignature(derRepresentation: signed.signature), for: [9, 9] as [UInt8]))
    }

    @Test func disableAndEnable() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let signature = try await service.sign(tenant: "node-1", alias: "k", message: [1], by: .local).signature
        _ = try await service.disable(tenant: "node-1", alias: "k", by: .local)
        await #expect(throws: KeystoreError.keyDisabled(tenant: "node-1", alias: "k")) {
            try await service.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        }
        // Verification is a public operation and still works on a disabled key.
        #expect(try await service.verify(tenant: "node-1", alias: "k", message: [1], signature: signature, by: .local).valid)
        _ = try await service.enable(tenant: "node-1", alias: "k", by: .local)
        _ = try await service.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
    }

    @Test func aDifferentRootIsRefused() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        try await fixture.service.close()
        let otherDirectory = fixture.directory + "/other"
        try FileManager.default.createDirectory(atPath: otherDirectory, withIntermediateDirectories: true)
        let otherRoot = try PassphraseRoot.create(at: otherDirectory + "/root.seal", passphrase: SecretBytes(utf8: Fixture.passphrase), cost: .init(logN: 10))
        let store = try await SQLiteStore.open(path: fixture.databasePath)
        await #expect(throws: KeystoreError.rootKeyMismatch) {
            _ = try await KeyService(store: store, root: otherRoot)
        }
        try await store.close()
    }
}

import Crypto

@Suite("Record cache")
struct RecordCacheTests {
    /// A second process sharing the database disables a key: this service sees it once
    /// its cached record is older than the time to live, and at once with a TTL of zero.
    @Test func changesFromAnotherProcessApplyWithinTheTimeToLive() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let root = try PassphraseRoot.unseal(at: fixture.rootPath, passphrase: SecretBytes(utf8: Fixture.passphrase))
        let other = try await KeyService(store: try await SQLiteStore.open(path: fixture.databasePath), root: root)
        let cached = try await KeyService(store: try await SQLiteStore.open(path: fixture.databasePath), root: root,
                                          recordTimeToLive: .milliseconds(300))
        let uncached = try await KeyService(store: try await SQLiteStore.open(path: fixture.databasePath), root: root,
                                            recordTimeToLive: .zero)
        defer { Task { try? await other.close(); try? await cached.close(); try? await uncached.close() } }
        _ = try await cached.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        _ = try await uncached.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        _ = try await other.disable(tenant: "node-1", alias: "k", by: .local)
        await #expect(throws: KeystoreError.keyDisabled(tenant: "node-1", alias: "k")) {
            try await uncached.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        }
        try await Task.sleep(for: .milliseconds(350))
        await #expect(throws: KeystoreError.keyDisabled(tenant: "node-1", alias: "k")) {
            try await cached.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        }
    }
}
