import ArgumentParser
import CustosCluster
import CustosCrypto
import CustosKeystore
import Foundation

/// `custos cluster enrol | genesis | join`: how a replica network starts (docs/cluster.md,
/// "Configuration and genesis"). Local only: they act on a data directory's own keys.
extension ClusterCommand {
    struct Enrol: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create (or show) this data directory's X25519 enrolment key and print its public key for the operator.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await withKeystore(global) { service in
                let key = try await service.clusterEnrol(by: .local)
                let hex = Hex.encode(key.rawRepresentation)
                global.output.emit(["enrolment_key": hex, "algorithm": key.algorithm.rawValue], text: hex)
            }
        }
    }

    struct Genesis: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a cluster: sign its configuration with the operator key and write one sealed bundle per replica.",
            discussion: """
                Run on the operator's data directory. The operator key (alias cluster-operator in tenant cluster) is created \
                or reused. Each --replica is ID=HOST:PORT, with ,enrolment=HEX (the key `custos cluster enrol` printed on that \
                replica) to seal its bundle to it; a replica without one gets a bundle sealed under --bundle-passphrase-file. \
                Bundles are written to --out as replica-ID.bundle.json; the operator's copies of the bootstrap private keys \
                are destroyed once they are written.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("replica"), help: "ID=HOST:PORT[,enrolment=HEX], once per replica, IDs 0…N−1.") var replicas: [String] = []
        @Option(name: .long, help: "Checkpoint interval W (sequence numbers between checkpoints, ≥ 1).") var checkpointInterval: UInt64
        @Option(name: .long, help: "Directory the bundles are written to (must exist).") var out: String
        @Option(name: .long, help: "Seal bundles of replicas without an enrolment key under the passphrase in this file.")
        var bundlePassphraseFile: String?
        @Option(name: .long, help: "Operator key scheme when it is created: ed25519 or ecdsa-p384-sha384.") var operatorScheme: String = "ed25519"
        @Option(name: .customLong("bundle-scrypt-log-n"), help: "scrypt cost of passphrase bundles as log2(N), 10–22.") var scryptLogN: Int = 16

        func validate() throws {
            guard !replicas.isEmpty else { throw ValidationError("give each replica with --replica ID=HOST:PORT[,enrolment=HEX]") }
            guard checkpointInterval >= 1 else { throw ValidationError("--checkpoint-interval must be at least 1") }
            guard (10...22).contains(scryptLogN) else { throw ValidationError("--bundle-scrypt-log-n must be 10–22") }
        }

        func run() async throws {
            try await withKeystore(global) { service in
                let named = try Self.parse(replicas)
                guard let scheme = SignatureScheme(rawValue: operatorScheme) else {
                    throw CLIError("--operator-scheme must be ed25519 or ecdsa-p384-sha384")
                }
                let passphrase = try bundlePassphraseFile.map {
                    try Secret.read(file: $0, environment: "CUSTOS_BUNDLE_PASSPHRASE", what: "bundle passphrase", prompt: nil, hint: "")
                }
                let result = try await service.clusterGenesis(replicas: named, checkpointInterval: checkpointInterval, outputDirectory: out,
                                                              passphrase: passphrase, passphraseCost: PassphraseRoot.Cost(logN: scryptLogN),
                                                              operatorScheme: scheme, by: .local)
                let configuration = result.configuration
                let object: [String: Any] = [
                    "cluster_id": Hex.encode(configuration.clusterID), "genesis_hash": Hex.encode(configuration.genesisHash),
                    "replicas": configuration.n, "quorum": configuration.quorum, "checkpoint_interval": configuration.checkpointInterval,
                    "operator_key": ["scheme": configuration.operatorKey.scheme.rawValue, "public_key": Hex.encode(configuration.operatorKey.rawRepresentation)],
                    "bundles": result.bundlePaths, "configuration": result.configurationPath,
                ]
                global.output.emit(object, text: """
                    cluster \(Hex.encode(configuration.clusterID)): \(configuration.n) replicas, quorum \(configuration.quorum), W = \(configuration.checkpointInterval)
                    genesis hash \(Hex.encode(configuration.genesisHash))
                    \(result.bundlePaths.map { "wrote " + Output.field($0) }.joined(separator: "\n"))
                    wrote \(Output.field(result.configurationPath)) (the public configuration, for client nodes)
                    the operator's copies of the bootstrap private keys are destroyed
                    """)
            }
        }

        /// `ID=HOST:PORT[,enrolment=HEX]`, IDs 0…N−1 each once.
        static func parse(_ specs: [String]) throws -> [GenesisReplica] {
            var byID: [Int: GenesisReplica] = [:]
            for spec in specs {
                let parts = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                let head = parts[0].split(separator: "=", maxSplits: 1).map(String.init)
                guard head.count == 2, let id = Int(head[0]), (0..<256).contains(id), !head[1].isEmpty else {
                    throw CLIError("--replica \(Output.field(spec)) is not ID=HOST:PORT[,enrolment=HEX]")
                }
                var enrolment: KeyAgreementPublicKey?
                for option in parts.dropFirst() {
                    guard option.hasPrefix("enrolment="), let raw = Hex.decode(String(option.dropFirst("enrolment=".count))) else {
                        throw CLIError("--replica \(id): unknown option \(Output.field(option)) (only enrolment=HEX)")
                    }
                    do {
                        enrolment = try KeyAgreementPublicKey(rawRepresentation: raw, algorithm: .x25519)
                    } catch {
                        throw CLIError("--replica \(id): the enrolment key is not a 32-byte X25519 public key")
                    }
                }
                guard byID.updateValue(GenesisReplica(address: head[1], enrolmentKey: enrolment), forKey: id) == nil else {
                    throw CLIError("--replica \(id) is given twice")
                }
            }
            guard Set(byID.keys) == Set(0..<byID.count) else { throw CLIError("replica ids must be 0…N−1, each once") }
            return (0..<byID.count).map { byID[$0]! }
        }
    }

    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a cluster with this replica's bundle (from genesis, or from replace-replica): verify it, open its keys and import them wrapped.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "The bundle file `custos cluster genesis` wrote for this replica.") var bundle: String
        @Option(name: .long, help: "The passphrase of a passphrase-sealed bundle (else $CUSTOS_BUNDLE_PASSPHRASE).") var bundlePassphraseFile: String?
        @Option(name: .long, help: "The genesis hash `custos cluster genesis` printed, given by the operator out of band: a bundle from any other genesis is refused.")
        var genesisHash: String?
        @Option(name: .long, help: "A replacement bundle's command is checked against the configuration's operator key; after a rotate-operator-key, give the current one here (hex: 32 bytes ed25519, 97 bytes P-384).")
        var operatorKey: String?

        func run() async throws {
            try await withKeystore(global) { service in
                let currentOperatorKey: OperatorKey? = try operatorKey.map { text in
                    guard let raw = Hex.decode(text), let key = try? OperatorKey(scheme: raw.count == 32 ? .ed25519 : .ecdsaP384SHA384, rawRepresentation: raw) else {
                        throw CLIError("--operator-key is not an ed25519 (32 bytes) or P-384 (97 bytes) public key in hex")
                    }
                    return key
                }
                let expected: [UInt8]? = try genesisHash.map { text in
                    guard let bytes = Hex.decode(text), bytes.count == 32 else { throw CLIError("--genesis-hash must be 64 hex digits") }
                    return bytes
                }
                let data = try NamedFile.data(bundle, what: "bundle file")
                guard data.count <= ClusterBundle.maximumByteCount else { throw CLIError("the bundle file is over \(ClusterBundle.maximumByteCount) bytes") }
                let passphrase = try Secret.readOptional(file: bundlePassphraseFile, environment: "CUSTOS_BUNDLE_PASSPHRASE", what: "bundle passphrase")
                let result = try await service.clusterJoin(bundle: Array(data), passphrase: passphrase, expectedGenesisHash: expected,
                                                           operatorKey: currentOperatorKey, by: .local)
                let configuration = result.configuration
                global.output.emit([
                    "cluster_id": Hex.encode(configuration.clusterID), "genesis_hash": Hex.encode(configuration.genesisHash),
                    "replica": Int(result.replica.rawValue), "replicas": configuration.n, "generation": result.generation,
                ], text: "joined cluster \(Hex.encode(configuration.clusterID)) as replica \(result.replica.rawValue) of \(configuration.n)"
                    + (result.generation > 0 ? ", generation \(result.generation): it catches up on the key log from its peers" : ""))
            }
        }
    }
}
