import ArgumentParser
import CustosClient
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Logging
import Synchronization

/// `custos`: key custody and signing for ledger nodes.
public struct CustosCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "custos",
        abstract: "Key custody and signing for the nodes of permissioned ledgers.",
        version: CustosVersion.summary,
        subcommands: [InitCommand.self, RootCommand.self, HSMCommand.self, TenantCommand.self, KeyCommand.self, SignCommand.self,
                      VerifyCommand.self, AggregateCommand.self, EncryptCommand.self, DecryptCommand.self, HMACCommand.self,
                      ServeCommand.self, TokenCommand.self, AuditCommand.self, TLSCommand.self, ClusterCommand.self, BackupCommand.self,
                      EthereumCommand.self, VersionCommand.self])

    public init() {}

    /// The process entry point: the hardening comes first, before any secret is read.
    public static func hardenedMain() async {
        for problem in ProcessHardening.apply() { Output.warning(problem) }
        await main()
    }
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (default: $CUSTOS_DATA_DIR, else ~/.custos).")
    var dataDir: String?

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    @Option(name: .long, help: "Read the passphrase from this file (else $CUSTOS_PASSPHRASE, else a prompt).")
    var passphraseFile: String?

    @Flag(name: .long, help: "Log operations (never secret values) to standard error.")
    var verbose = false

    @Flag(name: .long, help: "Run on a data directory that other users can read or write (else $CUSTOS_ALLOW_INSECURE_PERMISSIONS=1); prints a warning.")
    var allowInsecurePermissions = false

    /// Refuses a data directory others can reach (docs/security.md), unless overridden.
    func checkDataDirectory() throws {
        let allowed = allowInsecurePermissions || ProcessInfo.processInfo.environment["CUSTOS_ALLOW_INSECURE_PERMISSIONS"] == "1"
        for problem in try DataDirectory.check(resolvedDataDirectory, allowInsecure: allowed) {
            Output.warning("\(problem) (allowed by the override)")
        }
    }

    @OptionGroup(title: "Root-of-trust secrets")
    var secrets: ProviderSecretOptions

    @Option(name: .long, help: "Act through this Custos server (http(s)://host:port) instead of a data directory (else $CUSTOS_SERVER).")
    var server: String?

    @Option(name: .long, help: "Bearer token for --server (visible to other local users in the process list: prefer --token-file or $CUSTOS_TOKEN).")
    var token: String?

    @Option(name: .long, help: "Read the bearer token for --server from this file.")
    var tokenFile: String?

    var resolvedServer: String? {
        if let server { return server }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CUSTOS_SERVER"], !fromEnvironment.isEmpty { return fromEnvironment }
        return nil
    }

    /// The bearer token, from --token-file, --token or $CUSTOS_TOKEN, trimmed.
    func bearerToken() throws -> SecretBytes {
        var bytes: [UInt8]
        if let tokenFile {
            bytes = try NamedFile.read(tokenFile, what: "token file", limit: 4096)
        } else if let token {
            bytes = Array(token.utf8)
        } else if let fromEnvironment = SecretEnvironment.value("CUSTOS_TOKEN"), fromEnvironment.count > 0 {
            bytes = fromEnvironment.copyBytes()
        } else {
            throw CLIError("--server needs a token: --token-file, --token or $CUSTOS_TOKEN")
        }
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 { bytes.removeLast() }
        defer { SecretBytes.zeroize(&bytes) }
        return SecretBytes(bytes)
    }

    /// The backend commands act on: a server when one is named, else the data directory.
    func openBackend() async throws -> any CustosBackend {
        if let server = resolvedServer {
            CLILogging.bootstrap(level: verbose ? .info : .warning, onlyRaise: true)
            let token = try bearerToken()
            return RemoteBackend(client: try CustosClient(server: server, token: token.copyBytes()))
        }
        return LocalBackend(service: try await openKeystore())
    }

    /// Refuses --server (or $CUSTOS_SERVER) on a command that runs only here (on the
    /// data directory, or offline), so it is never silently ignored.
    func requireLocal(_ command: String? = nil) throws {
        guard resolvedServer != nil else { return }
        let name = command.map { "'\($0)'" } ?? "this command"
        throw CLIError("\(name) works on a local data directory or offline, not through --server (unset $CUSTOS_SERVER to run it here)")
    }

    static let defaultDataDirectory = "~/.custos"

    var resolvedDataDirectory: String {
        if let dataDir { return HomeDirectory.expand(dataDir) }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CUSTOS_DATA_DIR"], !fromEnvironment.isEmpty {
            return HomeDirectory.expand(fromEnvironment)
        }
        return HomeDirectory.expand(Self.defaultDataDirectory)
    }

    var output: Output { Output(json: json) }

    @Option(name: .long, help: "Passphrase of a new passphrase root (root migrate --to passphrase; else $CUSTOS_NEW_PASSPHRASE).")
    var newPassphraseFile: String?

    func passphrase() throws -> SecretBytes {
        try Passphrase.read(file: passphraseFile)
    }

    func newPassphrase() throws -> SecretBytes {
        try Secret.read(file: newPassphraseFile, environment: "CUSTOS_NEW_PASSPHRASE", what: "new passphrase", prompt: "New Custos passphrase: ",
                        hint: "use --new-passphrase-file, set CUSTOS_NEW_PASSPHRASE, or run on a terminal")
    }

    /// Opens the local keystore, unsealing the root of trust.
    /// - Parameter alsoTalksToServer: the command uses --server for something else (an
    ///   operator command signed here and submitted there); otherwise a command that opens
    ///   the data directory itself is local-only and refuses --server.
    func openKeystore(cacheCapacity: Int = 4096, recordTimeToLive: Duration = .seconds(1), resume: Bool = false,
                      alsoTalksToServer: Bool = false) async throws -> KeyService {
        CLILogging.bootstrap(level: verbose ? .info : .warning, onlyRaise: true)
        if !alsoTalksToServer { try requireLocal() }
        try checkDataDirectory()
        let directory = resolvedDataDirectory
        let service = try await RootDirectory.openKeyService(directory: directory, databasePath: directory + "/" + LocalLayout.databaseName,
                                                             secrets: rootSecrets, resume: resume) { store, root in
            try await KeyService(store: store, root: root, cacheCapacity: cacheCapacity, recordTimeToLive: recordTimeToLive)
        }
        // The off-node audit head, as the server's audit.sink: checked by `audit verify`,
        // published by `audit checkpoint`.
        let environment = ProcessInfo.processInfo.environment
        if let sink = environment["CUSTOS_AUDIT_SINK"], !sink.isEmpty {
            do {
                service.audit.attach(sink: try AuditHeadSinks.make(sink, allowHTTPLoopback: environment["CUSTOS_AUDIT_SINK_ALLOW_HTTP_LOOPBACK"] == "true"))
            } catch {
                try? await service.close()
                throw error
            }
        }
        return service
    }
}

