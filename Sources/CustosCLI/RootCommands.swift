import ArgumentParser
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation

/// Secrets of the root-of-trust providers; every command that opens the keystore takes them.
struct ProviderSecretOptions: ParsableArguments {
    @Option(name: .long, help: "PKCS#11 user PIN file (else $CUSTOS_PKCS11_PIN).")
    var pkcs11PinFile: String?

    @Option(name: .long, help: "TPM owner-hierarchy authorization file (else $CUSTOS_TPM_OWNER_AUTH; default: empty).")
    var tpmOwnerAuthFile: String?

    @Option(name: .long, help: "Authorization of the TPM sealed object, file (else $CUSTOS_TPM_AUTH; default: empty).")
    var tpmAuthFile: String?

    func pkcs11PIN() throws -> SecretBytes {
        try Secret.read(file: pkcs11PinFile, environment: "CUSTOS_PKCS11_PIN", what: "PKCS#11 PIN", prompt: "PKCS#11 PIN: ",
                        hint: "use --pkcs11-pin-file, set CUSTOS_PKCS11_PIN, or run on a terminal")
    }

    func tpmAuths() throws -> (owner: SecretBytes, object: SecretBytes) {
        (try Secret.readOptional(file: tpmOwnerAuthFile, environment: "CUSTOS_TPM_OWNER_AUTH", what: "TPM owner authorization") ?? SecretBytes([]),
         try Secret.readOptional(file: tpmAuthFile, environment: "CUSTOS_TPM_AUTH", what: "TPM object authorization") ?? SecretBytes([]))
    }
}

enum RootProvider: String, ExpressibleByArgument, CaseIterable {
    case passphrase, pkcs11, kms, tpm
}

/// How to reach each provider (`custos init --root …`, `custos root migrate --to …`).
struct RootProviderOptions: ParsableArguments {
    @Option(name: .long, help: "PKCS#11 module path.")
    var pkcs11Module: String = PKCS11Configuration.defaultModule
    @Option(name: .long, help: "Label of the PKCS#11 token (required with --root pkcs11).")
    var pkcs11Token: String?
    @Option(name: .long, help: "Label of the AES key in the token that wraps the root key (created if absent).")
    var pkcs11KeyLabel: String = PKCS11Configuration.defaultKeyLabel

    @Option(name: .long, help: "KMS key id, ARN or alias (required with --root kms).")
    var kmsKeyId: String?
    @Option(name: .long, help: "KMS region (default: $AWS_REGION, else us-east-1).")
    var kmsRegion: String?
    @Option(name: .long, help: "KMS endpoint URL (default: https://kms.REGION.amazonaws.com).")
    var kmsEndpoint: String?

    @Option(name: .long, help: "TPM TCTI string, e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321.")
    var tpmTcti: String = TPMConfiguration.defaultTCTI
    @Option(name: .long, help: "Comma-separated SHA-256 PCRs to bind the root key to (default: none).")
    var tpmPcrs: String?

    func pcrs() throws -> [Int] {
        guard let tpmPcrs, !tpmPcrs.isEmpty else { return [] }
        return try tpmPcrs.split(separator: ",").map {
            guard let n = Int($0.trimmingCharacters(in: .whitespaces)), (0...23).contains(n) else {
                throw KeystoreError.invalidArgument("--tpm-pcrs: '\($0.prefix(20))' is not a PCR number 0–23")
            }
            return n
        }
    }
}

/// Builds a provider's sealer from its configuration, secrets and environment overrides
/// (CUSTOS_PKCS11_MODULE, CUSTOS_KMS_ENDPOINT, CUSTOS_TPM_TCTI: a moved module, endpoint or TPM).
enum RootProviders {
    static func sealer(_ file: RootFile, secrets: ProviderSecretOptions) throws -> any RootSealer {
        let environment = ProcessInfo.processInfo.environment
        switch file.provider {
        case "pkcs11":
            var configuration = file.pkcs11!
            if let module = environment["CUSTOS_PKCS11_MODULE"], !module.isEmpty { configuration.module = module }
            return try PKCS11Sealer(configuration: configuration, pin: try secrets.pkcs11PIN())
        case "kms":
            var configuration = file.kms!
            if let endpoint = environment["CUSTOS_KMS_ENDPOINT"], !endpoint.isEmpty { configuration.endpoint = endpoint }
            return KMSSealer(client: try KMSClient(configuration: configuration, credentials: try AWSCredentials.fromEnvironment()))
        case "tpm":
            var configuration = file.tpm!
            if let tcti = environment["CUSTOS_TPM_TCTI"], !tcti.isEmpty { configuration.tcti = tcti }
            let auths = try secrets.tpmAuths()
            return try TPMSealer(configuration: configuration, ownerAuth: auths.owner, objectAuth: auths.object)
        default:
            throw KeystoreError.unsealFailed("unknown root provider '\(file.provider.prefix(40))'")
        }
    }

