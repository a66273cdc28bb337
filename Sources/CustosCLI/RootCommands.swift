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

extension GlobalOptions {
    /// Every secret source of the command line, for `RootDirectory`.
    var rootSecrets: RootSecrets {
        let options = self
        let environment = ProcessInfo.processInfo.environment
        return RootSecrets(
            passphrase: { try options.passphrase() },
            newPassphrase: { try options.newPassphrase() },
            pkcs11PIN: { try options.secrets.pkcs11PIN() },
            tpmOwnerAuth: { try options.secrets.tpmAuths().owner },
            tpmObjectAuth: { try options.secrets.tpmAuths().object },
            overrides: environment.filter { ["CUSTOS_PKCS11_MODULE", "CUSTOS_KMS_ENDPOINT", "CUSTOS_TPM_TCTI"].contains($0.key) })
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

/// Creating roots from command-line options; opening and migrating is `RootDirectory`'s.
enum RootProviders {
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
        commandName: "root", abstract: "Inspect, migrate and recover the root of trust.",
        subcommands: [Status.self, Watch.self, Migrate.self, Check.self, Recovery.self, Recover.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unseal the root of trust through its provider and report whether keys are usable.",
            discussion: "Exit code 0 when ready; 1 when the provider refuses (the reason is printed; nothing is decrypted).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            CLILogging.bootstrap(verbose: global.verbose)
            let directory = global.resolvedDataDirectory
            let provider = RootDirectory.provider(directory: directory) ?? "none"
            try await runReporting {
                try global.requireLocal("root status")
                try global.checkDataDirectory()
            }
            do {
                let (root, _) = try await RootDirectory.open(directory: directory, secrets: global.rootSecrets)
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
            var probe: (tenant: TenantID, alias: KeyAlias)?
            if let probeKey {
                let parts = probeKey.split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2, let tenant = TenantID(parts[0]), let alias = KeyAlias(parts[1]) else {
                    throw ValidationError("--probe-key must be TENANT/ALIAS, each a valid name")
                }
                probe = (tenant, alias)
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
                            _ = try await service.sign(tenant: probe.tenant, alias: probe.alias, message: Array("custos root watch".utf8), by: .local)
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
                root.next.seal for a passphrase), has the current root authorise it (root.next.auth), \
                re-wraps every wrapping key one row at a time, records the new root in the database, then \
                replaces the old root file. Every step is audited (root.migrate). Interrupted at any point \
                (even by kill -9), no command opens the keystore until 'custos root migrate --resume' \
                completes it, after checking the authorisation under the current root. A passphrase target \
                takes its passphrase from --new-passphrase-file or CUSTOS_NEW_PASSPHRASE.
                """)
        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("to"), help: "New root of trust: passphrase, pkcs11, kms or tpm.")
        var provider: RootProvider?

        @Flag(name: .long, help: "Finish an interrupted migration (the current root must have authorised it).")
        var resume = false

        @OptionGroup(title: "New root of trust")
        var target: RootProviderOptions

        @Option(name: .customLong("scrypt-log-n"), help: "scrypt cost of a new passphrase root, as log2(N), 10–22.")
        var scryptLogN: Int = 16

        func validate() throws {
            guard resume != (provider != nil) else {
                throw ValidationError("give either --to PROVIDER or --resume")
            }
        }

        func run() async throws {
            if resume { return try await runResume() }
            guard let provider else { return }
            let directory = global.resolvedDataDirectory
            try await withKeystore(global) { service in
                let stagedPath = RootDirectory.stagedPath(directory: directory, passphrase: provider == .passphrase)
                // A staged file is left only by a run that stopped before authorising it.
                if FileManager.default.fileExists(atPath: stagedPath) { try AtomicFile.remove(stagedPath) }
                let newRoot: any RootOfTrust
                if provider == .passphrase {
                    guard (10...22).contains(scryptLogN) else {
                        throw KeystoreError.invalidArgument("--scrypt-log-n must be between 10 and 22")
                    }
                    newRoot = try PassphraseRoot.create(at: stagedPath, passphrase: try global.newPassphrase(), cost: .init(logN: scryptLogN))
                } else {
                    let (sealed, file) = try await RootProviders.create(provider, target, secrets: global.secrets)
                    try file.write(to: stagedPath)
                    newRoot = sealed
                }
                let old = service.root
                let started = ContinuousClock.now
                let result = try await RootDirectory.migrate(service, directory: directory, to: newRoot, stagedPath: stagedPath, by: .local) { done, total in
                    ProgressBar(total: total).update(done)
                }
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                if let escrow = try? RecoveryEscrow.load(directory: directory), escrow.rootKeyID != newRoot.rootKeyID {
                    Output.warning("the recovery shares (set \(escrow.identifier)) recover the old root key \(escrow.rootKeyID) only: make new ones with 'custos root recovery create'")
                }
                global.output.emit(["from": old.provider, "from_root_key_id": old.rootKeyID, "to": newRoot.provider,
                                    "root_key_id": newRoot.rootKeyID, "rewrapped": result.rewrapped, "seconds": seconds],
                                   text: "migrated from \(old.provider) (root key \(old.rootKeyID)) to \(newRoot.provider) (root key \(newRoot.rootKeyID)): \(result.rewrapped) wrapping keys re-wrapped")
            }
        }

        private func runResume() async throws {
            let directory = global.resolvedDataDirectory
            guard RootDirectory.pendingFile(directory: directory) != nil else {
                return try await runReporting { throw CLIError("no root migration is pending in \(directory)") }
            }
            try await withKeystore(global, resume: true) { service in
                let root = service.root
                global.output.emit(["resumed": true, "to": root.provider, "root_key_id": root.rootKeyID],
                                   text: "resumed: the keystore is now under \(root.provider) (root key \(root.rootKeyID))")
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
                let result = try await service.checkAllKeys(by: .local)
                failed = !result.failures.isEmpty
                let failures: [[String: Any]] = result.failures.map { ["tenant": $0.tenant, "alias": $0.alias, "version": $0.version, "error": $0.error] }
                global.output.emit(["checked": result.checked, "failed": failures],
                                   text: "checked \(result.checked) keys, \(result.failures.count) failed" + result.failures.map { "\n  \($0.tenant)/\($0.alias) v\($0.version): \($0.error)" }.joined())
            }
            if failed { throw ExitCode(1) }
        }
    }
}
