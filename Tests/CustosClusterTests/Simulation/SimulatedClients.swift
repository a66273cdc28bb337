import CustosCluster
import CustosCrypto
import Foundation
import Testing

/// Client nodes beside a `SimulatedCluster`: one in-memory vault and audit sink per client,
/// engines that crash and restart on their vault, the operator's commands signed with the
/// cluster's operator key, and rounds that drive replicas, ledger and clients together.
final class SimulatedClients: @unchecked Sendable {
    let cluster: SimulatedCluster
    let sequencer: StubSequencer
    let ids: [ClientID]
    let vaults: [ClientID: InMemoryClientVault]
    let audits: [ClientID: RecordingAuditSink]
    /// The live client engines; absent for a crashed one. Touched only from the test's task.
    private(set) var nodes: [ClientID: ClientNode] = [:]
    private(set) var nextCommand: UInt64 = 1

    /// Clients `ids` (ids chosen by the test), client i signing with `schemes[i % count]`.
    init(cluster: SimulatedCluster, sequencer: StubSequencer, ids: [Int], seed: UInt64,
         schemes: [SignatureScheme] = [.ed25519, .ecdsaP256SHA256]) {
        self.cluster = cluster
        self.sequencer = sequencer
        self.ids = ids.map { ClientID($0) }
        var vaults: [ClientID: InMemoryClientVault] = [:]
        var audits: [ClientID: RecordingAuditSink] = [:]
        for (i, id) in ids.enumerated() {
            vaults[ClientID(id)] = InMemoryClientVault(seed: seed &* 7_919 &+ UInt64(id), scheme: schemes[i % schemes.count])
            audits[ClientID(id)] = RecordingAuditSink()
        }
        self.vaults = vaults
        self.audits = audits
    }

    func node(_ k: Int) -> ClientNode { nodes[ClientID(k)]! }
    func vault(_ k: Int) -> InMemoryClientVault { vaults[ClientID(k)]! }
    func audit(_ k: Int) -> RecordingAuditSink { audits[ClientID(k)]! }
    var live: [ClientNode] { nodes.keys.sorted().map { nodes[$0]! } }

    /// Starts client k on its vault (a fresh engine: only the vault survives).
    @discardableResult
    func boot(_ k: Int) async throws -> ClientNode {
        let id = ClientID(k)
        let node = ClientNode(configuration: cluster.configuration, client: id, vault: vaults[id]!,
                              transport: cluster.network.transport(forClient: id), clock: cluster.clock, audit: audits[id]!,
                              peerTimeout: cluster.peerTimeout)
        nodes[id] = node
        try await node.start()
        return node
    }

    func crash(_ k: Int) { nodes[ClientID(k)] = nil }

    // MARK: Operator

    /// A command signed by the operator key, numbered in order unless `number` is given.
    func command(_ action: OperatorCommand.Action, number: UInt64? = nil) async throws -> OperatorCommand {
        let c = number ?? nextCommand
        nextCommand = max(nextCommand, c + 1)
        return try await cluster.command(c, action)
    }

    /// Submits a command to replica `via` and runs rounds until the ledger has scheduled it.
    @discardableResult
    func execute(_ action: OperatorCommand.Action, via r: Int = 0) async throws -> OperatorCommand {
        let command = try await command(action)
        _ = try await cluster.node(r).submitCommand(command.bytes)
        try await run(until: { try await self.isScheduled(command.bytes, observer: r) })
        return command
    }

    /// Adds every client (add-client, in id order), activates them, and boots and runs each.
    func addAll() async throws {
        for id in ids {
            let descriptor = try await vaults[id]!.initialDescriptor(cluster: cluster.configuration.clusterID, client: id)
            try await execute(.addClient(descriptor))
        }
        try await activate()
        for id in ids { try await boot(Int(id.rawValue)) }
        try await round()
    }

    // MARK: Rounds

