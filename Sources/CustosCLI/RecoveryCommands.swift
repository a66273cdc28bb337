import ArgumentParser
import CustosCrypto
import CustosKeystore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How recovery shares are handed out and protected (`init`, `root recovery create`).
struct RecoveryHandoutOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A custodian's X25519 or P-256 public key (PEM), once per share: each share is sealed to one custodian with HPKE instead of printed.", valueName: "file"))
    var recoveryCustodian: [String] = []

    @Option(name: .long, help: ArgumentHelp("Directory for the custodians' sealed shares (share-<i>.hpke); required with --recovery-custodian.", valueName: "dir"))
    var recoveryOut: String?

    @Option(name: .long, help: ArgumentHelp("SLIP-39 passphrase protecting the shares, from a file (else $CUSTOS_RECOVERY_PASSPHRASE; default: none).", valueName: "file"))
    var recoveryPassphraseFile: String?

    func recoveryPassphrase() throws -> SecretBytes {
        try Secret.readOptional(file: recoveryPassphraseFile, environment: "CUSTOS_RECOVERY_PASSPHRASE", what: "recovery passphrase") ?? SecretBytes([])
    }

    /// Everything that can be refused is checked before anything is written.
    func prepare(shares: Int, threshold: Int) throws -> RecoveryHandout {
        try RecoveryEscrow.checkCounts(shares: shares, threshold: threshold)
        let passphrase = try recoveryPassphrase()
        guard passphrase.withUnsafeBytes({ $0.allSatisfy { (32...126).contains($0) } }) else {
            throw KeystoreError.invalidArgument("the recovery passphrase must be printable ASCII")
        }
        if recoveryCustodian.isEmpty {
            guard recoveryOut == nil else { throw KeystoreError.invalidArgument("--recovery-out needs --recovery-custodian") }
            return RecoveryHandout(passphrase: passphrase, custodians: [], outDirectory: nil)
        }
        guard recoveryCustodian.count == shares else {
            throw KeystoreError.invalidArgument("--recovery-custodian was given \(recoveryCustodian.count) times for \(shares) shares: give one public key per share")
        }
        guard let recoveryOut else { throw KeystoreError.invalidArgument("--recovery-custodian needs --recovery-out DIR") }
        let custodians = try recoveryCustodian.map { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KeystoreError.invalidArgument("cannot read custodian key \(path)")
            }
            let key: KeyAgreementPublicKey
            do {
                key = try KeyAgreementPublicKey(pemRepresentation: String(decoding: data, as: UTF8.self))
            } catch {
                throw KeystoreError.invalidArgument("custodian key \(path): \(error)")
            }
            guard key.algorithm != .ecdhP384 else {
                throw KeystoreError.invalidArgument("custodian key \(path): P-384 is not supported; use an X25519 or P-256 key")
            }
            return key
        }
        guard Set(custodians.map(\.fingerprint.description)).count == custodians.count else {
            throw KeystoreError.invalidArgument("the same custodian key is given twice: each custodian should hold one share")
        }
        try FileManager.default.createDirectory(atPath: recoveryOut, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for index in 1...shares where FileManager.default.fileExists(atPath: RecoveryHandout.sharePath(recoveryOut, index)) {
            throw KeystoreError.invalidArgument("\(RecoveryHandout.sharePath(recoveryOut, index)) exists; move the earlier shares away first")
        }
        return RecoveryHandout(passphrase: passphrase, custodians: custodians, outDirectory: recoveryOut)
    }
}

/// Hands out the shares once: printed to standard output, or sealed to each custodian.
struct RecoveryHandout {
    var passphrase: SecretBytes
    var custodians: [KeyAgreementPublicKey]
    var outDirectory: String?

    static func sharePath(_ directory: String, _ index: Int) -> String { directory + "/share-\(index).hpke" }

    /// HPKE info: names Custos, the format and the root the share belongs to.
    static func info(rootKeyID: String) -> [UInt8] { Array("Custos recovery share v1, root key \(rootKeyID)".utf8) }

