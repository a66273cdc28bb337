import CustosAPI
import CustosCluster
import CustosCrypto
import Foundation

/// The routes' port answered by the replica engine: `ReplicaNode` in, API bodies out.
struct ReplicaEndpoints: ClusterEndpoints {
    let node: ReplicaNode
    let vault: any ReplicaVault
    /// Told of every checkpoint notice signed, so the service collects the peers' signatures.
    let checkpointSigned: @Sendable (UInt64) -> Void
    /// Why the replica has not started, if it has not (named by the cluster service).
    var startFailure: @Sendable () async -> String? = { nil }

    static func name(_ name: KeyName) -> ClusterKeyName {
        ClusterKeyName(replica: name.replica.index, generation: name.generation, epoch: name.epoch)
    }

    func phase() async -> String { await node.status().phase.rawValue }

    func status() async throws -> ClusterNodeStatus {
        var response = Self.statusResponse(await node.status(), configuration: node.configuration, log: await node.keyLog())
        response.startError = await startFailure()
        return .replica(response)
    }

    static func statusResponse(_ status: ReplicaStatus, configuration: ClusterConfiguration, log: KeyLog? = nil) -> ClusterStatusResponse {
        ClusterStatusResponse(
            clusterID: Hex.encode(configuration.clusterID), replica: status.replica.index, n: configuration.n, f: configuration.f,
            quorum: configuration.quorum, checkpointInterval: configuration.checkpointInterval, phase: status.phase.rawValue,
            replicas: status.replicas.map {
                ClusterReplicaKeys(replica: $0.replica.index, newestCertified: Self.name($0.newestCertified), active: Self.name($0.active),
                                   lastRotatedSequence: $0.lastRotatedAt, pendingCommands: $0.pendingCommands)
            },
            logLength: status.logLength, logHead: Hex.encode(status.logHead), latestSequence: status.latestSequence,
            latestCheckpoint: status.latestCheckpoint, latestStableBoundary: status.latestStableBoundary, restoreFloor: status.restoreFloor,
            pendingCandidate: status.pendingCandidate.map(Self.name), checkpointMismatches: status.checkpointMismatches,
            clients: log.map { ClusterCommandViews.clients(status.clients, log: $0) } ?? [],
            commands: status.commands.map { ClusterCommandViews.command($0, quorum: configuration.quorum) })
    }

    func certified() async throws -> ClusterCertifiedResponse {
        ClusterCertifiedResponse(records: try await node.certifiedAwaitingSchedule().map { item in
            ClusterCertifiedRecord(name: item.name.map(Self.name), record: Base64Text.encode(item.item), certificate: Base64Text.encode(item.certificate),
                                   kind: item.kind.name, item: Base64Text.encode(item.item), subject: item.subject)
        })
    }

    func schedule(sequence: UInt64, kind: String, item: [UInt8], certificate: [UInt8]) async throws -> ClusterLogEntry {
        guard let scheduled = ScheduledKind(name: kind) else { throw ClusterRouteError.invalid("unknown kind \(kind)") }
        let summary = try await node.schedule(sequence: sequence, kind: scheduled, item: item, certificate: certificate)
        var entry = ClusterLogEntry(index: summary.index, sequence: summary.sequence, name: nil,
                                    status: summary.accepted ? "accepted" : "void", reason: summary.reason, head: Hex.encode(summary.head),
                                    kind: scheduled.name)
        ClusterLogViews.describe(&entry, kind: scheduled, item: item)
        return entry
    }

    func submitCommand(_ bytes: [UInt8]) async throws -> ClusterCommandStatus {
        let state = try await node.submitCommand(bytes)
        // Accepted, so it decodes.
        let command = try OperatorCommand(bytes: bytes)
        let known = await node.commands().first { $0.digest == command.digest }
        return ClusterCommandViews.command(CommandStatus(number: command.number, action: command.action.name, digest: command.digest, state: state,
                                                         targetsRemaining: known?.targetsRemaining ?? [], sequence: known?.sequence),
                                           quorum: node.configuration.quorum)
    }

