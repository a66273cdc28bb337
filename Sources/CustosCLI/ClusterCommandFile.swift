import CustosAPI
import CustosCluster
import CustosCrypto
import CustosKeystore
import Foundation

/// The file an operator command travels in between the operator's (possibly offline) data
/// directory and a replica: `{"format": "custos-cluster-command-v1", "command": base64
/// SignedCommand, "number", "action", "expires_at"}`. The signed bytes are the command; the
/// other fields are for people and must agree with them.
struct ClusterCommandFile: Codable {
    static let format = "custos-cluster-command-v1"
    /// A SignedCommand of 4096 bytes in base64, with the other fields and room to spare.
    static let maximumByteCount = 16 * 1024

    var format: String
    var command: String
    var number: UInt64
    var action: String
    var expiresAt: UInt64
    var digest: String?

    enum CodingKeys: String, CodingKey {
        case format, command, number, action, digest
        case expiresAt = "expires_at"
    }

    init(_ command: OperatorCommand) {
        format = Self.format
        self.command = Base64Text.encode(command.bytes)
        number = command.number
        action = command.action.name
        expiresAt = command.expiresAt
        digest = Hex.encode(command.digest)
    }

    var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data()) + [0x0a]
    }

    /// Reads a command file: its format, the command's shape, and that the fields for people
    /// say what the signed bytes say. The operator signature is checked by `show` (against the
    /// operator's directory) and by every replica.
    static func read(_ path: String) throws -> OperatorCommand {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int else {
            throw CLIError("cannot read command file \(Output.field(path))")
        }
        guard size <= maximumByteCount else { throw CLIError("the command file is over \(maximumByteCount) bytes") }
        let data = try NamedFile.data(path, what: "command file")
        guard let file = try? JSONDecoder().decode(ClusterCommandFile.self, from: data) else {
            throw CLIError("\(Output.field(path)) is not a \(format) JSON file")
        }
        guard file.format == format else { throw CLIError("the command file's format is not \(format)") }
        guard let bytes = Base64Text.decode(file.command) else { throw CLIError("the command file's command is not base64") }
        let command: OperatorCommand
        do {
            command = try OperatorCommand(bytes: bytes)
        } catch {
            throw CLIError("the command file's command does not decode: \(error)")
        }
        guard command.number == file.number, command.action.name == file.action, command.expiresAt == file.expiresAt,
              file.digest.map({ $0.lowercased() == Hex.encode(command.digest) }) ?? true else {
            throw CLIError("the command file's number, action, expiry or digest differ from its signed command: the file was altered")
        }
        return command
    }
}

extension OperatorCommand {
    /// The command's fields for `--json` output.
    var summary: [String: Any] {
        var object: [String: Any] = [
            "cluster_id": Hex.encode(clusterID), "number": number, "action": action.name, "expires_at": expiresAt,
            "expires": Output.timestamp(Date(timeIntervalSince1970: TimeInterval(expiresAt))), "digest": Hex.encode(digest),
        ]
        switch action {
        case .rotateReplicaKeys(let targets, let kinds):
            object["targets"] = targets.map { $0.map(\.index) as Any } ?? "all"
            object["kinds"] = kinds.names
        case .rotateClientKeys(let targets, let kinds):
            object["targets"] = targets.map { $0.map { Int($0.rawValue) } as Any } ?? "all"
            object["kinds"] = kinds.names
        case .addClient(let descriptor):
            object["client"] = Int(descriptor.client.rawValue)
            object["signing_scheme"] = descriptor.keySet.signingKey.scheme.rawValue
            object["signing_key"] = Hex.encode(descriptor.keySet.signingKey.rawRepresentation)
            object["tls_pin"] = Hex.encode(descriptor.keySet.tlsPin)
            object["api_tls_pin"] = Hex.encode(descriptor.keySet.apiTLSPin)
        case .removeClient(let client):
            object["client"] = Int(client.rawValue)
        case .replaceReplica(let replica):
            object["replica"] = replica.id.index
            object["address"] = replica.address
            object["tls_pin"] = Hex.encode(replica.tlsPin)
        case .rotateOperatorKey(let key, _):
            object["operator_key"] = ["scheme": key.scheme.rawValue, "public_key": Hex.encode(key.rawRepresentation)]
        }
        return object
    }

    /// One line per field, values escaped, for people.
    var text: String {
        var lines = ["command \(number) \(action.name) for cluster \(Hex.encode(clusterID))",
                     "expires \(Output.timestamp(Date(timeIntervalSince1970: TimeInterval(expiresAt))))",
                     "digest \(Hex.encode(digest))"]
        switch action {
        case .rotateReplicaKeys(let targets, let kinds):
            lines.append("replicas \(targets.map { $0.map { String($0.rawValue) }.joined(separator: ",") } ?? "all"), kinds \(kinds.names.joined(separator: ","))")
        case .rotateClientKeys(let targets, let kinds):
            lines.append("clients \(targets.map { $0.map { String($0.rawValue) }.joined(separator: ",") } ?? "all"), kinds \(kinds.names.joined(separator: ","))")
        case .addClient(let descriptor):
            lines.append("client \(descriptor.client.rawValue), \(descriptor.keySet.signingKey.scheme.rawValue) signing key \(Hex.encode(descriptor.keySet.signingKey.rawRepresentation))")
        case .removeClient(let client):
            lines.append("client \(client.rawValue)")
        case .replaceReplica(let replica):
            lines.append("replica \(replica.id.rawValue) at \(Output.field(replica.address)), TLS pin \(Hex.encode(replica.tlsPin))")
        case .rotateOperatorKey(let key, _):
            lines.append("new operator key \(key.scheme.rawValue) \(Hex.encode(key.rawRepresentation))")
        }
        return lines.joined(separator: "\n")
    }
}