enum LocalLayout {
    static let databaseName = "custos.sqlite"
}

/// Runs a command body against the local keystore, closing it afterwards and turning
/// every error into one `error: …` line on stderr with exit code 2.
func runReporting(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        Output.error(error)
        throw ExitCode(2)
    }
}

/// Runs a command body against the backend (server or data directory), closing it after.
func withBackend(_ global: GlobalOptions, _ body: (any CustosBackend) async throws -> Void) async throws {
    try await runReporting {
        let backend = try await global.openBackend()
        do {
            try await body(backend)
            try await backend.close()
        } catch {
            try? await backend.close()
            throw error
        }
    }
}

/// A local command signs the chain head it leaves, so records it appended are covered
/// by a checkpoint and the high-water mark at once, not only at the next server
/// checkpoint. A refusal (the mark says the log was rolled back) is a warning: the
/// command's own work is done, and `audit verify` names the problem.
func signAuditHead(_ service: KeyService) async {
    do {
        try await service.audit.checkpoint()
    } catch {
        FileHandle.standardError.write(Data("warning: audit checkpoint not signed: \(error)\n".utf8))
    }
}

func withKeystore(_ global: GlobalOptions, resume: Bool = false, _ body: (KeyService) async throws -> Void) async throws {
    try await runReporting {
        let service = try await global.openKeystore(resume: resume)
        do {
            try await body(service)
            await signAuditHead(service)
            try await service.close()
        } catch {
            try? await service.close()
            throw error
        }
    }
}

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a data directory: a root of trust and an empty SQLite store.",
        discussion: """
            The root key is sealed by a passphrase file (default), a PKCS#11 token, an AWS KMS key or a TPM 2.0. \
            Secrets come from files or the environment: CUSTOS_PASSPHRASE, CUSTOS_PKCS11_PIN, \
            AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, CUSTOS_TPM_OWNER_AUTH, CUSTOS_TPM_AUTH.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("root"), help: "Root of trust: passphrase, pkcs11, kms or tpm.")
    var provider: RootProvider = .passphrase

    @OptionGroup(title: "Root of trust")
    var rootOptions: RootProviderOptions

    @Option(name: .customLong("scrypt-log-n"), help: "scrypt cost as log2(N), 10–22.")
    var scryptLogN: Int = 16

    @Option(name: .long, help: "Split a recovery secret for the root key into this many SLIP-39 shares, 1–16 (with --recovery-threshold; default: none).")
    var recoveryShares: Int?

    @Option(name: .long, help: "Shares needed to recover the root key (with --recovery-shares).")
    var recoveryThreshold: Int?

    @OptionGroup(title: "Recovery shares")
    var recovery: RecoveryHandoutOptions

    func validate() throws {
        guard (recoveryShares == nil) == (recoveryThreshold == nil) else {
            throw ValidationError("give both --recovery-shares and --recovery-threshold, or neither")
        }
        if recoveryShares == nil && (!recovery.recoveryCustodian.isEmpty || recovery.recoveryOut != nil || recovery.recoveryPassphraseFile != nil) {
            throw ValidationError("--recovery-custodian, --recovery-out and --recovery-passphrase-file need --recovery-shares and --recovery-threshold")
        }
    }

    func run() async throws {
        try await runReporting {
            try global.requireLocal("init")
            let directory = global.resolvedDataDirectory
            // Refused recovery options leave nothing behind.
            let handout = try recoveryShares.map { try recovery.prepare(shares: $0, threshold: recoveryThreshold ?? 0) }
            let rootPath = directory + "/" + PassphraseRoot.fileName
            let providerPath = directory + "/" + RootFile.fileName
            if FileManager.default.fileExists(atPath: rootPath) || FileManager.default.fileExists(atPath: providerPath) {
                throw KeystoreError.alreadyInitialized(directory)
            }
            let root: any RootOfTrust
            if provider == .passphrase {
                guard (10...22).contains(scryptLogN) else {
                    throw KeystoreError.invalidArgument("--scrypt-log-n must be between 10 and 22")
                }
                let passphrase = try global.passphrase()
                try DataDirectory.prepare(directory)
                root = try PassphraseRoot.create(at: rootPath, passphrase: passphrase, cost: .init(logN: scryptLogN))
            } else {
                // The provider seals first: a refusal (wrong PIN, unreachable KMS or TPM)
                // leaves no directory behind.
                let (sealed, file) = try await RootProviders.create(provider, rootOptions, secrets: global.secrets)
                try DataDirectory.prepare(directory)
                try file.write(to: providerPath)
                root = sealed
            }
            let store = try await SQLiteStore.open(path: directory + "/" + LocalLayout.databaseName)
            let service = try await KeyService(store: store, root: root)
            var recoverySummary: [String: Any]?
            do {
                if let handout, let shares = recoveryShares, let threshold = recoveryThreshold {
                    let made = try await service.createRecoveryEscrow(directory: directory, shares: shares, threshold: threshold,
                                                                      passphrase: handout.passphrase, by: .local)
                    recoverySummary = try handout.deliver(made, json: global.json)
                }
                await signAuditHead(service)
                try await service.close()
            } catch {
                try? await service.close()
                throw error
            }
            let sealedIn = provider == .passphrase ? rootPath : providerPath
            var object: [String: Any] = ["data_dir": directory, "root": root.provider, "root_key_id": root.rootKeyID, "root_file": sealedIn]
            var text = "initialised \(directory) (root of trust: \(root.provider), sealed in \(sealedIn), root key \(root.rootKeyID))"
            if let recoverySummary {
                object["recovery"] = recoverySummary
                text += "\n" + RecoveryHandout.text(recoverySummary, replaced: false)
            }
            global.output.emit(object, text: text)
        }
    }
}