    /// HPKE associated data: the share's place in its set.
    static func associatedData(index: Int, parameters: RecoveryEscrow.Parameters) -> [UInt8] {
        Array("index=\(index);shares=\(parameters.shares);threshold=\(parameters.threshold);identifier=\(parameters.identifier)".utf8)
    }

    /// Delivers the shares; returns the public summary for the command's output.
    func deliver(_ made: (parameters: RecoveryEscrow.Parameters, shares: [SLIP39.Share]), json: Bool) throws -> [String: Any] {
        let parameters = made.parameters
        var summary: [String: Any] = ["shares": parameters.shares, "threshold": parameters.threshold, "identifier": parameters.identifier,
                                      "root_key_id": parameters.rootKeyID, "created": parameters.created]
        if let outDirectory {
            var files: [String] = []
            for (position, share) in made.shares.enumerated() {
                let index = position + 1
                let mnemonic = share.mnemonic()
                let sealed = try HPKESealing.seal(mnemonic, to: custodians[position], info: Self.info(rootKeyID: parameters.rootKeyID),
                                                  associatedData: Self.associatedData(index: index, parameters: parameters))
                let file: [String: Any] = [
                    "format": "custos-recovery-share", "version": 1, "index": index, "shares": parameters.shares,
                    "threshold": parameters.threshold, "identifier": parameters.identifier, "root_key_id": parameters.rootKeyID,
                    "kem": custodians[position].algorithm == .x25519 ? "DHKEM(X25519, HKDF-SHA256)" : "DHKEM(P-256, HKDF-SHA256)",
                    "kdf": "HKDF-SHA256", "aead": "AES-256-GCM", "custodian": custodians[position].fingerprint.description,
                    "encapsulated_key": Hex.encode(sealed.encapsulatedKey), "ciphertext": Hex.encode(sealed.ciphertext),
                ]
                let data = try JSONSerialization.data(withJSONObject: file, options: [.prettyPrinted, .sortedKeys])
                try AtomicFile.write(Array(data) + [0x0a], to: Self.sharePath(outDirectory, index))
                files.append(Self.sharePath(outDirectory, index))
            }
            summary["files"] = files
            return summary
        }
        for (position, share) in made.shares.enumerated() {
            var line: [UInt8]
            if json {
                line = Array("{\"recovery_share\":\(position + 1),\"of\":\(parameters.shares),\"threshold\":\(parameters.threshold),\"identifier\":\(parameters.identifier),\"mnemonic\":\"".utf8)
            } else {
                line = Array("recovery share \(position + 1) of \(parameters.shares) (any \(parameters.threshold) recover the root): ".utf8)
            }
            share.mnemonic().withUnsafeBytes { line += $0 }
            line += json ? Array("\"}\n".utf8) : [0x0a]
            RecoveryHandout.writeStandardOutput(line)
            SecretBytes.zeroize(&line)
        }
        return summary
    }

    /// Writes straight to file descriptor 1: no Foundation buffer keeps a copy of a share.
    static func writeStandardOutput(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }

    static func text(_ summary: [String: Any], replaced: Bool) -> String {
        var text = "recovery escrow: \(summary["threshold"]!) of \(summary["shares"]!) shares (set \(summary["identifier"]!)) recover root key \(summary["root_key_id"]!)"
        if let files = summary["files"] as? [String] {
            text += "\n" + files.enumerated().map { "  share \($0.offset + 1) sealed to its custodian: \($0.element)" }.joined(separator: "\n")
        } else {
            text += "\nhand each share to one custodian now: they are not stored and will not be shown again"
        }
        if replaced { text += "\nthe earlier recovery shares no longer work" }
        return text
    }
}

