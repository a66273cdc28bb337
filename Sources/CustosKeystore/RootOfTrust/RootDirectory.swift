import CustosCrypto
import CustosStore
import Foundation

/// Where the secrets of the root-of-trust providers come from. Each is asked for only
/// when the provider in use needs it (a passphrase root never asks for a PIN).
public struct RootSecrets: Sendable {
    public var passphrase: @Sendable () throws -> SecretBytes
    /// The passphrase of a new passphrase root during a migration to one.
    public var newPassphrase: @Sendable () throws -> SecretBytes
    public var pkcs11PIN: @Sendable () throws -> SecretBytes
    /// TPM owner-hierarchy and sealed-object authorizations (empty by default).
    public var tpmOwnerAuth: @Sendable () throws -> SecretBytes
    public var tpmObjectAuth: @Sendable () throws -> SecretBytes
    public var awsCredentials: @Sendable () throws -> AWSCredentials
    /// Overrides of the recorded provider address: CUSTOS_PKCS11_MODULE,
    /// CUSTOS_KMS_ENDPOINT, CUSTOS_TPM_TCTI (a moved module, endpoint or TPM).
    public var overrides: [String: String]

    public init(passphrase: @escaping @Sendable () throws -> SecretBytes,
                newPassphrase: @escaping @Sendable () throws -> SecretBytes,
                pkcs11PIN: @escaping @Sendable () throws -> SecretBytes,
                tpmOwnerAuth: @escaping @Sendable () throws -> SecretBytes = { SecretBytes([]) },
                tpmObjectAuth: @escaping @Sendable () throws -> SecretBytes = { SecretBytes([]) },
                awsCredentials: @escaping @Sendable () throws -> AWSCredentials = { try AWSCredentials.fromEnvironment() },
                overrides: [String: String] = [:]) {
        self.passphrase = passphrase
        self.newPassphrase = newPassphrase
        self.pkcs11PIN = pkcs11PIN
        self.tpmOwnerAuth = tpmOwnerAuth
        self.tpmObjectAuth = tpmObjectAuth
        self.awsCredentials = awsCredentials
        self.overrides = overrides
    }
}

/// The root of trust of a data directory: `root.seal` (passphrase) or `root.json`
/// (PKCS#11, KMS, TPM), never both, and during a root migration also `root.next.json`
/// or `root.next.seal` with the old root's authorisation `root.next.auth`. Opening it
/// is the start-up sequence every front end (CLI, server) shares: unseal through the
/// provider, complete a migration cut short (when asked to), bind the store.
public enum RootDirectory {
    public static let pendingProviderFile = "root.next.json"
    public static let pendingPassphraseFile = "root.next.seal"

    /// A root migration cut short: the new root's file is written, the switch is not done.
    public struct PendingMigration: Sendable {
        public var old: (any RootOfTrust)?
        public var oldPaths: [String]
        public var nextPath: String
        public var finalPath: String

        public init(old: (any RootOfTrust)?, oldPaths: [String], nextPath: String, finalPath: String) {
            self.old = old
            self.oldPaths = oldPaths
            self.nextPath = nextPath
            self.finalPath = finalPath
        }
    }

    /// The provider's sealer for a `root.json`. A PKCS#11 module must be allowed
    /// (`PKCS11Modules`) and lie outside `directory`; a TPM TCTI must be one of
    /// `TPMConfiguration.allowedTCTIs`: the file is data, and loads no code of its own.
    public static func sealer(_ file: RootFile, secrets: RootSecrets, directory: String? = nil) throws -> any RootSealer {
        func override(_ name: String) -> String? { secrets.overrides[name].flatMap { $0.isEmpty ? nil : $0 } }
        switch file.provider {
        case "pkcs11":
            var configuration = file.pkcs11!
            if let module = override("CUSTOS_PKCS11_MODULE") { configuration.module = module }
            if let directory { try PKCS11Modules.checkOutside(configuration.module, directory: directory) }
            return try PKCS11Sealer(configuration: configuration, pin: try secrets.pkcs11PIN())
        case "kms":
            var configuration = file.kms!
            if let endpoint = override("CUSTOS_KMS_ENDPOINT") { configuration.endpoint = endpoint }
            return KMSSealer(client: try KMSClient(configuration: configuration, credentials: try secrets.awsCredentials()))
        case "tpm":
            var configuration = file.tpm!
            if let tcti = override("CUSTOS_TPM_TCTI") { configuration.tcti = tcti }
            return try TPMSealer(configuration: configuration, ownerAuth: try secrets.tpmOwnerAuth(), objectAuth: try secrets.tpmObjectAuth())
        default:
            throw KeystoreError.unsealFailed("unknown root provider '\(file.provider.prefix(40))'")
        }
    }

