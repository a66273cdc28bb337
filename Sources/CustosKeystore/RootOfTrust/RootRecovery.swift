import CustosCrypto
import CustosStore
import Foundation

/// `custos root recover`: the root key comes back from the recovery escrow (a threshold of
/// SLIP-39 shares), without the old provider, and the keystore moves to a new root of trust
/// through the root-migration machinery: the new root's file is written as the pending
/// one, authorised by the recovered key, every wrapping key is re-wrapped, and only then
/// does the new file replace the old. The escrow is sealed again for the new root under
/// the same recovery secret, so the same shares keep working.
extension RootDirectory {
    public struct RecoveryResult: Sendable {
        public var oldRootKeyID: String
        public var newRoot: any RootOfTrust
        public var rewrapped: Int
        public var sharesUsed: Int
        /// True when this run finished a recovery that an earlier run had started.
        public var resumed: Bool
    }

    /// Recovers the root from `shares` and re-seals it with the root `createRoot` makes at the
    /// staged path it is given (`passphraseTarget`: a `root.seal` rather than a `root.json`).
    /// A run cut short leaves the old root file in place and a pending new root; running the
    /// recovery again with the same shares and target secrets completes it.
    public static func recover(directory: String, databasePath: String, shares: [SLIP39.Share], passphrase: SecretBytes,
                               secrets: RootSecrets, passphraseTarget: Bool,
                               createRoot: (String) async throws -> any RootOfTrust,
                               progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> RecoveryResult {
        try RecoveryEscrow.settle(directory: directory)
        guard let parameters = try RecoveryEscrow.load(directory: directory) else {
            throw KeystoreError.invalidArgument("no recovery escrow (\(RecoveryEscrow.fileName)) in \(directory): recovery shares were never made for this data directory")
        }
        let secret = try RecoveryEscrow.recoverSecret(shares, passphrase: passphrase, parameters: parameters)
        let recovered = try RecoveryEscrow.open(parameters, secret: secret)
        let store = try await SQLiteStore.open(path: databasePath)
        var service: KeyService?
        do {
            if let recorded = try await store.metadata(KeyService.rootKeyIDMetadata), recorded != Array(recovered.rootKeyID.utf8) {
                throw KeystoreError.unsealFailed("the recovery escrow holds root key \(recovered.rootKeyID), but the database is under root key \(String(decoding: recorded, as: UTF8.self)): the root was migrated after these shares were made, and they cannot recover it")
            }
            let oldPaths = [RootFile.fileName, PassphraseRoot.fileName].map { directory + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
            var result: RecoveryResult
            if let nextPath = pendingFile(directory: directory) {
                // A recovery (or migration) cut short: the recovered key authorised it, so it
                // stands in for the lost old root.
                let expected = try await MigrationAuthorization.verify(directory: directory, nextPath: nextPath, old: recovered)
                let newRoot = try await openFile(nextPath, secrets: secrets, newPassphrase: true, directory: directory)
                guard newRoot.rootKeyID == expected else {
                    throw KeystoreError.unsealFailed("the pending root names root key \(expected) but opens \(newRoot.rootKeyID); not resumed")
                }
                let final = nextPath.hasSuffix(pendingPassphraseFile) ? PassphraseRoot.fileName : RootFile.fileName
                let moved = try await KeyService.completeRootMigration(store: store, from: recovered, to: newRoot, progress: progress)
                try RecoveryEscrow.reseal(parameters, secret: secret, for: newRoot, directory: directory)
                try switchFiles(PendingMigration(old: recovered, oldPaths: oldPaths, nextPath: nextPath, finalPath: directory + "/" + final))
                try RecoveryEscrow.settle(directory: directory)
                service = try await KeyService(store: store, root: newRoot)
                result = RecoveryResult(oldRootKeyID: recovered.rootKeyID, newRoot: newRoot, rewrapped: moved.rewrapped,
                                        sharesUsed: shares.count, resumed: true)
            } else {
                let opened = try await KeyService(store: store, root: recovered)
                service = opened
                let stagedPath = stagedPath(directory: directory, passphrase: passphraseTarget)
                if FileManager.default.fileExists(atPath: stagedPath) { try AtomicFile.remove(stagedPath) }
                let newRoot = try await createRoot(stagedPath)
                try RecoveryEscrow.reseal(parameters, secret: secret, for: newRoot, directory: directory)
                let moved = try await migrate(opened, directory: directory, to: newRoot, stagedPath: stagedPath, by: .local, progress: progress)
                try RecoveryEscrow.settle(directory: directory)
                result = RecoveryResult(oldRootKeyID: recovered.rootKeyID, newRoot: newRoot, rewrapped: moved.rewrapped,
                                        sharesUsed: shares.count, resumed: false)
            }
            if let service {
                try await service.audit.recordNow([service.event(.rootRecover, by: .local, tenant: nil, details: [
                    "provider": result.newRoot.provider, "from": result.oldRootKeyID, "to": result.newRoot.rootKeyID,
                    "shares_used": String(result.sharesUsed), "rewrapped": String(result.rewrapped), "step": result.resumed ? "resumed" : "completed",
                ])])
                try await service.audit.checkpoint()
                try await service.close()
            } else {
                try await store.close()
            }
            return result
        } catch {
            if let service {
                try? await service.audit.recordNow([service.event(.rootRecover, by: .local, tenant: nil, outcome: .failure, details: [
                    "from": recovered.rootKeyID, "shares_used": String(shares.count), "error": (error as? KeystoreError)?.code ?? "internal",
                ])])
                try? await service.close()
            } else {
                try? await store.close()
            }
            throw error
        }
    }
}

extension RecoveryEscrow {
    /// Writes the escrow of `newRoot` under the same recovery secret as the pending escrow;
    /// `settle` puts it in place once the directory's root is `newRoot`.
    static func reseal(_ parameters: Parameters, secret: SecretBytes, for newRoot: any RootOfTrust, directory: String) throws {
        let sealed = try seal(rootKey: try escrowableKey(of: newRoot), rootKeyID: newRoot.rootKeyID, secret: secret, shares: parameters.shares,
                              threshold: parameters.threshold, identifier: parameters.identifier, iterationExponent: parameters.iterationExponent,
                              created: ISO8601DateFormatter().date(from: parameters.created) ?? Date())
        try write(sealed, to: directory + "/" + pendingFileName)
    }

    /// Finishes or drops a pending escrow: it replaces `root.recovery` once the directory's
    /// root file names its root key (the switch is done), and is dropped when no migration
    /// is pending and the root is another (the run stopped before it began).
    public static func settle(directory: String) throws {
        let pendingPath = directory + "/" + pendingFileName
        guard FileManager.default.fileExists(atPath: pendingPath) else { return }
        guard RootDirectory.pendingFile(directory: directory) == nil else { return }
        let pending = try load(directory: directory, pending: true)
        if let pending, currentRootKeyID(directory: directory) == pending.rootKeyID {
            try AtomicFile.rename(pendingPath, to: path(directory: directory))
        } else {
            try AtomicFile.remove(pendingPath)
        }
    }

    /// The root key id the directory's root file records, read without unsealing anything.
    public static func currentRootKeyID(directory: String) -> String? {
        if let file = try? RootFile.load(directory + "/" + RootFile.fileName) { return file.rootKeyID }
        guard let data = FileManager.default.contents(atPath: directory + "/" + PassphraseRoot.fileName),
              let file = try? JSONDecoder().decode(PassphraseRoot.SealedFile.self, from: data) else { return nil }
        return file.rootKeyID
    }
}