/// Reads recovery shares from files or standard input: lines printed by `init` or
/// `root recovery create` ("recovery share i of N (...): words"), or bare mnemonics.
/// The words stay in bytes.
enum RecoveryShareInput {
    static func read(files: [String]) throws -> [SLIP39.Share] {
        var shares: [SLIP39.Share] = []
        if files.isEmpty {
            var bytes = [UInt8]()
            defer { SecretBytes.zeroize(&bytes) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            defer { SecretBytes.zeroize(&buffer) }
            while true {
                let count = Glibc.read(STDIN_FILENO, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                bytes += buffer[..<count]
            }
            shares += try parse(bytes, source: "standard input")
        } else {
            for file in files {
                guard var data = FileManager.default.contents(atPath: file) else {
                    throw KeystoreError.invalidArgument("cannot read share file \(file)")
                }
                defer { data.withUnsafeMutableBytes { SecretBytes.zeroize($0) } }
                shares += try parse(Array(data), source: file)
            }
        }
        return shares
    }

    static func parse(_ bytes: [UInt8], source: String) throws -> [SLIP39.Share] {
        var shares: [SLIP39.Share] = []
        let prefix = Array("recovery share ".utf8)
        for (number, line) in bytes.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
            var words = line[...]
            while let first = words.first, first == 0x20 || first == 0x09 || first == 0x0d { words = words.dropFirst() }
            if words.isEmpty || words.first == UInt8(ascii: "#") { continue }
            if words.starts(with: prefix) {
                guard let colon = words.firstIndex(of: UInt8(ascii: ":")) else {
                    throw KeystoreError.invalidArgument("\(source), line \(number + 1): a 'recovery share' line without its words")
                }
                words = words[(colon + 1)...]
            } else if !words.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7a || $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }) {
                throw KeystoreError.invalidArgument("\(source), line \(number + 1) is not a recovery share (expected the words of one share per line)")
            }
            do {
                shares.append(try SLIP39.Share(mnemonic: words))
            } catch {
                throw KeystoreError.invalidArgument("\(source), line \(number + 1): \(error)")
            }
        }
        return shares
    }
}

extension RootCommand {
    struct Recovery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make or inspect the recovery shares of the root key (SLIP-39).",
            subcommands: [Create.self, Status.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Split a new recovery secret into shares and seal the root key under it (root.recovery).",
                discussion: """
                    Needs the root unsealed. Replaces any earlier escrow: the earlier shares stop working. \
                    Each share is printed once to standard output, or sealed to one custodian with \
                    --recovery-custodian (once per share) and --recovery-out. Audited as root.recovery.create.
                    """)
            @OptionGroup var global: GlobalOptions

            @Option(name: .long, help: "Number of shares, 1–16.")
            var shares: Int

            @Option(name: .long, help: "Shares needed to recover, 2–N (1 only with a single share).")
            var threshold: Int

            @OptionGroup(title: "Handing out the shares")
            var handout: RecoveryHandoutOptions

