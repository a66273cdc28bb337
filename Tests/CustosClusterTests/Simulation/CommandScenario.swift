import BLS12381
import CustosCluster
import CustosCrypto

/// What the operator-command simulations share: an operational cluster, rounds of the
/// service loop (relay, key exchange, scheduling, a checkpoint), and the checks every
/// rotation must pass.
extension SimulatedCluster {
    /// N replicas booted and operational (epoch 1 active everywhere, stable checkpoints collected).
    static func operational(n: Int, seed: UInt64, down: Set<Int> = []) async throws -> (SimulatedCluster, StubSequencer) {
        let cluster = try await SimulatedCluster(n: n, seed: seed)
        try await cluster.bootAll(except: down)
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        return (cluster, sequencer)
    }

    /// The log of replica r with its stable checkpoints, as `custos cluster log export` writes it.
    func export(from r: Int) async throws -> LogExport {
        let stored = try await node(r).logEntries(after: 0, limit: 10_000)
        let checkpoints = try await vaults[r].stableCheckpoints(after: 0, limit: 10_000)
        return LogExport(configuration: configuration, entries: try stored.map { try LogEntry(bytes: $0.bytes) },
                         checkpoints: try checkpoints.map { try CheckpointCertificate(bytes: $0.certificate) })
    }

    /// Every live replica's log head is the same.
    func headsAgree() async -> Bool {
        var heads = Set<[UInt8]>()
        for node in live { heads.insert(await node.status().logHead) }
        return heads.count == 1
    }

    func commandState(_ number: UInt64, at r: Int = 0) async -> CommandState? {
        await node(r).commands().last { $0.number == number }?.state
    }

    /// The public keys of a replica's key name, from replica `at`'s log.
    func keys(_ name: KeyName, at r: Int = 0) async -> ReplicaKeys? {
        await node(r).keyLog().key(name)
    }
}

extension StubSequencer {
    /// One round of every live replica's service loop: relay and key exchange, then the ledger
    /// schedules what is certified and passes one checkpoint. Refusals of a round are left to
    /// the audit (a round may have nothing to do, or too few peers).
    func round() async throws {
        for node in cluster.live { _ = try? await node.advanceKeyExchange() }
        try await scheduleCertified()
        try await checkpoint()
    }

    /// Rounds until `done` holds, at most `limit`; returns how many ran.
    @discardableResult
    func rounds(until done: () async -> Bool, limit: Int = 12) async throws -> Int {
        for count in 0..<limit {
            if await done() { return count }
            try await round()
        }
        return limit
    }
}

extension SimulatedCluster {
    /// The add-client descriptor of `keys` (epoch 0), signed by its signing key.
    func clientDescriptor(_ keys: TestClientKeys) async throws -> ClientDescriptor {
        try await ClientDescriptor.build(cluster: configuration.clusterID, client: keys.name.client, keys: keys.keySet) { keys.sign($0) }
    }

    /// The client record of `next`'s keys answering `command`, authorised by `authority` (the keys of e−1).
    func clientRecord(_ next: TestClientKeys, authority: TestClientKeys, command: UInt64) async throws -> ClientKeyRecord {
        try await ClientKeyRecord.build(cluster: configuration.clusterID, name: next.name, keys: next.candidate, command: command) {
            authority.sign($0)
        }
    }
}