    static let pendingProviderFile = "root.next.json"
    static let pendingPassphraseFile = "root.next.seal"

    /// A root migration cut short: the new root's file is written, the switch is not done.
    struct PendingMigration {
        var old: (any RootOfTrust)?
        var oldPaths: [String]
        var nextPath: String
        var finalPath: String
    }

    /// Unseals the data directory's root of trust, whichever provider holds it. With a
    /// migration pending, the new root is returned (it must open) with the old one.
    static func open(directory: String, global: GlobalOptions) async throws -> (root: any RootOfTrust, pending: PendingMigration?) {
        let providerPath = directory + "/" + RootFile.fileName
        let passphrasePath = directory + "/" + PassphraseRoot.fileName
        for (next, final) in [(pendingProviderFile, RootFile.fileName), (pendingPassphraseFile, PassphraseRoot.fileName)] {
            let nextPath = directory + "/" + next
            guard FileManager.default.fileExists(atPath: nextPath) else { continue }
            let newRoot: any RootOfTrust
            do {
                newRoot = try await openFile(nextPath, global: global, newPassphrase: true)
            } catch let error as KeystoreError {
                throw KeystoreError.unsealFailed("a root migration is pending and its new root does not open: \(error)")
            }
            let oldPaths = [providerPath, passphrasePath].filter { FileManager.default.fileExists(atPath: $0) }
            var old: (any RootOfTrust)?
            if let oldPath = oldPaths.first {
                old = try await openFile(oldPath, global: global, newPassphrase: false)
            }
            return (newRoot, PendingMigration(old: old, oldPaths: oldPaths, nextPath: nextPath, finalPath: directory + "/" + final))
        }
        if FileManager.default.fileExists(atPath: providerPath) {
            return (try await openFile(providerPath, global: global, newPassphrase: false), nil)
        }
        guard FileManager.default.fileExists(atPath: passphrasePath) else {
            throw KeystoreError.notInitialized(directory)
        }
        return (try await openFile(passphrasePath, global: global, newPassphrase: false), nil)
    }

    private static func openFile(_ path: String, global: GlobalOptions, newPassphrase: Bool) async throws -> any RootOfTrust {
        if path.hasSuffix(".seal") {
            let passphrase = newPassphrase ? try global.newPassphrase() : try global.passphrase()
            return try PassphraseRoot.unseal(at: path, passphrase: passphrase)
        }
        let file = try RootFile.load(path)
        let sealer = try sealer(file, secrets: global.secrets)
        return try await SealedRoot.unseal(sealer: sealer, sealedRootKey: file.sealedBytes, rootKeyID: file.rootKeyID)
    }

    /// Finishes a pending migration on an open store: re-wraps what is left, then makes
    /// the new root file the only one (old file removed first, then the rename).
    static func complete(_ pending: PendingMigration, newRoot: any RootOfTrust, store: any Store) async throws {
        _ = try await KeyService.completeRootMigration(store: store, from: pending.old, to: newRoot)
        try switchFiles(pending)
    }

    static func switchFiles(_ pending: PendingMigration) throws {
        for path in pending.oldPaths where path != pending.finalPath {
            try AtomicFile.remove(path)
        }
        try AtomicFile.rename(pending.nextPath, to: pending.finalPath)
    }