            func run() async throws {
                try await withKeystore(global) { service in
                    let prepared = try handout.prepare(shares: shares, threshold: threshold)
                    let directory = global.resolvedDataDirectory
                    let replaced = (try? RecoveryEscrow.load(directory: directory)) != nil
                    let made = try await service.createRecoveryEscrow(directory: directory, shares: shares, threshold: threshold,
                                                                      passphrase: prepared.passphrase, by: .local)
                    var summary = try prepared.deliver(made, json: global.json)
                    summary["replaced"] = replaced
                    global.output.emit(summary, text: RecoveryHandout.text(summary, replaced: replaced))
                }
            }
        }

        struct Status: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Show the recovery escrow's parameters (no secret); unseals nothing.",
                discussion: "Exit code 0 when the escrow matches the current root; 1 when there is none or it was made for another root key.")
            @OptionGroup var global: GlobalOptions

            func run() async throws {
                let directory = global.resolvedDataDirectory
                var problem = false
                try await runReporting {
                    try global.requireLocal("root recovery status")
                    try global.checkDataDirectory()
                    try RecoveryEscrow.settle(directory: directory)
                    guard let parameters = try RecoveryEscrow.load(directory: directory) else {
                        problem = true
                        global.output.emit(["escrow": false], text: "no recovery escrow in \(directory): make one with 'custos root recovery create'")
                        return
                    }
                    let current = RecoveryEscrow.currentRootKeyID(directory: directory)
                    let valid = current == parameters.rootKeyID
                    problem = !valid
                    global.output.emit(["escrow": true, "shares": parameters.shares, "threshold": parameters.threshold,
                                        "identifier": parameters.identifier, "created": parameters.created, "root_key_id": parameters.rootKeyID,
                                        "current_root_key_id": current ?? NSNull(), "valid": valid],
                                       text: "recovery escrow: \(parameters.threshold) of \(parameters.shares) shares (set \(parameters.identifier)), made \(parameters.created), for root key \(parameters.rootKeyID)"
                                           + (valid ? "" : "\nstale: the current root key is \(current ?? "unknown"); make new shares with 'custos root recovery create'"))
                }
                if problem { throw ExitCode(1) }
            }
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recover the root key from recovery shares and re-seal it under a new root of trust, without the old one.",
            discussion: """
                Combines the shares (from --share-file, else standard input, one per line), opens root.recovery, \
                and moves the keystore to a new root (--to) as 'root migrate' does: every wrapping key is re-wrapped, \
                the new root file replaces the old one only at the end. The escrow is sealed again for the new root \
                under the same recovery secret, so the same shares keep working. Interrupted, running it again with \
                the same shares completes it; until then the old root file is untouched. Audited as root.recover.
                """)
        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("to"), help: "New root of trust: passphrase, pkcs11, kms or tpm.")
        var provider: RootProvider

        @Option(name: .long, help: ArgumentHelp("A file with one or more shares (repeatable; default: standard input).", valueName: "file"))
        var shareFile: [String] = []

        @Option(name: .long, help: ArgumentHelp("SLIP-39 passphrase of the shares, from a file (else $CUSTOS_RECOVERY_PASSPHRASE; default: none).", valueName: "file"))
        var recoveryPassphraseFile: String?

        @OptionGroup(title: "New root of trust")
        var target: RootProviderOptions

        @Option(name: .customLong("scrypt-log-n"), help: "scrypt cost of a new passphrase root, as log2(N), 10–22.")
        var scryptLogN: Int = 16

        func run() async throws {
            let directory = global.resolvedDataDirectory
            try await runReporting {
                try global.requireLocal("root recover")
                try global.checkDataDirectory()
                guard (10...22).contains(scryptLogN) else { throw KeystoreError.invalidArgument("--scrypt-log-n must be between 10 and 22") }
                guard FileManager.default.fileExists(atPath: directory + "/" + LocalLayout.databaseName) else {
                    throw KeystoreError.notInitialized(directory)
                }
                try RecoveryEscrow.settle(directory: directory)
                guard try RecoveryEscrow.load(directory: directory) != nil else {
                    throw KeystoreError.invalidArgument("no recovery escrow (\(RecoveryEscrow.fileName)) in \(directory): recovery shares were never made for this data directory")
                }
                let passphrase = try Secret.readOptional(file: recoveryPassphraseFile, environment: "CUSTOS_RECOVERY_PASSPHRASE",
                                                         what: "recovery passphrase") ?? SecretBytes([])
                let shares = try RecoveryShareInput.read(files: shareFile)
                let provider = provider
                let target = target
                let global = global
                let logN = scryptLogN
                let result = try await RootDirectory.recover(
                    directory: directory, databasePath: directory + "/" + LocalLayout.databaseName, shares: shares, passphrase: passphrase,
                    secrets: global.rootSecrets, passphraseTarget: provider == .passphrase,
                    createRoot: { stagedPath in
                        if provider == .passphrase {
                            return try PassphraseRoot.create(at: stagedPath, passphrase: try global.newPassphrase(), cost: .init(logN: logN))
                        }
                        let (sealed, file) = try await RootProviders.create(provider, target, secrets: global.secrets)
                        try file.write(to: stagedPath)
                        return sealed
                    },
                    progress: { done, total in ProgressBar(total: total).update(done) })
                global.output.emit(["recovered": true, "from_root_key_id": result.oldRootKeyID, "to": result.newRoot.provider,
                                    "root_key_id": result.newRoot.rootKeyID, "rewrapped": result.rewrapped, "shares_used": result.sharesUsed,
                                    "resumed": result.resumed],
                                   text: "recovered root key \(result.oldRootKeyID) from \(result.sharesUsed) shares and re-sealed it under \(result.newRoot.provider) (root key \(result.newRoot.rootKeyID)): \(result.rewrapped) wrapping keys re-wrapped; the same recovery shares recover the new root")
            }
        }
    }
}
