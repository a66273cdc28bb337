import CustosAPI
import CustosCluster
import CustosCrypto
import Foundation

/// The routes' port answered by the client node engine: its status, signatures with its active
/// signing key, and its verified copy of the key log. The replicas' routes are refused (409).
struct ClientEndpoints: ClusterEndpoints {
    let node: ClientNode
    /// Why the client node has not started, if it has not (named by the client service).
    var startFailure: @Sendable () async -> String? = { nil }

    var role: String { "client" }

    func phase() async -> String { await node.status().phase.rawValue }

    func status() async throws -> ClusterNodeStatus {
        let status = await node.status()
        let log = await node.keyLog()
        return .client(ClusterClientNodeStatus(
            clusterID: Hex.encode(node.configuration.clusterID), client: status.client.rawValue, phase: status.phase.rawValue,
            newestEpoch: status.newest?.epoch, activeEpoch: status.active?.epoch, pendingEpoch: status.candidate?.epoch,
            pendingCommands: log.pendingOrders(of: .client(status.client))?.commands ?? [],
            followedReplica: status.followedReplica.index, logLength: status.logLength, logHead: Hex.encode(status.logHead),
            latestCheckpoint: log.checkpointNotice, startError: await startFailure()))
    }

    func clientSign(_ message: [UInt8]) async throws -> ClusterClientSignature {
        let (name, signature) = try await node.sign(message)
        let scheme = await node.keyLog().clientKey(name)?.signingKey.scheme.rawValue ?? ""
        return ClusterClientSignature(client: name.client.rawValue, epoch: name.epoch, scheme: scheme, signature: Base64Text.encode(signature))
    }

    func log(after: UInt64, limit: Int, wait: Duration?) async throws -> ClusterLogResponse {
        // The client's log grows only when it follows; a wait is answered with what it holds.
        let entries = await node.keyLog().entries
        let page = Array(entries.dropFirst(Int(min(after, UInt64(entries.count)))).prefix(limit + 1))
        return try ReplicaEndpoints.logPage(page, after: after, limit: limit)
    }

    func export() async throws -> ClusterLogExport {
        throw ClusterRouteError.wrongRole(role)
    }
}
