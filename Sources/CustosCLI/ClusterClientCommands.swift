import ArgumentParser
import CustosAPI
import CustosCluster
import CustosCrypto
import CustosKeystore
import Foundation

/// `custos cluster client init`: makes a data directory a client node of the replica network
/// (docs/cluster.md, "Client nodes").
extension ClusterCommand {
    struct Client: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Client nodes: set up this data directory as one.", subcommands: [Init.self])

        struct Init: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make this data directory client node K: verify the configuration, create its keys, write its descriptor for the operator.",
                discussion: """
                    The configuration file is the configuration.cbor `custos cluster genesis` wrote; --genesis-hash, given by the \
                    operator out of band, pins it. The descriptor file goes to the operator, who registers the client with \
                    `custos cluster command add-client --descriptor FILE`.
                    """)
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "This client's id, chosen by the operator (never one used before).") var clientID: UInt32
            @Option(name: .long, help: "The configuration file (configuration.cbor from genesis).") var configuration: String
            @Option(name: .long, help: "The genesis hash the operator gave, 64 hex digits.") var genesisHash: String
            @Option(name: .long, help: "The signing key's scheme: ed25519 or ecdsa-p256-sha256.") var signingScheme: String = "ed25519"
            @Option(name: .long, help: "Where to write the descriptor (default: client-K.descriptor.json in the current directory).") var out: String?

            func run() async throws {
                try await runReporting { try global.requireLocal("cluster client init") }
                try await withKeystore(global) { service in
                    guard let hash = Hex.decode(genesisHash), hash.count == 32 else { throw CLIError("--genesis-hash must be 64 hex digits") }
                    guard let scheme = SignatureScheme(rawValue: signingScheme), [.ed25519, .ecdsaP256SHA256].contains(scheme) else {
                        throw CLIError("--signing-scheme \(Output.field(String(signingScheme.prefix(40)))) is not ed25519 or ecdsa-p256-sha256")
                    }
                    let path = out ?? "client-\(clientID).descriptor.json"
                    guard !FileManager.default.fileExists(atPath: path) else { throw CLIError("\(Output.field(path)) exists already") }
                    let bytes = try NamedFile.read(configuration, what: "cluster configuration file", limit: ClusterBundle.maximumByteCount)
                    let result = try await service.clusterClientInit(client: ClientID(rawValue: clientID), configuration: Array(bytes),
                                                                     genesisHash: hash, signingScheme: scheme, by: .local)
                    try AtomicFile.write(ClientDescriptorFile(result.descriptor).encoded, to: path)
                    let keys = result.descriptor.keySet
                    global.output.emit([
                        "cluster_id": Hex.encode(result.configuration.clusterID), "client": Int(clientID), "descriptor": path,
                        "signing_scheme": scheme.rawValue, "signing_key": Hex.encode(keys.signingKey.rawRepresentation),
                        "tls_pin": Hex.encode(keys.tlsPin), "api_tls_pin": Hex.encode(keys.apiTLSPin),
                    ], text: """
                        client \(clientID) of cluster \(Hex.encode(result.configuration.clusterID)): keys (client \(clientID), e0) created
                        wrote \(Output.field(path)): give it to the operator (custos cluster command add-client --descriptor FILE)
                        """)
                }
            }
        }
    }
}

/// A client's descriptor on its way to the operator: `{"format": "custos-cluster-client-v1",
/// "descriptor": base64 ClientDescriptor, "client": K}`.
struct ClientDescriptorFile: Codable {
    static let format = "custos-cluster-client-v1"
    static let maximumByteCount = 4096

    var format: String
    var descriptor: String
    var client: UInt32

    init(_ descriptor: ClientDescriptor) {
        format = Self.format
        self.descriptor = Base64Text.encode(descriptor.encoded)
        client = descriptor.client.rawValue
    }

    var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data()) + [0x0a]
    }

    /// Reads a descriptor file; its binding is verified against the cluster when signed into a command.
    static func read(_ path: String) throws -> ClientDescriptor {
        let data = try NamedFile.data(path, what: "descriptor file", limit: maximumByteCount)
        guard let file = try? JSONDecoder().decode(ClientDescriptorFile.self, from: data), file.format == format else {
            throw CLIError("\(Output.field(path)) is not a \(format) JSON file")
        }
        guard let bytes = Base64Text.decode(file.descriptor) else { throw CLIError("the descriptor file's descriptor is not base64") }
        let descriptor: ClientDescriptor
        do {
            descriptor = try ClientDescriptor(bytes: bytes)
        } catch {
            throw CLIError("the descriptor does not decode: \(error)")
        }
        guard descriptor.client.rawValue == file.client else {
            throw CLIError("the descriptor file says client \(file.client) but its descriptor is for client \(descriptor.client.rawValue): the file was altered")
        }
        return descriptor
    }
}
