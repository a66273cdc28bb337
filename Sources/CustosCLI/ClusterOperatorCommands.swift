import ArgumentParser
import CustosCluster
import CustosCrypto
import CustosKeystore
import Foundation

/// `custos cluster command …` and `custos cluster operator-key …`: the operator signs commands
/// in its own data directory (where `custos cluster genesis` ran, possibly offline), writes them
/// to a file and/or submits them to a replica (docs/cluster.md, "Operating").
extension ClusterCommand {
    struct Command: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign an operator command (write it with --out, submit it with --server), submit or show a command file.",
            subcommands: [RotateReplicaKeys.self, RotateClientKeys.self, AddClient.self, RemoveClient.self, ReplaceReplica.self,
                          RotateOperatorKey.self, Submit.self, Show.self])
    }

    /// What every signing subcommand takes.
    struct CommandOptions: ParsableArguments {
        @Option(name: .long, help: "The command number (default: the next unused number this directory remembers).") var number: UInt64?
        @Option(name: .long, help: "How long the command stays valid: 3600, 90m, 12h, 7d (default 1h, at most 31 days).") var expiresIn: String = "1h"
        @Option(name: .long, help: "Write the signed command to this file (custos-cluster-command-v1 JSON, written atomically).") var out: String?
        @Option(name: .long, help: "The cluster, when this directory created several (default: the newest).") var clusterID: String?

        /// The validity in seconds, within 1 s … 31 days.
        func validity() throws -> UInt64 {
            let seconds: TimeInterval
            do {
                seconds = try Duration.parseLifetime(expiresIn)
            } catch {
                throw CLIError("--expires-in \(Output.field(String(expiresIn.prefix(20)))) is not a duration like 3600, 90m, 12h or 7d")
            }
            guard seconds >= 1, seconds <= TimeInterval(OperatorCommand.maximumValidity) else {
                throw CLIError("--expires-in must be 1 second to 31 days")
            }
            return UInt64(seconds)
        }

        func cluster() throws -> [UInt8]? {
            try clusterID.map { text in
                guard let bytes = Hex.decode(text), bytes.count == 16 else { throw CLIError("--cluster-id must be 32 hex digits") }
                return bytes
            }
        }
    }

    /// Signs `request` in the operator's directory, then writes and/or submits it.
    static func issue(_ request: @autoclosure () throws -> OperatorCommandRequest, _ options: CommandOptions, _ global: GlobalOptions) async throws {
        try await runReporting {
            // Refused before anything is signed, so no number is used up.
            guard options.out != nil || global.resolvedServer != nil else {
                throw CLIError("give --out FILE to write the command, --server URL to submit it, or both")
            }
            if let out = options.out, FileManager.default.fileExists(atPath: out) {
                throw CLIError("\(Output.field(out)) exists already")
            }
            let validity = try options.validity()
            let cluster = try options.cluster()
            let request = try request()
            let service = try await global.openKeystore(alsoTalksToServer: true)
            let signed: SignedOperatorCommand
            do {
                signed = try await service.signClusterCommand(request, number: options.number, validity: validity, clusterID: cluster, by: .local)
                await signAuditHead(service)
                try await service.close()
            } catch {
                try? await service.close()
                throw error
            }
            let command = signed.command
            var object = command.summary
            var lines = [command.text]
            if let out = options.out {
                try AtomicFile.write(ClusterCommandFile(command).encoded, to: out)
                object["file"] = out
                lines.append("wrote \(Output.field(out))")
            }
            if let bundle = signed.bundlePath, let generation = signed.generation {
                object["bundle"] = bundle
                object["generation"] = generation
                lines.append("wrote the replacement bundle (generation \(generation)) to \(Output.field(bundle)); the operator keeps no copy of its keys")
            }
            if global.resolvedServer != nil {
                let state = try await submit(command, global)
                object["submitted"] = state.object
                lines.append(state.text)
            }
            global.output.emit(object, text: lines.joined(separator: "\n"))
        }
    }

    /// `--replicas 2,3|all` and `--clients 0,1|all`: ids sorted ascending, each once; nil for all.
    static func targets(_ text: String, option: String) throws -> [Int]? {
        if text == "all" { return nil }
        var ids: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let id = Int(part.trimmingCharacters(in: .whitespaces)), id >= 0, id <= Int(UInt32.max) else {
                throw CLIError("\(option) \(Output.field(String(text.prefix(80)))) is not a list of ids like 0,2 or all")
            }
            ids.append(id)
        }
        guard Set(ids).count == ids.count else { throw CLIError("\(option) names an id twice") }
        guard ids.count <= OperatorCommand.maximumTargets else { throw CLIError("\(option) names more than \(OperatorCommand.maximumTargets) ids") }
        return ids.sorted()
    }

    static func kinds<Kinds: KeyKindNames>(_ text: String?, _ type: Kinds.Type, option: String = "--kinds") throws -> Kinds {
        guard let text else { return Kinds.all }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let kinds = Kinds(names: names) else {
            throw CLIError("\(option) \(Output.field(String(text.prefix(80)))) names an unknown kind (known: \(Kinds.named.map(\.1).joined(separator: ", ")))")
        }
        return kinds
    }

    struct RotateReplicaKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Order replicas to rotate their keys: each makes one key exchange renewing the kinds named.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: CommandOptions
        @Option(name: .long, help: "The replicas: ids like 2,3, or all.") var replicas: String
        @Option(name: .long, help: "The key kinds to renew: consensus, main, tls (default: all three).") var kinds: String?

        func run() async throws {
            try await ClusterCommand.issue(.rotateReplicaKeys(
                targets: try ClusterCommand.targets(replicas, option: "--replicas").map { ids in
                    try ids.map { id in
                        guard id <= Int(UInt16.max) else { throw CLIError("--replicas: \(id) is not a replica id") }
                        return ReplicaID(id)
                    }
                },
                kinds: try ClusterCommand.kinds(kinds, ReplicaKeyKinds.self)), options, global)
        }
    }

    struct RotateClientKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Order client nodes to rotate their keys (all: every client registered when the command executes).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: CommandOptions
        @Option(name: .long, help: "The clients: ids like 0,1, or all.") var clients: String
        @Option(name: .long, help: "The key kinds to renew: signing, tls, api-tls (default: all three).") var kinds: String?

        func run() async throws {
            try await ClusterCommand.issue(.rotateClientKeys(
                targets: try ClusterCommand.targets(clients, option: "--clients").map { $0.map { ClientID(rawValue: UInt32($0)) } },
                kinds: try ClusterCommand.kinds(kinds, ClientKeyKinds.self)), options, global)
        }
    }

    struct AddClient: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client node with the descriptor `custos cluster client init` wrote on it.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: CommandOptions
        @Option(name: .long, help: "The client's descriptor file (custos-cluster-client-v1 JSON).") var descriptor: String

        func run() async throws {
            try await ClusterCommand.issue(.addClient(try ClientDescriptorFile.read(descriptor)), options, global)
        }
    }

    struct RemoveClient: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a client node; its id is never used again.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: CommandOptions
        @Option(name: .long, help: "The client id.") var client: UInt32

        func run() async throws {
            try await ClusterCommand.issue(.removeClient(ClientID(rawValue: client)), options, global)
        }
    }

    struct ReplaceReplica: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a replica whose keys were lost a new generation: new bootstrap keys, sealed into a bundle for its new machine.",
            discussion: """
                The bundle is sealed to the new machine's enrolment key (--enrolment, printed by `custos cluster enrol` there) \
                or under a passphrase (--bundle-passphrase-file); its associated data names the cluster, the replica and the \
                generation. The operator keeps no copy of the new private keys. On the new machine: \
                `custos cluster join --bundle FILE`.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: CommandOptions
        @Option(name: .long, help: "The replica id.") var replica: UInt16
        @Option(name: .long, help: "Its new HOST:PORT (default: its current address).") var address: String?
        @Option(name: .long, help: "The generation (default: one past the newest this directory issued for the replica).") var generation: UInt64?
        @Option(name: .long, help: "The X25519 enrolment key of the new machine, hex.") var enrolment: String?
        @Option(name: .long, help: "Seal the bundle under the passphrase in this file instead (else $CUSTOS_BUNDLE_PASSPHRASE).") var bundlePassphraseFile: String?
        @Option(name: .customLong("bundle-scrypt-log-n"), help: "scrypt cost of a passphrase bundle as log2(N), 10–22.") var scryptLogN: Int = 16
        @Option(name: .long, help: "Where to write the bundle (must not exist).") var bundleOut: String

        func run() async throws {
            try await ClusterCommand.issue(try request(), options, global)
        }

        private func request() throws -> OperatorCommandRequest {
            guard (enrolment != nil) != (bundlePassphraseFile != nil) else {
                throw CLIError("give --enrolment HEX or --bundle-passphrase-file FILE, one of them")
            }
            guard (10...22).contains(scryptLogN) else { throw CLIError("--bundle-scrypt-log-n must be 10–22") }
            if let address {
                guard !address.isEmpty, address.utf8.count <= 255, !address.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw CLIError("--address \(Output.field(String(address.prefix(80)))) is not HOST:PORT")
                }
            }
            let recipient: ReplacementRecipient
            if let enrolment {
                guard let raw = Hex.decode(enrolment), let key = try? KeyAgreementPublicKey(rawRepresentation: raw, algorithm: .x25519) else {
                    throw CLIError("--enrolment is not a 32-byte X25519 public key in hex")
                }
                recipient = .enrolmentKey(key)
            } else {
                let passphrase = try Secret.read(file: bundlePassphraseFile, environment: "CUSTOS_BUNDLE_PASSPHRASE", what: "bundle passphrase",
                                                 prompt: nil, hint: "")
                recipient = .passphrase(passphrase, PassphraseRoot.Cost(logN: scryptLogN))
            }
            return .replaceReplica(ReplicaID(rawValue: replica), address: address, generation: generation, recipient: recipient, bundlePath: bundleOut)
        }
    }

    struct RotateOperatorKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Introduce a new operator key; it stays pending here until `custos cluster operator-key promote` after the command executed.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: CommandOptions
        @Option(name: .long, help: "The new key's scheme: ed25519 or ecdsa-p384-sha384.") var scheme: String = "ed25519"

        func run() async throws {
            try await ClusterCommand.issue(try request(), options, global)
        }

        private func request() throws -> OperatorCommandRequest {
            guard let parsed = SignatureScheme(rawValue: scheme), [.ed25519, .ecdsaP384SHA384].contains(parsed) else {
                throw CLIError("--scheme \(Output.field(String(scheme.prefix(40)))) is not ed25519 or ecdsa-p384-sha384")
            }
            return .rotateOperatorKey(scheme: parsed)
        }
    }

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Submit a signed command file to a replica (--server URL) and print its state.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A file written by `custos cluster command … --out`.") var file: String

        func run() async throws {
            try await runReporting {
                guard global.resolvedServer != nil else { throw CLIError("give --server URL: the replica to submit the command to") }
                let command = try ClusterCommandFile.read(file)
                let state = try await ClusterCommand.submit(command, global)
                var object = command.summary
                object["submitted"] = state.object
                global.output.emit(object, text: command.text + "\n" + state.text)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode a command file and check its signature against the operator key this directory holds for its cluster.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A file written by `custos cluster command … --out`.") var file: String

        func run() async throws {
            try await runReporting { try global.requireLocal("cluster command show") }
            try await withKeystore(global) { service in
                let command = try ClusterCommandFile.read(file)
                let signer = try await service.operatorKeyThatSigned(command)
                var object = command.summary
                object["signed_by"] = signer
                global.output.emit(object, text: command.text + "\nsignature valid: \(signer)")
            }
        }
    }

    struct OperatorKeyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "operator-key", abstract: "The operator key a rotate-operator-key command introduced: promote or discard it.",
            subcommands: [Promote.self, Discard.self])

        struct Promote: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Sign with the pending operator key from now on and crypto-shred the old one, once its command executed.",
                discussion: """
                    With --server, the replica must report the rotate-operator-key command executed or complete (its digest \
                    matching the one signed here). Without, --confirm-executed says the operator checked it: promoting a key \
                    the replicas do not know loses the ability to sign accepted commands.
                    """)
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "The cluster, when this directory created several (default: the newest).") var clusterID: String?
            @Flag(name: .long, help: "Promote without asking a replica: the command is known to have executed.") var confirmExecuted = false

            func run() async throws {
                try await runReporting {
                    let cluster = try CommandOptions.parse(clusterID.map { ["--cluster-id", $0] } ?? []).cluster()
                    guard global.resolvedServer != nil || confirmExecuted else {
                        throw CLIError("give --server URL to check the command executed, or --confirm-executed")
                    }
                    let service = try await global.openKeystore(alsoTalksToServer: true)
                    do {
                        if global.resolvedServer != nil {
                            let (state, _) = try await service.clusterOperatorState(clusterID: cluster)
                            guard let number = state.pendingCommand else { throw CLIError("no operator key is pending") }
                            let signed = try await service.signedOperatorCommands(clusterID: state.clusterID).last { $0.number == number }
                            try await ClusterCommand.requireExecuted(number: number, digest: signed?.digest, global)
                        }
                        let promoted = try await service.promoteOperatorKey(clusterID: cluster, by: .local)
                        await signAuditHead(service)
                        try await service.close()
                        global.output.emit(["cluster_id": Hex.encode(promoted.clusterID), "operator_key": promoted.keyAlias],
                                           text: "operator key \(Output.field(promoted.keyAlias)) signs from now on; the previous one is destroyed")
                    } catch {
                        try? await service.close()
                        throw error
                    }
                }
            }
        }

        struct Discard: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Crypto-shred the pending operator key (its command was refused, void or contested).")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "The cluster, when this directory created several (default: the newest).") var clusterID: String?

            func run() async throws {
                try await runReporting { try global.requireLocal("cluster operator-key discard") }
                try await withKeystore(global) { service in
                    let cluster = try CommandOptions.parse(clusterID.map { ["--cluster-id", $0] } ?? []).cluster()
                    let state = try await service.discardPendingOperatorKey(clusterID: cluster, by: .local)
                    global.output.emit(["cluster_id": Hex.encode(state.clusterID), "operator_key": state.keyAlias],
                                       text: "pending operator key destroyed; \(Output.field(state.keyAlias)) still signs")
                }
            }
        }
    }
}
