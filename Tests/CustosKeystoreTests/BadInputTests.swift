import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// Each bad input gets a clear error and changes nothing: the whole database is
/// snapshotted before and after and must be identical.
@Suite("Bad input leaves the store unchanged")
struct BadInputTests {
    /// Runs `attempt`, expects it to throw an error whose description contains
    /// `mentioning`, and checks the store is byte-for-byte the same afterwards.
    func expectRefusal(_ fixture: Fixture, mentioning: String,
                       _ attempt: () async throws -> Void) async throws {
        let before = try await fixture.snapshot()
        do {
            try await attempt()
            Issue.record("expected a refusal mentioning '\(mentioning)'")
        } catch {
            let message = String(describing: error)
            #expect(message.contains(mentioning), "error was: \(message)")
        }
        let after = try await fixture.snapshot()
        #expect(before == after, "the store changed")
    }

    /// Found by the API contract run: a refused duplicate tenant used to leave its
    /// freshly made wrapping key in the keyring cache, so every later unwrap for the
    /// real tenant failed as "corrupted".
    @Test func aRefusedDuplicateTenantDoesNotShadowTheRealOne() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        try await expectRefusal(fixture, mentioning: "already exists") {
            _ = try await service.createTenant("node-1", by: .local)
        }
        _ = try await service.sign(tenant: "node-1", alias: "k", message: [1, 2, 3], by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k2", algorithm: .symmetric(.aes256GCM)), by: .local)
        let sealed = try await service.encrypt(tenant: "node-1", alias: "k2", plaintext: [9], by: .local)
        #expect(try await service.decrypt(tenant: "node-1", alias: "k2", ciphertext: sealed, by: .local).copyBytes() == [9])
    }