    /// Creates a new root key sealed by the chosen provider and returns it with the file to write.
    static func create(_ provider: RootProvider, _ options: RootProviderOptions, secrets: ProviderSecretOptions) async throws -> (SealedRoot, RootFile) {
        switch provider {
        case .passphrase:
            preconditionFailure("the passphrase root is created by PassphraseRoot")
        case .pkcs11:
            guard let token = options.pkcs11Token else {
                throw KeystoreError.invalidArgument("--root pkcs11 needs --pkcs11-token LABEL")
            }
            let configuration = PKCS11Configuration(module: options.pkcs11Module, tokenLabel: token, keyLabel: options.pkcs11KeyLabel)
            let root = try await SealedRoot.create(sealer: try PKCS11Sealer(configuration: configuration, pin: try secrets.pkcs11PIN()))
            return (root, RootFile(root: root, pkcs11: configuration))
        case .kms:
            guard let keyID = options.kmsKeyId else {
                throw KeystoreError.invalidArgument("--root kms needs --kms-key-id ID")
            }
            let region = options.kmsRegion ?? ProcessInfo.processInfo.environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1"
            let configuration = KMSConfiguration(endpoint: options.kmsEndpoint, region: region, keyID: keyID)
            let client = try KMSClient(configuration: configuration, credentials: try AWSCredentials.fromEnvironment())
            let root = try await SealedRoot.create(sealer: KMSSealer(client: client))
            return (root, RootFile(root: root, kms: configuration))
        case .tpm:
            let configuration = TPMConfiguration(tcti: options.tpmTcti, pcrs: try options.pcrs())
            let auths = try secrets.tpmAuths()
            let sealer = try TPMSealer(configuration: configuration, ownerAuth: auths.owner, objectAuth: auths.object)
            let root = try await SealedRoot.create(sealer: sealer)
            return (root, RootFile(root: root, tpm: configuration))
        }
    }
}

