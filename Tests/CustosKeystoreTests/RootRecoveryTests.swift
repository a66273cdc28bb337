import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// Recovery shares: the escrow opens only with a threshold of the right shares, and a
/// recovery moves the keystore to a new root without the old one, atomically.
@Suite("Root recovery from SLIP-39 shares")
struct RootRecoveryTests {
    static let newPassphrase = "a passphrase chosen after the recovery"

    static func secrets(newPassphrase: String = newPassphrase) -> RootSecrets {
        RootSecrets(passphrase: { throw KeystoreError.invalidArgument("the old passphrase is lost") },
                    newPassphrase: { SecretBytes(Array(newPassphrase.utf8)) },
                    pkcs11PIN: { throw KeystoreError.invalidArgument("no PIN") })
    }

    /// A data directory with two keys and recovery shares (2 of 3), closed, its passphrase "forgotten".
    static func directoryWithShares(passphrase: String = "") async throws -> (Fixture, [SLIP39.Share], signature: [UInt8]) {
        let fixture = try await Fixture.make()
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "ed", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "p256", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        let made = try await service.createRecoveryEscrow(directory: fixture.directory, shares: 3, threshold: 2,
                                                          passphrase: SecretBytes(Array(passphrase.utf8)), by: .local)
        #expect(made.shares.count == 3 && made.parameters.rootKeyID == service.root.rootKeyID)
        let signature = try await service.sign(tenant: "node-1", alias: "ed", message: Array("before".utf8), by: .local)
        try await service.close()
        return (fixture, made.shares, signature.signature)
    }

    static func recover(_ fixture: Fixture, _ shares: [SLIP39.Share], passphrase: String = "", newPassphrase: String = newPassphrase,
                        wrapping: (@Sendable (PassphraseRoot) -> any RootOfTrust)? = nil) async throws -> RootDirectory.RecoveryResult {
        try await RootDirectory.recover(directory: fixture.directory, databasePath: fixture.databasePath, shares: shares,
                                        passphrase: SecretBytes(Array(passphrase.utf8)), secrets: secrets(newPassphrase: newPassphrase),
                                        passphraseTarget: true) { staged in
            let root = try PassphraseRoot.create(at: staged, passphrase: SecretBytes(Array(newPassphrase.utf8)), cost: .init(logN: 10))
            return wrapping?(root) ?? root
        }
    }

    static func openAndCheck(_ fixture: Fixture, passphrase: String = newPassphrase) async throws -> KeyService {
        let service = try await RootDirectory.openKeyService(directory: fixture.directory, databasePath: fixture.databasePath,
                                                             secrets: secrets(newPassphrase: passphrase).with(passphrase: passphrase))
        let check = try await service.checkAllKeys(by: .local)
        #expect(check.checked == 2 && check.failures.isEmpty)
        return service
    }

    @Test func twoOfThreeSharesRecoverEveryKeyUnderANewPassphraseAndStayValid() async throws {
        let (fixture, shares, signature) = try await Self.directoryWithShares()
        defer { Task { await fixture.cleanUp() } }
        let oldRootID = try #require(RecoveryEscrow.currentRootKeyID(directory: fixture.directory))
        let result = try await Self.recover(fixture, [shares[2], shares[0]])
        #expect(result.oldRootKeyID == oldRootID && result.newRoot.rootKeyID != oldRootID && result.rewrapped == 2 && !result.resumed)
        #expect(RecoveryEscrow.currentRootKeyID(directory: fixture.directory) == result.newRoot.rootKeyID)
        #expect(try RecoveryEscrow.load(directory: fixture.directory)?.rootKeyID == result.newRoot.rootKeyID)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/" + RecoveryEscrow.pendingFileName))
        let service = try await Self.openAndCheck(fixture)
        // Ed25519 is deterministic: the same key signs the same message into the same bytes.
        #expect(try await service.sign(tenant: "node-1", alias: "ed", message: Array("before".utf8), by: .local).signature == signature)
        let records = try await service.store.auditRecords(AuditQuery(limit: 1000))
        let create = try #require(records.first { $0.operation == "root.recovery.create" })
        #expect(create.detailValues["shares"] == "3" && create.detailValues["threshold"] == "2" && create.detailValues["root_key_id"] == oldRootID)
        let recover = try #require(records.last { $0.operation == "root.recover" })
        #expect(recover.detailValues["from"] == oldRootID && recover.detailValues["to"] == result.newRoot.rootKeyID)
        #expect(recover.detailValues["shares_used"] == "2" && recover.detailValues["provider"] == "passphrase")
        // No word of any share in any record.
        let everything = records.map { "\($0.detailValues)" }.joined()
        for share in shares {
            let words = String(decoding: share.mnemonic().copyBytes(), as: UTF8.self).split(separator: " ")
            #expect(!everything.contains(words[4...8].joined(separator: " ")))
        }
        try await service.close()
        // The same shares recover the new root (another pair of them, to another passphrase).
        let again = try await Self.recover(fixture, [shares[1], shares[2]], newPassphrase: "yet another passphrase for it")
        #expect(again.oldRootKeyID == result.newRoot.rootKeyID)
        try await Self.openAndCheck(fixture, passphrase: "yet another passphrase for it").close()
    }