    @Test func wrongPassphrase() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let rootBefore = try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath))
        try await expectRefusal(fixture, mentioning: "wrong passphrase") {
            _ = try PassphraseRoot.unseal(at: fixture.rootPath, passphrase: SecretBytes(utf8: "not the passphrase"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath)) == rootBefore)
    }

    @Test func alteredWrappedBlob() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let key = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        var blob = try await fixture.blob("SELECT wrapped_material AS b FROM key_versions WHERE key_id = \(bind: key.id)")
        blob[blob.count / 2] ^= 0x01
        try await fixture.execute("UPDATE key_versions SET wrapped_material = \(bind: Data(blob)) WHERE key_id = \(bind: key.id)")
        // A fresh service, so no cached copy of the key hides the tampering.
        let reopened = try await fixture.reopened()
        try await expectRefusal(reopened, mentioning: "failed authentication") {
            _ = try await reopened.service.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
        }
    }

    @Test func wrappedBlobMovedToAnotherRow() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let a = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "a", algorithm: .signing(.ed25519)), by: .local)
        let b = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "b", algorithm: .signing(.ed25519)), by: .local)
        let blobA = try await fixture.blob("SELECT wrapped_material AS b FROM key_versions WHERE key_id = \(bind: a.id)")
        try await fixture.execute("UPDATE key_versions SET wrapped_material = \(bind: Data(blobA)) WHERE key_id = \(bind: b.id)")
        let reopened = try await fixture.reopened()
        try await expectRefusal(reopened, mentioning: "altered or moved") {
            _ = try await reopened.service.sign(tenant: "node-1", alias: "b", message: [1], by: .local)
        }
        // Moving it to another version of the same key fails too (the version is bound).
        _ = try await reopened.service.rotate(tenant: "node-1", alias: "a", by: .local)
        let v1 = try await reopened.blob("SELECT wrapped_material AS b FROM key_versions WHERE key_id = \(bind: a.id) AND version = 1")
        try await reopened.execute("UPDATE key_versions SET wrapped_material = \(bind: Data(v1)) WHERE key_id = \(bind: a.id) AND version = 2")
        let again = try await reopened.reopened()
        try await expectRefusal(again, mentioning: "altered or moved") {
            _ = try await again.service.sign(tenant: "node-1", alias: "a", message: [1], by: .local)
        }
    }

    @Test func swappedPublicKeyIsCaught() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let a = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "a", algorithm: .signing(.ed25519)), by: .local)
        let b = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "b", algorithm: .signing(.ed25519)), by: .local)
        let publicB = try await fixture.blob("SELECT public_key AS b FROM key_versions WHERE key_id = \(bind: b.id)")
        try await fixture.execute("UPDATE key_versions SET public_key = \(bind: Data(publicB)) WHERE key_id = \(bind: a.id)")
        let reopened = try await fixture.reopened()
        // The public key is covered by the version row's MAC.
        try await expectRefusal(reopened, mentioning: "does not match its MAC") {
            _ = try await reopened.service.sign(tenant: "node-1", alias: "a", message: [1], by: .local)
        }
    }

    @Test(arguments: [
        ("-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n", "malformed PEM"),
        ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n", "malformed"),
        ("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", "not a private key document"),
        ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n", "no matching"),
    ])
    func malformedPEM(pem: String, mentioning: String) async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        try await expectRefusal(fixture, mentioning: mentioning) {
            _ = try await fixture.service.importKey(KeySpec(tenant: "node-1", alias: "x", algorithm: .signing(.ed25519)),
                                                    privateKey: SecretBytes(Array(pem.utf8)), by: .local)
        }
    }

    @Test(arguments: [[UInt8]([0x30, 0x03, 0x02, 0x01]), [0x04, 0x20] + [UInt8](repeating: 7, count: 32), []])
    func malformedDER(der: [UInt8]) async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        try await expectRefusal(fixture, mentioning: "malformed DER") {
            _ = try await fixture.service.importKey(KeySpec(tenant: "node-1", alias: "x", algorithm: .signing(.ecdsaP256SHA256)),
                                                    privateKey: SecretBytes(der), by: .local)
        }
    }

    @Test func keyOfTheWrongTypeForTheScheme() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let pem = Array(Curve25519.Signing.PrivateKey().pemRepresentationForTest.utf8)
        try await expectRefusal(fixture, mentioning: "the key is Ed25519 but the scheme needs ecdsa-p256-sha256") {
            _ = try await fixture.service.importKey(KeySpec(tenant: "node-1", alias: "x", algorithm: .signing(.ecdsaP256SHA256)),
                                                    privateKey: SecretBytes(pem), by: .local)
        }
    }

    @Test func unknownScheme() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        try await expectRefusal(fixture, mentioning: "unknown scheme 'ed448'") {
            let algorithm = try KeyAlgorithm(identifier: "ed448")
            _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "x", algorithm: algorithm), by: .local)
        }
    }

    @Test func signingWithDisabledOrDestroyedKey() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "off", algorithm: .signing(.ed25519)), by: .local)
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "gone", algorithm: .signing(.ed25519)), by: .local)
        _ = try await fixture.service.disable(tenant: "node-1", alias: "off", by: .local)
        _ = try await fixture.service.destroy(tenant: "node-1", alias: "gone", by: .local)
        try await expectRefusal(fixture, mentioning: "is disabled") {
            _ = try await fixture.service.sign(tenant: "node-1", alias: "off", message: [1], by: .local)
        }
        try await expectRefusal(fixture, mentioning: "was destroyed") {
            _ = try await fixture.service.sign(tenant: "node-1", alias: "gone", message: [1], by: .local)
        }
        try await expectRefusal(fixture, mentioning: "was destroyed") {
            _ = try await fixture.service.rotate(tenant: "node-1", alias: "gone", by: .local)
        }
    }

    @Test func duplicateAlias() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        try await expectRefusal(fixture, mentioning: "already has a key with alias 'k'") {
            _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        }
        // In a bulk request the whole batch is refused, not the keys before the duplicate only.
        try await expectRefusal(fixture, mentioning: "already has a key with alias 'k'") {
            _ = try await fixture.service.generateKeys([
                KeySpec(tenant: "node-1", alias: "new-1", algorithm: .signing(.ed25519)),
                KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)),
            ], by: .local)
        }
    }

    @Test(arguments: [SignatureScheme.ed25519, .ecdsaP256SHA256, .ecdsaSecp256k1Keccak256, .mlDSA65])
    func signatureOfTheWrongLength(scheme: SignatureScheme) async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(scheme)), by: .local)
        let good = try await fixture.service.sign(tenant: "node-1", alias: "k", message: [1], format: scheme.isECDSA && scheme != .ecdsaSecp256k1Keccak256 ? .raw : nil, by: .local).signature
        try await expectRefusal(fixture, mentioning: "malformed signature") {
            _ = try await fixture.service.verify(tenant: "node-1", alias: "k", message: [1], signature: Array(good.dropLast()),
                                                 format: scheme.isECDSA && scheme != .ecdsaSecp256k1Keccak256 ? .raw : nil, by: .local)
        }
    }

    @Test func invalidNames() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        try await expectRefusal(fixture, mentioning: "invalid tenant") {
            _ = try await fixture.service.createTenant(try TenantID(validating: "Bad Tenant/.."), by: .local)
        }
        try await expectRefusal(fixture, mentioning: "invalid alias") {
            _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: try KeyAlias(validating: "../etc"), algorithm: .signing(.ed25519)), by: .local)
        }
        try await expectRefusal(fixture, mentioning: "does not exist") {
            _ = try await fixture.service.generateKey(KeySpec(tenant: "nobody", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        }
    }
}

import Crypto

extension Curve25519.Signing.PrivateKey {
    /// PKCS#8 PEM as OpenSSL writes it (RFC 8410), built by hand for the test.
    var pemRepresentationForTest: String {
        let prefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
        let der = prefix + Array(rawRepresentation)
        return "-----BEGIN PRIVATE KEY-----\n" + Data(der).base64EncodedString() + "\n-----END PRIVATE KEY-----\n"
    }
}

@Suite("Snapshot sensitivity")
struct SnapshotTests {
    /// The before/after comparison must notice a change in any column type.
    @Test func snapshotSeesEveryKindOfChange() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let key = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let base = try await fixture.snapshot()
        try await fixture.execute("UPDATE keys SET primary_version = 2 WHERE id = \(bind: key.id)")
        #expect(try await fixture.snapshot() != base)
        try await fixture.execute("UPDATE keys SET primary_version = 1, updated_at = updated_at + 1 WHERE id = \(bind: key.id)")
        #expect(try await fixture.snapshot() != base)
        try await fixture.execute("UPDATE keys SET updated_at = updated_at - 1 WHERE id = \(bind: key.id)")
        #expect(try await fixture.snapshot() == base)
        try await fixture.execute("UPDATE key_versions SET wrapped_material = zeroblob(8) WHERE key_id = \(bind: key.id)")
        #expect(try await fixture.snapshot() != base)
    }
}
