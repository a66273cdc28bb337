import CustosAPI
import CustosClient
import CustosCluster
import CustosCrypto
import Foundation

/// Handing a signed command to a replica (`POST /v1/cluster/commands`) and reading its state.
extension ClusterCommand {
    /// A command's state as a replica reports it.
    struct SubmissionState {
        let status: ClusterCommandStatus

        var object: Any { Output.object(status) }

        var text: String {
            var line = "replica: command \(status.number) \(Output.field(status.state))"
            if status.state == "relaying" { line += " (\(status.approvals) of \(status.quorum) approvals)" }
            if let reason = status.reason, !reason.isEmpty { line += ": " + Output.field(reason) }
            if status.state == "contested" { line += "; reissue the command under a new number" }
            return line
        }
    }

    static func client(_ global: GlobalOptions) throws -> CustosClient {
        guard let server = global.resolvedServer else { throw CLIError("give --server URL") }
        let token = try global.bearerToken()
        return try CustosClient(server: server, token: token.copyBytes())
    }

    /// Submits the SignedCommand bytes; a refusal comes back as the server's error.
    static func submit(_ command: OperatorCommand, _ global: GlobalOptions) async throws -> SubmissionState {
        let status = try await client(global).submitClusterCommand(command.bytes)
        guard status.number == command.number, status.digest.lowercased() == Hex.encode(command.digest) else {
            throw CLIError("the replica answered for another command (number \(status.number), digest \(Output.field(String(status.digest.prefix(64)))))")
        }
        return SubmissionState(status: status)
    }

    /// Refuses unless the replica reports command `number` (with `digest`, when known) executed or complete.
    static func requireExecuted(number: UInt64, digest: [UInt8]?, _ global: GlobalOptions) async throws {
        let commands = try await client(global).clusterCommands().commands
        let expected = digest.map { Hex.encode($0) }
        guard let status = commands.first(where: { $0.number == number && (expected == nil || $0.digest.lowercased() == expected) }) else {
            throw CLIError("the replica does not know command \(number) as signed here")
        }
        guard ["executed", "complete"].contains(status.state) else {
            throw CLIError("command \(number) is \(Output.field(status.state)) at the replica, not executed: the new operator key is not in force yet")
        }
    }
}