    /// The provider named in the directory, without unsealing anything ("passphrase",
    /// "pkcs11", "kms", "tpm"), or nil when the directory holds no root of trust.
    public static func provider(directory: String) -> String? {
        let providerPath = directory + "/" + RootFile.fileName
        if FileManager.default.fileExists(atPath: providerPath) { return (try? RootFile.load(providerPath))?.provider ?? "unknown" }
        return FileManager.default.fileExists(atPath: directory + "/" + PassphraseRoot.fileName) ? "passphrase" : nil
    }

    /// The pending migration's file (`root.next.json` or `root.next.seal`), if any.
    public static func pendingFile(directory: String) -> String? {
        [pendingProviderFile, pendingPassphraseFile].map { directory + "/" + $0 }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Unseals the directory's root of trust, whichever provider holds it.
    ///
    /// A pending migration is resumed only when `resume` is set (the operator's
    /// `root migrate --resume`), and only once the current root has verified its
    /// authorisation: the new root's file is not even read before that. Without
    /// `resume`, a pending migration is an error that says how to finish it.
    public static func open(directory: String, secrets: RootSecrets, resume: Bool = false) async throws -> (root: any RootOfTrust, pending: PendingMigration?) {
        let providerPath = directory + "/" + RootFile.fileName
        let passphrasePath = directory + "/" + PassphraseRoot.fileName
        let oldPaths = [providerPath, passphrasePath].filter { FileManager.default.fileExists(atPath: $0) }
        guard oldPaths.count < 2 else {
            throw KeystoreError.unsealFailed("the data directory holds both \(RootFile.fileName) and \(PassphraseRoot.fileName); one of them was not put there by Custos. Keep the one your root of trust is in and remove the other (see docs/security.md)")
        }
        if let nextPath = pendingFile(directory: directory) {
            let next = (nextPath as NSString).lastPathComponent
            guard resume else {
                throw KeystoreError.unsealFailed("a root migration is pending (\(next)): finish it with 'custos root migrate --resume', which first checks that the current root of trust authorised it")
            }
            var old: (any RootOfTrust)?
            var expected: String?
            if let oldPath = oldPaths.first {
                let opened = try await openFile(oldPath, secrets: secrets, newPassphrase: false, directory: directory)
                expected = try await MigrationAuthorization.verify(directory: directory, nextPath: nextPath, old: opened)
                old = opened
            }
            let newRoot: any RootOfTrust
            do {
                newRoot = try await openFile(nextPath, secrets: secrets, newPassphrase: true, directory: directory)
            } catch let error as KeystoreError {
                throw KeystoreError.unsealFailed("a root migration is pending and its new root does not open: \(error)")
            }
            if let expected, newRoot.rootKeyID != expected {
                throw KeystoreError.unsealFailed("the pending root migration names root key \(expected) but \(next) opens \(newRoot.rootKeyID); not resumed")
            }
            let final = next == pendingPassphraseFile ? PassphraseRoot.fileName : RootFile.fileName
            return (newRoot, PendingMigration(old: old, oldPaths: oldPaths, nextPath: nextPath, finalPath: directory + "/" + final))
        }
        guard let path = oldPaths.first else { throw KeystoreError.notInitialized(directory) }
        return (try await openFile(path, secrets: secrets, newPassphrase: false, directory: directory), nil)
    }

    static func openFile(_ path: String, secrets: RootSecrets, newPassphrase: Bool, directory: String) async throws -> any RootOfTrust {
        if path.hasSuffix(".seal") {
            return try PassphraseRoot.unseal(at: path, passphrase: newPassphrase ? try secrets.newPassphrase() : try secrets.passphrase())
        }
        let file = try RootFile.load(path)
        return try await SealedRoot.unseal(sealer: try sealer(file, secrets: secrets, directory: directory),
                                           sealedRootKey: file.sealedBytes, rootKeyID: file.rootKeyID)
    }

    /// The whole start-up: unseal the root, open the store, complete a pending root
    /// migration (with `resume` only), and bind the store to the root in a `KeyService`.
    /// Resuming is audited, as `root.migrate` with `step` resumed (or refused).
    public static func openKeyService(directory: String, databasePath: String, secrets: RootSecrets, resume: Bool = false,
                                      makeService: (any Store, any RootOfTrust) async throws -> KeyService = { try await KeyService(store: $0, root: $1) })
        async throws -> KeyService {
        let root: any RootOfTrust
        let pending: PendingMigration?
        do {
            (root, pending) = try await open(directory: directory, secrets: secrets, resume: resume)
        } catch let error as KeystoreError where resume {
            await recordRefusedResume(directory: directory, databasePath: databasePath, secrets: secrets, error: error)
            throw error
        }
        // Only once the root has opened: a wrong passphrase migrates nothing.
        let upgrade = try await StoreUpgrade.backUpIfMigrating(directory: directory, databasePath: databasePath)
        let store = try await SQLiteStore.open(path: databasePath)
        do {
            var rewrapped: Int?
            if let pending {
                rewrapped = try await complete(pending, newRoot: root, store: store).rewrapped
            }
            let service = try await makeService(store, root)
            if let upgrade { try await service.recordStoreUpgrade(upgrade) }
            if let pending {
                try await service.recordRootMigration(step: "resumed", from: pending.old?.rootKeyID, to: root, rewrapped: rewrapped, by: .local)
            }
            return service
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// A refused resume leaves a record under the current root, when that root opens.
    private static func recordRefusedResume(directory: String, databasePath: String, secrets: RootSecrets, error: KeystoreError) async {
        guard pendingFile(directory: directory) != nil,
              let path = [RootFile.fileName, PassphraseRoot.fileName].map({ directory + "/" + $0 }).first(where: { FileManager.default.fileExists(atPath: $0) }),
              let old = try? await openFile(path, secrets: secrets, newPassphrase: false, directory: directory),
              let store = try? await SQLiteStore.open(path: databasePath) else { return }
        if let service = try? await KeyService(store: store, root: old) {
            try? await service.audit.recordNow([service.event(.rootMigrate, by: .local, tenant: nil, outcome: .failure,
                                                              details: ["step": "refused", "from": old.rootKeyID, "error": error.code])])
        }
        try? await store.close()
    }

    /// Finishes a pending migration on an open store: re-wraps what is left, then makes
    /// the new root file the only one. Without the old root (removed just before the
    /// last rename), the database must already name the new root.
    public static func complete(_ pending: PendingMigration, newRoot: any RootOfTrust, store: any Store) async throws -> KeyService.RootMigrationResult {
        let result = try await KeyService.completeRootMigration(store: store, from: pending.old, to: newRoot)
        try switchFiles(pending)
        return result
    }

    /// The last step of a migration: the old root file is removed first, then the new
    /// one renamed into place, then its authorisation removed. A crash in between leaves
    /// only the pending file, which `root migrate --resume` completes (every row is
    /// already under the new root by then).
    public static func switchFiles(_ pending: PendingMigration) throws {
        for path in pending.oldPaths where path != pending.finalPath {
            try AtomicFile.remove(path)
        }
        try AtomicFile.rename(pending.nextPath, to: pending.finalPath)
        let authorization = MigrationAuthorization.path(directory: (pending.nextPath as NSString).deletingLastPathComponent)
        if FileManager.default.fileExists(atPath: authorization) { try AtomicFile.remove(authorization) }
    }

    /// Where a new root's file is written before its migration is authorised.
    public static func stagedPath(directory: String, passphrase: Bool) -> String {
        directory + "/" + (passphrase ? pendingPassphraseFile : pendingProviderFile) + ".staged"
    }

    /// Moves the service to `newRoot`, whose file has been written at `stagedPath`: the
    /// current root authorises the move, the file becomes the pending one, every wrapping
    /// key is re-wrapped online, then the files switch. Each step is audited as `root.migrate`.
    public static func migrate(_ service: KeyService, directory: String, to newRoot: any RootOfTrust, stagedPath: String, by principal: Principal,
                               progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> KeyService.RootMigrationResult {
        let passphrase = stagedPath.hasSuffix(".seal.staged")
        let nextPath = directory + "/" + (passphrase ? pendingPassphraseFile : pendingProviderFile)
        let oldPaths = [RootFile.fileName, PassphraseRoot.fileName].map { directory + "/" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0) }
        let finalPath = directory + "/" + (passphrase ? PassphraseRoot.fileName : RootFile.fileName)
        let old = service.root
        do {
            try await MigrationAuthorization.write(directory: directory, next: (nextPath as NSString).lastPathComponent, contentsPath: stagedPath,
                                                   old: old, newRootKeyID: newRoot.rootKeyID)
            try AtomicFile.rename(stagedPath, to: nextPath)
            try await service.recordRootMigration(step: "started", from: old.rootKeyID, to: newRoot, rewrapped: nil, by: principal)
            let result = try await service.migrateRoot(to: newRoot, progress: progress)
            try switchFiles(PendingMigration(old: old, oldPaths: oldPaths, nextPath: nextPath, finalPath: finalPath))
            try await service.recordRootMigration(step: "completed", from: old.rootKeyID, to: newRoot, rewrapped: result.rewrapped, by: principal)
            return result
        } catch {
            let code = (error as? KeystoreError)?.code ?? "internal"
            try? await service.audit.recordNow([service.event(.rootMigrate, by: principal, tenant: nil, outcome: .failure,
                                                              details: ["step": "failed", "from": old.rootKeyID, "to": newRoot.rootKeyID, "error": code])])
            throw error
        }
    }
}