    @Test func badSharesAreRefusedAndChangeNothing() async throws {
        let (fixture, shares, _) = try await Self.directoryWithShares(passphrase: "custodians' phrase")
        defer { Task { await fixture.cleanUp() } }
        let before = try await fixture.snapshot()
        let rootBefore = try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath))
        let escrowBefore = try Data(contentsOf: URL(fileURLWithPath: RecoveryEscrow.path(directory: fixture.directory)))
        func refused(_ shares: [SLIP39.Share], passphrase: String = "custodians' phrase", _ reason: String) async {
            await #expect { _ = try await Self.recover(fixture, shares, passphrase: passphrase) } throws: { error in
                "\(error)".contains(reason)
            }
        }
        await refused([shares[1]], "1 given, 2 needed (1 more)")
        await refused([], "no recovery shares given: 2 are needed")
        await refused([shares[0]], passphrase: "not the phrase", "1 more")
        await refused([shares[0], shares[1]], passphrase: "not the phrase", "recovery passphrase is wrong")
        // Shares of another set (another data directory's, or an escrow replaced since).
        let other = try SLIP39.split(masterSecret: SecretBytes(randomCount: 32), groups: [(2, 3)], iterationExponent: 0)[0]
        await refused([other[0], other[1]], "belongs to recovery set")
        // Two sets with the escrow's identifier but different secrets: the digest refuses them.
        let sameID = try SLIP39.split(masterSecret: SecretBytes(randomCount: 32), groups: [(2, 3)], iterationExponent: 1,
                                      identifier: shares[0].identifier)[0]
        await refused([shares[0], sameID[1]], "the shares do not combine")
        // An escrow file edited in clear opens nothing.
        let escrowPath = RecoveryEscrow.path(directory: fixture.directory)
        let edited = String(decoding: escrowBefore, as: UTF8.self).replacingOccurrences(of: "\"shares\" : 3", with: "\"shares\" : 4")
        #expect(edited != String(decoding: escrowBefore, as: UTF8.self))
        try Data(edited.utf8).write(to: URL(fileURLWithPath: escrowPath))
        await refused([shares[0], shares[1]], "does not open the escrow")
        try FileManager.default.removeItem(atPath: escrowPath)
        await refused([shares[0], shares[1]], "no recovery escrow")
        try escrowBefore.write(to: URL(fileURLWithPath: escrowPath))
        #expect(try await fixture.snapshot() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath)) == rootBefore)
        #expect(RootDirectory.pendingFile(directory: fixture.directory) == nil)
        // And then the right shares do recover.
        _ = try await Self.recover(fixture, [shares[0], shares[1]], passphrase: "custodians' phrase")
        try await Self.openAndCheck(fixture).close()
    }

    /// A root that fails after `limit` wraps: the recovery stops midway through re-wrapping.
    final class FailingRoot: RootOfTrust, @unchecked Sendable {
        let inner: PassphraseRoot
        let limit: Int
        var wraps = 0
        init(_ inner: PassphraseRoot, failingAfter limit: Int) {
            self.inner = inner
            self.limit = limit
        }
        var provider: String { inner.provider }
        var rootKeyID: String { inner.rootKeyID }
        func wrap(_ key: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
            wraps += 1
            if wraps > limit { throw KeystoreError.unsealFailed("interrupted") }
            return try await inner.wrap(key, context: context)
        }
        func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SecretBytes { try await inner.unwrap(wrapped, context: context) }
    }

    @Test func aRecoveryCutShortLeavesTheRootFileAndCompletesWhenRunAgain() async throws {
        let (fixture, shares, signature) = try await Self.directoryWithShares()
        defer { Task { await fixture.cleanUp() } }
        let rootBefore = try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath))
        let escrowBefore = try Data(contentsOf: URL(fileURLWithPath: RecoveryEscrow.path(directory: fixture.directory)))
        await #expect(throws: KeystoreError.self) {
            _ = try await Self.recover(fixture, [shares[0], shares[1]]) { FailingRoot($0, failingAfter: 1) }
        }
        // The old root file and the escrow are untouched; the new root waits as the pending one.
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath)) == rootBefore)
        #expect(try Data(contentsOf: URL(fileURLWithPath: RecoveryEscrow.path(directory: fixture.directory))) == escrowBefore)
        #expect(RootDirectory.pendingFile(directory: fixture.directory) != nil)
        // Nothing opens the directory as if nothing happened...
        await #expect { _ = try await RootDirectory.open(directory: fixture.directory, secrets: Self.secrets()) } throws: { error in
            "\(error)".contains("root migrate --resume")
        }
        // ...and running the recovery again completes it, with the same shares.
        let result = try await Self.recover(fixture, [shares[1], shares[2]])
        #expect(result.resumed && result.newRoot.rootKeyID != result.oldRootKeyID)
        #expect(RootDirectory.pendingFile(directory: fixture.directory) == nil)
        #expect(try RecoveryEscrow.load(directory: fixture.directory)?.rootKeyID == result.newRoot.rootKeyID)
        let service = try await Self.openAndCheck(fixture)
        // Ed25519 is deterministic: the same key signs the same message into the same bytes.
        #expect(try await service.sign(tenant: "node-1", alias: "ed", message: Array("before".utf8), by: .local).signature == signature)
        let steps = try await service.store.auditRecords(AuditQuery(limit: 1000)).filter { $0.operation == "root.recover" }
        #expect(steps.map(\.outcome) == ["failure", "success"])
        #expect(steps.last?.detailValues["step"] == "resumed")
        try await service.close()
    }

    @Test func aRecoveryCutShortCanAlsoBeFinishedWithTheOldPassphrase() async throws {
        let (fixture, shares, _) = try await Self.directoryWithShares()
        defer { Task { await fixture.cleanUp() } }
        await #expect(throws: KeystoreError.self) {
            _ = try await Self.recover(fixture, [shares[0], shares[1]]) { FailingRoot($0, failingAfter: 1) }
        }
        #expect(RootDirectory.pendingFile(directory: fixture.directory) != nil)
        // The old root still works: it authorised the pending root, so 'root migrate --resume' completes.
        let service = try await RootDirectory.openKeyService(directory: fixture.directory, databasePath: fixture.databasePath,
                                                             secrets: Self.secrets().with(passphrase: Fixture.passphrase), resume: true)
        #expect(try await service.checkAllKeys(by: .local).failures.isEmpty)
        try await service.close()
        // The escrow of the new root takes its place.
        try RecoveryEscrow.settle(directory: fixture.directory)
        #expect(try RecoveryEscrow.load(directory: fixture.directory)?.rootKeyID == RecoveryEscrow.currentRootKeyID(directory: fixture.directory))
    }

    @Test func sharesOfARootMigratedSinceAreRefusedClearly() async throws {
        let (fixture, shares, _) = try await Self.directoryWithShares()
        defer { Task { await fixture.cleanUp() } }
        let service = try await RootDirectory.openKeyService(directory: fixture.directory, databasePath: fixture.databasePath,
                                                             secrets: Self.secrets().with(passphrase: Fixture.passphrase))
        let staged = RootDirectory.stagedPath(directory: fixture.directory, passphrase: true)
        let newRoot = try PassphraseRoot.create(at: staged, passphrase: SecretBytes(Array("migrated passphrase".utf8)), cost: .init(logN: 10))
        _ = try await RootDirectory.migrate(service, directory: fixture.directory, to: newRoot, stagedPath: staged, by: .local)
        try await service.close()
        await #expect { _ = try await Self.recover(fixture, [shares[0], shares[1]]) } throws: { error in
            "\(error)".contains("the root was migrated after these shares were made")
        }
    }

    @Test func shareCountsAreChecked() {
        #expect(throws: KeystoreError.self) { try RecoveryEscrow.checkCounts(shares: 3, threshold: 1) }
        #expect(throws: KeystoreError.self) { try RecoveryEscrow.checkCounts(shares: 17, threshold: 2) }
        #expect(throws: KeystoreError.self) { try RecoveryEscrow.checkCounts(shares: 3, threshold: 4) }
        #expect(throws: KeystoreError.self) { try RecoveryEscrow.checkCounts(shares: 0, threshold: 0) }
        #expect(throws: Never.self) { try RecoveryEscrow.checkCounts(shares: 1, threshold: 1) }
        #expect(throws: Never.self) { try RecoveryEscrow.checkCounts(shares: 16, threshold: 16) }
    }
}

extension RootRecoveryTests.FailingRoot: RootKeyHolder {
    func heldRootKey() throws -> AEADKey { inner.rootKey }
}

extension RootSecrets {
    func with(passphrase: String) -> RootSecrets {
        var copy = self
        copy.passphrase = { SecretBytes(Array(passphrase.utf8)) }
        return copy
    }
}
