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
/// (PKCS#11, KMS, TPM), and during a root migration also `root.next.json` or
/// `root.next.seal`. Opening it is the start-up sequence every front end (CLI, server)
/// shares: unseal through the provider, complete a migration cut short, bind the store.
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

    /// The provider's sealer for a `root.json`.
    public static func sealer(_ file: RootFile, secrets: RootSecrets) throws -> any RootSealer {
        func override(_ name: String) -> String? { secrets.overrides[name].flatMap { $0.isEmpty ? nil : $0 } }
        switch file.provider {
        case "pkcs11":
            var configuration = file.pkcs11!
            if let module = override("CUSTOS_PKCS11_MODULE") { configuration.module = module }
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

    /// Unseals the directory's root of trust, whichever provider holds it. With a
    /// migration pending, the new root is returned (it must open) with the old one.
    public static func open(directory: String, secrets: RootSecrets) async throws -> (root: any RootOfTrust, pending: PendingMigration?) {
        let providerPath = directory + "/" + RootFile.fileName
        let passphrasePath = directory + "/" + PassphraseRoot.fileName
        for (next, final) in [(pendingProviderFile, RootFile.fileName), (pendingPassphraseFile, PassphraseRoot.fileName)] {
            let nextPath = directory + "/" + next
            guard FileManager.default.fileExists(atPath: nextPath) else { continue }
            let newRoot: any RootOfTrust
            do {
                newRoot = try await openFile(nextPath, secrets: secrets, newPassphrase: true)
            } catch let error as KeystoreError {
                throw KeystoreError.unsealFailed("a root migration is pending and its new root does not open: \(error)")
            }
            let oldPaths = [providerPath, passphrasePath].filter { FileManager.default.fileExists(atPath: $0) }
            var old: (any RootOfTrust)?
            if let oldPath = oldPaths.first {
                old = try await openFile(oldPath, secrets: secrets, newPassphrase: false)
            }
            return (newRoot, PendingMigration(old: old, oldPaths: oldPaths, nextPath: nextPath, finalPath: directory + "/" + final))
        }
        if FileManager.default.fileExists(atPath: providerPath) {
            return (try await openFile(providerPath, secrets: secrets, newPassphrase: false), nil)
        }
        guard FileManager.default.fileExists(atPath: passphrasePath) else {
            throw KeystoreError.notInitialized(directory)
        }
        return (try await openFile(passphrasePath, secrets: secrets, newPassphrase: false), nil)
    }

    private static func openFile(_ path: String, secrets: RootSecrets, newPassphrase: Bool) async throws -> any RootOfTrust {
        if path.hasSuffix(".seal") {
            return try PassphraseRoot.unseal(at: path, passphrase: newPassphrase ? try secrets.newPassphrase() : try secrets.passphrase())
        }
        let file = try RootFile.load(path)
        return try await SealedRoot.unseal(sealer: try sealer(file, secrets: secrets), sealedRootKey: file.sealedBytes, rootKeyID: file.rootKeyID)
    }

    /// The whole start-up: unseal the root, open the store, complete a pending root
    /// migration, and bind the store to the root in a `KeyService`.
    public static func openKeyService(directory: String, databasePath: String, secrets: RootSecrets,
                                      makeService: (any Store, any RootOfTrust) async throws -> KeyService = { try await KeyService(store: $0, root: $1) })
        async throws -> KeyService {
        let (root, pending) = try await open(directory: directory, secrets: secrets)
        let store = try await SQLiteStore.open(path: databasePath)
        do {
            if let pending {
                try await complete(pending, newRoot: root, store: store)
            }
            return try await makeService(store, root)
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Finishes a pending migration on an open store: re-wraps what is left, then makes
    /// the new root file the only one.
    public static func complete(_ pending: PendingMigration, newRoot: any RootOfTrust, store: any Store) async throws {
        _ = try await KeyService.completeRootMigration(store: store, from: pending.old, to: newRoot)
        try switchFiles(pending)
    }

    /// The last step of a migration: the old root file is removed first, then the new
    /// one renamed into place. A crash in between leaves only the pending file, which
    /// the next start completes (every row is already under the new root by then).
    public static func switchFiles(_ pending: PendingMigration) throws {
        for path in pending.oldPaths where path != pending.finalPath {
            try AtomicFile.remove(path)
        }
        try AtomicFile.rename(pending.nextPath, to: pending.finalPath)
    }

    /// Moves the service to `newRoot`, whose file has been written at `nextPath`:
    /// re-wraps every wrapping key online, then switches the files.
    public static func migrate(_ service: KeyService, directory: String, to newRoot: any RootOfTrust, nextPath: String,
                               progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> KeyService.RootMigrationResult {
        let oldPaths = [RootFile.fileName, PassphraseRoot.fileName].map { directory + "/" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0) }
        let finalPath = directory + "/" + (nextPath.hasSuffix(".seal") ? PassphraseRoot.fileName : RootFile.fileName)
        let old = service.root
        let result = try await service.migrateRoot(to: newRoot, progress: progress)
        try switchFiles(PendingMigration(old: old, oldPaths: oldPaths, nextPath: nextPath, finalPath: finalPath))
        return result
    }
}