struct RootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "root", abstract: "Inspect the root of trust.",
        subcommands: [Status.self, Watch.self, Migrate.self, Check.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unseal the root of trust through its provider and report whether keys are usable.",
            discussion: "Exit code 0 when ready; 1 when the provider refuses (the reason is printed; nothing is decrypted).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            CLILogging.bootstrap(verbose: global.verbose)
            let directory = global.resolvedDataDirectory
            let provider = FileManager.default.fileExists(atPath: directory + "/" + RootFile.fileName)
                ? ((try? RootFile.load(directory + "/" + RootFile.fileName))?.provider ?? "unknown") : "passphrase"
            do {
                let (root, _) = try await RootProviders.open(directory: directory, global: global)
                global.output.emit(["ready": true, "status": "unsealed", "provider": root.provider, "root_key_id": root.rootKeyID],
                                   text: "ready: unsealed by \(root.provider), root key \(root.rootKeyID)")
            } catch let error as KeystoreError {
                if case .notInitialized = error { Output.error(error); throw ExitCode(2) }
                if case .invalidArgument = error { Output.error(error); throw ExitCode(2) }
                global.output.emit(["ready": false, "status": "refused", "provider": provider, "reason": error.description],
                                   text: "not ready: \(error.description)")
                throw ExitCode(1)
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep the keystore open and check the root-of-trust provider periodically.",
            discussion: """
                Prints one JSON line per check that changes something: the status (unsealed or refused, with \
                the provider and reason) and, with --probe-key, whether that key can sign. When the provider \
                refuses, every unlocked key is dropped from memory; when it allows access again, Custos \
                recovers without a restart.
                """)
        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Milliseconds between checks.")
        var intervalMs: Int = 500

        @Option(name: .long, help: "Stop after this many seconds (0: run until interrupted).")
        var maxSeconds: Double = 0

        @Option(name: .long, help: "TENANT/ALIAS of a signing key to try after each check.")
        var probeKey: String?

        func run() async throws {
            guard (10...600_000).contains(intervalMs) else {
                throw ValidationError("--interval-ms must be between 10 and 600000")
            }
            var probe: (tenant: String, alias: String)?
            if let probeKey {
                let parts = probeKey.split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--probe-key must be TENANT/ALIAS") }
                probe = (parts[0], parts[1])
            }
            try await withKeystore(global) { service in
                let start = ContinuousClock.now
                var last: [String: String] = [:]
                while maxSeconds == 0 || ContinuousClock.now - start < .milliseconds(Int(maxSeconds * 1000)) {
                    let status = await service.refreshRoot()
                    var line: [String: String] = ["ready": status.isReady ? "true" : "false", "provider": status.provider]
                    switch status {
                    case .unsealed: line["status"] = "unsealed"
                    case .sealed: line["status"] = "sealed"
                    case .refused(_, let reason):
                        line["status"] = "refused"
                        line["reason"] = reason
                    }
                    if let probe {
                        do {
                            _ = try await service.sign(tenant: probe.tenant, alias: probe.alias, message: Array("custos root watch".utf8))
                            line["sign"] = "ok"
                        } catch {
                            line["sign"] = "error: \(error)"
                        }
                    }
                    if line != last {
                        Output.line(Output.encode(line))
                        last = line
                    }
                    try await Task.sleep(for: .milliseconds(intervalMs))
                }
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the keystore to a new root of trust, re-wrapping every tenant wrapping key.",
            discussion: """
                Creates a new root key sealed by the target provider (written as root.next.json, or \
                root.next.seal for a passphrase), re-wraps every wrapping key one row at a time, records the \
                new root in the database, then replaces the old root file. Interrupted at any point (even by \
                kill -9), the next start of any command completes it. A passphrase target takes its passphrase \
                from --new-passphrase-file or CUSTOS_NEW_PASSPHRASE.
                """)
        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("to"), help: "New root of trust: passphrase, pkcs11, kms or tpm.")
        var provider: RootProvider

        @OptionGroup(title: "New root of trust")
        var target: RootProviderOptions

        @Option(name: .customLong("scrypt-log-n"), help: "scrypt cost of a new passphrase root, as log2(N), 10–22.")
        var scryptLogN: Int = 16

        func run() async throws {
            let directory = global.resolvedDataDirectory
            // Opening completes any earlier, interrupted migration first.
            try await withKeystore(global) { service in
                let nextPath: String
                let newRoot: any RootOfTrust
                if provider == .passphrase {
                    guard (10...22).contains(scryptLogN) else {
                        throw KeystoreError.invalidArgument("--scrypt-log-n must be between 10 and 22")
                    }
                    nextPath = directory + "/" + RootProviders.pendingPassphraseFile
                    newRoot = try PassphraseRoot.create(at: nextPath, passphrase: try global.newPassphrase(), cost: .init(logN: scryptLogN))
                } else {
                    let (sealed, file) = try await RootProviders.create(provider, target, secrets: global.secrets)
                    nextPath = directory + "/" + RootProviders.pendingProviderFile
                    try file.write(to: nextPath)
                    newRoot = sealed
                }
                let oldPaths = [RootFile.fileName, PassphraseRoot.fileName].map { directory + "/" + $0 }
                    .filter { FileManager.default.fileExists(atPath: $0) }
                let finalPath = directory + "/" + (provider == .passphrase ? PassphraseRoot.fileName : RootFile.fileName)
                let old = service.root
                let started = ContinuousClock.now
                let result = try await service.migrateRoot(to: newRoot) { done, total in
                    ProgressBar(total: total).update(done)
                }
                try RootProviders.switchFiles(.init(old: old, oldPaths: oldPaths, nextPath: nextPath, finalPath: finalPath))
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                global.output.emit(["from": old.provider, "from_root_key_id": old.rootKeyID, "to": newRoot.provider,
                                    "root_key_id": newRoot.rootKeyID, "rewrapped": result.rewrapped, "seconds": seconds],
                                   text: "migrated from \(old.provider) (root key \(old.rootKeyID)) to \(newRoot.provider) (root key \(newRoot.rootKeyID)): \(result.rewrapped) wrapping keys re-wrapped")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open every enabled key (and sign a test message with signing keys) under the current root.",
            discussion: "Exit code 0 when every key opens; 1 otherwise, listing the failures.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var failed = false
            try await withKeystore(global) { service in
                let result = try await service.checkAllKeys()
                failed = !result.failures.isEmpty
                let failures: [[String: Any]] = result.failures.map { ["tenant": $0.tenant, "alias": $0.alias, "version": $0.version, "error": $0.error] }
                global.output.emit(["checked": result.checked, "failed": failures],
                                   text: "checked \(result.checked) keys, \(result.failures.count) failed" + result.failures.map { "\n  \($0.tenant)/\($0.alias) v\($0.version): \($0.error)" }.joined())
            }
            if failed { throw ExitCode(1) }
        }
    }
}
