import Synchronization
import CustosCluster
import Testing

/// Signed checkpoints and consensus shares: mismatching ledger digests reported, one digest per boundary, and
/// notices out of ledger order refused with nothing stored.
@Suite("Simulation: checkpoints and notices")
struct CheckpointSimulationTests {
    @Test("a replica whose ledger digest differs is reported by its peers; the others still form a stable checkpoint")
    func mismatchReported() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1800)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        let boundary = 4 * cluster.interval
        let honest = StubSequencer.ledgerDigest(boundary), divergent = [UInt8](repeating: 0xEE, count: 32)
        for r in 0..<4 { _ = try await cluster.node(r).checkpoint(boundary: boundary, ledgerDigest: r == 3 ? divergent : honest) }

        let stable = try #require(try await cluster.node(0).collectCheckpoint(boundary: boundary))
        #expect(try CheckpointCertificate(bytes: stable).signers.map(\.key.replica) == [0, 1, 2].map { ReplicaID($0) })
        #expect(await cluster.node(0).status().checkpointMismatches == 1)
        let reported = await cluster.audits[0].events("cluster.checkpoint-mismatch")
        #expect(reported.count == 1)
        #expect(reported.first?.detail.hasPrefix("replica 3 signed ledger digest eeeeeeeeeeeeeeee") == true)

        #expect(try await cluster.node(3).collectCheckpoint(boundary: boundary) == nil)
        #expect(await cluster.node(3).status().checkpointMismatches == 3)
        #expect(await cluster.node(3).status().latestStableBoundary == 3 * cluster.interval)

        // Replica 3 never signs the other digest for that boundary.
        await #expect(throws: ClusterError.checkpointConflict(boundary: boundary)) {
            try await cluster.node(3).checkpoint(boundary: boundary, ledgerDigest: honest)
        }
        #expect(await cluster.audits[3].events("cluster.checkpoint", outcome: "refused").count == 1)
        // The same notice again is signed again, identically.
        let again = try await cluster.node(0).checkpoint(boundary: boundary, ledgerDigest: honest)
        let first = try CheckpointSignature(bytes: try await cluster.node(1).handlePeer(PeerRequest.checkpointSignature(boundary: boundary).encoded,
                                                                                       from: ReplicaID(0)))
        #expect(again.statement == first.statement)
    }

    @Test("schedule and checkpoint notices out of ledger order, off a boundary or malformed are refused and store nothing")
    func noticesOutOfOrder() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1900)
        try await cluster.bootAll()
        let node = cluster.node(0)
        let w = cluster.interval
        _ = try await node.checkpoint(boundary: w, ledgerDigest: StubSequencer.ledgerDigest(w))

        await #expect(throws: ClusterError.scheduleOutOfOrder(sequence: w, after: w)) {
            try await node.schedule(sequence: w, record: [1], certificate: [2])
        }
        await #expect(throws: ClusterError.checkpointNotOnBoundary(w + 1)) {
            try await node.checkpoint(boundary: w + 1, ledgerDigest: StubSequencer.ledgerDigest(w))
        }
        await #expect(throws: ClusterError.malformed("ledger digest must be 32 bytes, has 3")) {
            try await node.checkpoint(boundary: 2 * w, ledgerDigest: [1, 2, 3])
        }
        // keyset(4W + 1) is decided by the checkpoint at 3W, not yet handed in.
        await #expect(throws: ClusterError.keysetUndecided(sequence: 4 * w + 1, needsCheckpoint: 3 * w)) {
            try await node.schedule(sequence: 4 * w + 1, record: [1], certificate: [2])
        }
        #expect(await node.status().logLength == 0)
        #expect(try await cluster.vaults[0].logEntries(after: 0, limit: 10).isEmpty)
        #expect(await cluster.audits[0].events("cluster.schedule", outcome: "refused").count == 2)

        // Bytes that are no record at all still take their place in the ledger's order: a void entry.
        let summary = try await node.schedule(sequence: w + 1, record: [1], certificate: [2])
        #expect(!summary.accepted && summary.reason == "malformed-record" && summary.name == nil)
        #expect(try await node.schedule(sequence: w + 1, record: [1], certificate: [2]) == summary, "the same notice again")
        #expect(try await cluster.vaults[0].logEntries(after: 0, limit: 10).count == 1)
    }

    @Test("a consensus share is released only after its watermark decision returns, and not at all when it refuses")
    func shareWaitsForDecision() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 2100)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        cluster.crash(2)
        let gate = GatedDecisionVault.Gate()
        let node = try await cluster.boot(2, vault: GatedDecisionVault(inner: cluster.vaults[2], gate: gate))
        // Restarted: its floor is 3W + 2W; the checkpoint at 4W decides keyset(5W + 1).
        await sequencer.replay(to: 2)
        try await sequencer.checkpoint()
        let sequence = 5 * cluster.interval + 1
        let digest = [UInt8](repeating: 5, count: 32)
        let released = Mutex(false)
        let request = Task {
            let share = try await node.consensusShare(view: 0, sequence: sequence, phase: .commit, digest: digest)
            released.withLock { $0 = true }
            return share
        }
        await gate.waitUntilPending()
        #expect(released.withLock { $0 } == false, "no share while the decision is pending")
        #expect(await cluster.vaults[2].signedShares.isEmpty)
        gate.open()
        let share = try await request.value
        #expect(await cluster.vaults[2].signedShares[ConsensusSlot(view: 0, sequence: sequence, phase: .commit)] == digest)
        let key = try #require(await cluster.node(0).status().replicas[2].active)
        #expect(key == share.signer)

        await #expect(throws: ClusterError.shareConflict(ConsensusSlot(view: 0, sequence: sequence, phase: .commit))) {
            try await node.consensusShare(view: 0, sequence: sequence, phase: .commit, digest: [UInt8](repeating: 6, count: 32))
        }
    }
}
