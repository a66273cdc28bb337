import CustosAPI
import CustosCluster
import CustosCrypto
import CustosJSON
import CustosKeystore
import Foundation

/// The replica network as a data directory holds it, for the command line's local mode: the
/// key log and stable checkpoints from the vault, with the same bodies the server answers. No
/// peer is asked, so no restore floor is known (the status says `recovering` then, as a
/// replica that has not heard from its peers would).
public struct LocalCluster: Sendable {
    let vault: KeystoreReplicaVault
    let configuration: ClusterConfiguration
    let replica: ReplicaID

    /// Nil when the data directory has joined no cluster.
    public static func open(_ keys: KeyService) async throws -> LocalCluster? {
        let vault = KeystoreReplicaVault(keys: keys)
        guard let membership = try await vault.membership() else { return nil }
        return LocalCluster(vault: vault, configuration: try ClusterConfiguration(signedBytes: membership.configuration),
                            replica: ReplicaID(membership.replica))
    }

    private func entries() async throws -> [StoredLogEntry] {
        try await StoredLogEntry.readAll(pageSize: 500) { try await vault.logEntries(after: $0, limit: $1) }
    }

    public func status() async throws -> ClusterStatusResponse {
        var log = try KeyLog(configuration: configuration, replaying: try await entries())
        let stable = try await vault.latestStableCheckpoint()
        if let stable, stable.boundary > log.checkpointNotice { try? log.checkpoint(boundary: stable.boundary) }
        let current = max(log.checkpointNotice, log.lastSequence) + 1
        let keyset = try? log.keyset(at: current)
        let replicas = configuration.replicas.map { descriptor in
            ReplicaKeyStatus(replica: descriptor.id, newestCertified: log.newestKeys(of: descriptor.id)?.name ?? .bootstrap(descriptor.id),
                             active: keyset?(descriptor.id)?.name ?? .bootstrap(descriptor.id))
        }
        let own = try await pendingCandidate(log)
        let status = ReplicaStatus(replica: replica, phase: .recovering, replicas: replicas, logLength: log.length, logHead: log.head,
                                   latestSequence: current - 1, latestCheckpoint: log.checkpointNotice, latestStableBoundary: stable?.boundary,
                                   restoreFloor: nil, pendingCandidate: own, checkpointMismatches: 0)
        return ReplicaEndpoints.statusResponse(status, configuration: configuration)
    }

    /// This replica's next key name when a candidate for it is stored but not yet in the log.
    private func pendingCandidate(_ log: KeyLog) async throws -> KeyName? {
        let next = (log.newestKeys(of: replica)?.name ?? .bootstrap(replica)).next
        return try await vault.candidate(next) != nil ? next : nil
    }

    public func log(after: UInt64, limit: Int) async throws -> ClusterLogResponse {
        let stored = try await vault.logEntries(after: after, limit: limit + 1)
        return try ReplicaEndpoints.logPage(stored, after: after, limit: limit)
    }

    public func export() async throws -> ClusterLogExport {
        try await ReplicaEndpoints.export(configuration: configuration, entries: try await entries(), vault: vault)
    }
}

/// `custos cluster log verify`: replays an exported log from its genesis configuration alone.
public enum ClusterLogCheck {
    public static func verify(_ bytes: [UInt8]) -> ClusterLogVerifyResponse {
        do {
            let export = try LogExport(bytes: bytes)
            let report = try LogVerifier.verify(export)
            let accepted = export.entries.filter { $0.status == .accepted }.count
            return ClusterLogVerifyResponse(valid: true, entries: report.log.length, accepted: UInt64(accepted), head: Hex.encode(report.log.head),
                                            checkpointsVerified: export.checkpoints.filter { $0.boundary <= report.verifiedBoundary }.count,
                                            latestStableBoundary: report.verifiedBoundary == 0 ? nil : report.verifiedBoundary,
                                            verifiedEntries: report.verifiedLength)
        } catch {
            return ClusterLogVerifyResponse(valid: false, entries: 0, accepted: 0, head: "", checkpointsVerified: 0, latestStableBoundary: nil,
                                            verifiedEntries: 0, problem: TerminalText.escaped("\(error)"))
        }
    }
}