    func commands() async throws -> ClusterCommandsResponse {
        ClusterCommandsResponse(commands: await node.commands().map { ClusterCommandViews.command($0, quorum: node.configuration.quorum) })
    }

    func clients() async throws -> ClusterClientsResponse {
        let status = await node.status()
        return ClusterClientsResponse(clients: ClusterCommandViews.clients(status.clients, log: await node.keyLog()))
    }

    func checkpoint(boundary: UInt64, ledgerDigest: [UInt8]) async throws -> ClusterCheckpointSignature {
        let signed = try await node.checkpoint(boundary: boundary, ledgerDigest: ledgerDigest)
        checkpointSigned(boundary)
        return ClusterCheckpointSignature(boundary: signed.statement.boundary, ledgerDigest: Hex.encode(signed.statement.ledgerDigest),
                                          logLength: signed.statement.logLength, logHead: Hex.encode(signed.statement.logHead),
                                          signer: Self.name(signed.signer), signature: Base64Text.encode(signed.signature))
    }

    func stableCheckpoint(boundary: UInt64) async throws -> ClusterStableCheckpoint? {
        guard boundary >= 1 else { return nil }
        guard let stored = try await vault.stableCheckpoints(after: boundary - 1, limit: 1).first, stored.boundary == boundary else { return nil }
        return ClusterStableCheckpoint(boundary: boundary, certificate: Base64Text.encode(stored.certificate))
    }

    func share(_ message: ConsensusMessage) async throws -> ClusterShare {
        let share = try await node.consensusShare(view: message.view, sequence: message.sequence, phase: message.phase, digest: message.digest)
        return ClusterShare(signer: Self.name(share.signer), share: Base64Text.encode(share.share))
    }

    func combine(_ message: ConsensusMessage, shares: [(signer: KeyName, share: [UInt8])]) async throws -> [UInt8] {
        try await node.combineConsensus(view: message.view, sequence: message.sequence, phase: message.phase, digest: message.digest,
                                        shares: shares.map { ConsensusShare(signer: $0.signer, share: $0.share) })
    }

    func verify(_ message: ConsensusMessage, certificate: [UInt8]) async throws -> [ReplicaID] {
        try await node.verifyConsensusCertificate(view: message.view, sequence: message.sequence, phase: message.phase, digest: message.digest,
                                                  certificate: certificate)
        return try ClusterCertificate(bytes: certificate, replicaCount: node.configuration.n).signers
    }

    func log(after: UInt64, limit: Int, wait: Duration?) async throws -> ClusterLogResponse {
        let stored = if let wait {
            await node.waitForLog(after: after, limit: limit + 1, timeout: wait)
        } else {
            try await node.logEntries(after: after, limit: limit + 1)
        }
        return try Self.logPage(stored, after: after, limit: limit)
    }

    /// `stored` holds up to limit + 1 entries: one more says there is a next page.
    static func logPage(_ stored: [StoredLogEntry], after: UInt64, limit: Int) throws -> ClusterLogResponse {
        let entries = try stored.prefix(limit).map(ClusterLogViews.entry)
        return ClusterLogResponse(entries: entries, next: stored.count > limit ? after + UInt64(limit) : nil)
    }

    func export() async throws -> ClusterLogExport {
        let entries = try await StoredLogEntry.readAll(pageSize: 500) { try await node.logEntries(after: $0, limit: $1) }
        return try await Self.export(configuration: node.configuration, entries: entries, vault: vault)
    }

    static func export(configuration: ClusterConfiguration, entries: [StoredLogEntry], vault: any ReplicaVault) async throws -> ClusterLogExport {
        var checkpoints: [CheckpointCertificate] = []
        var after: UInt64 = 0
        while true {
            let page = try await vault.stableCheckpoints(after: after, limit: 500)
            checkpoints += try page.map { try CheckpointCertificate(bytes: $0.certificate) }
            guard page.count == 500, let last = page.last else { break }
            after = last.boundary
        }
        let export = LogExport(configuration: configuration, entries: try entries.map { try LogEntry(bytes: $0.bytes) }, checkpoints: checkpoints)
        return ClusterLogExport(format: ClusterLogExport.formatName, log: Base64Text.encode(export.encoded))
    }
}