    /// One round: every live replica relays, the ledger schedules what is certified, every
    /// live client follows (without waiting) and acts.
    func round() async throws {
        for node in cluster.live { await node.relayRound() }
        try await sequencer.scheduleCertified()
        for node in live { try await node.follow(wait: .zero) }
    }

    /// Rounds until `done` holds, at most `limit`; fails the test's expectation by returning false.
    @discardableResult
    func run(until done: () async throws -> Bool, limit: Int = 12) async throws -> Bool {
        for _ in 0..<limit {
            if try await done() { return true }
            try await round()
        }
        return try await done()
    }

    /// Checkpoints until what is scheduled now is active and a stable checkpoint at its
    /// activation boundary is collected; clients follow after each.
    func activate() async throws {
        for _ in 0..<3 {
            try await sequencer.checkpoint()
            for node in live { try await node.follow(wait: .zero) }
        }
    }

    /// Runs rounds until no live client has a pending order in replica `observer`'s log (each
    /// record accepted), then activates what was scheduled.
    @discardableResult
    func complete(observer: Int = 0, limit: Int = 12) async throws -> Bool {
        let done = try await run(until: {
            let log = try await self.replicaLog(observer)
            return self.nodes.keys.allSatisfy { log.pendingOrders(of: .client($0)) == nil }
        }, limit: limit)
        try await activate()
        return done
    }

    /// Whether replica `observer`'s log holds an entry with this item (accepted or void).
    func isScheduled(_ item: [UInt8], observer: Int = 0) async throws -> Bool {
        try await cluster.vaults[observer].logEntries(after: 0, limit: 100_000).contains { try LogEntry(bytes: $0.bytes).item == item }
    }

    /// Replica r's key log, rebuilt from its vault (what it would export) and brought to the
    /// latest checkpoint notice it has seen.
    func replicaLog(_ r: Int) async throws -> KeyLog {
        var log = try KeyLog(configuration: cluster.configuration, replaying: try await cluster.vaults[r].logEntries(after: 0, limit: 100_000))
        let checkpoint = await cluster.node(r).status().latestCheckpoint
        if checkpoint > log.checkpointNotice, checkpoint >= log.lastSequence { try log.checkpoint(boundary: checkpoint) }
        return log
    }

    /// The accepted client records of a log, in log order.
    func acceptedClientRecords(in log: KeyLog) throws -> [ClientKeyRecord] {
        try log.entries.indices.compactMap { index in
            let entry = try LogEntry(bytes: log.entries[index].bytes)
            guard entry.kind == .clientRecord, entry.status == .accepted else { return nil }
            return try ClientKeyRecord(bytes: entry.item)
        }
    }

    /// Every live client holds the replicas' log (same head), every replica's log is the same,
    /// and the exported log verifies from genesis alone up to its last stable checkpoint.
    func expectLogsAgree(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let heads = await Set(cluster.live.asyncMap { await $0.status().logHead })
        #expect(heads.count == 1, sourceLocation: sourceLocation)
        for node in live {
            let status = await node.status()
            #expect(heads.contains(status.logHead), "\(status.client) follows the same log", sourceLocation: sourceLocation)
        }
        let observer = cluster.ids.first { cluster.nodes[$0.index] != nil }!.index
        let entries = try await cluster.vaults[observer].logEntries(after: 0, limit: 100_000).map { try LogEntry(bytes: $0.bytes) }
        let checkpoints = try await cluster.vaults[observer].stableCheckpoints(after: 0, limit: 100_000).map { try CheckpointCertificate(bytes: $0.certificate) }
        let report = try LogVerifier.verify(LogExport(configuration: cluster.configuration, entries: entries, checkpoints: checkpoints).encoded)
        #expect(report.log.head == heads.first, sourceLocation: sourceLocation)
        #expect(report.verifiedLength == UInt64(entries.count), "every entry covered by a stable checkpoint", sourceLocation: sourceLocation)
    }
}
