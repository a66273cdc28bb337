import CustosCluster
import Testing

/// Crashes, restarts, restored backups, lagging replicas and network faults.
@Suite("Simulation: recovery and network faults")
struct RecoverySimulationTests {
    static func epoch1(_ r: Int) -> KeyName { KeyName(replica: ReplicaID(r), generation: 0, epoch: 1) }

    @Test("an amnesiac restart mid key-exchange re-sends the stored candidate, which is certified and activated")
    func amnesiacRestart() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1200)
        try await cluster.bootAll()
        // Only replica 1 hears replica 0's first proposal.
        cluster.network.setLinkRule { from, to, _ in from == ReplicaID(0) && to != ReplicaID(1) ? .drop : .deliver }
        #expect(try await cluster.node(0).advanceKeyExchange() == .collecting(name: Self.epoch1(0), approvals: 2, quorum: 3))
        let stored = try #require(await cluster.vaults[0].candidate(Self.epoch1(0)))

        cluster.crash(0)
        cluster.network.setLinkRule(nil)
        try await cluster.boot(0)
        #expect(try await cluster.node(0).advanceKeyExchange() == .certified(name: Self.epoch1(0)))
        let certified = try await cluster.node(0).certifiedAwaitingSchedule()
        #expect(certified.map(\.record) == [stored], "the same record bytes, not a new candidate")
        // Replica 1 decided once and answered the re-sent record again.
        #expect(await cluster.vaults[1].auditEvents.filter { $0.operation == "cluster.approve" }.count == 1)

        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
        #expect(await cluster.node(0).status().replicas[0].active == Self.epoch1(0))
        #expect(try await !cluster.vaults[0].holdsKeys(.bootstrap(ReplicaID(0))))
    }

    @Test("a replica restored from a backup never signs a second digest for a consensus message it signed before")
    func restoredBackup() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1300)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        let w = cluster.interval
        let backup = await cluster.vaults[3].snapshot()

        // After the backup: the ledger moves on to a stable 4W; replica 3 signs a prepare at 4W + 5.
        try await sequencer.checkpoint()
        let sequence = 4 * w + 5
        let d1 = [UInt8](repeating: 0x11, count: 32), d2 = [UInt8](repeating: 0x22, count: 32)
        _ = try await cluster.node(3).consensusShare(view: 0, sequence: sequence, phase: .prepare, digest: d1)

        cluster.crash(3)
        await cluster.vaults[3].restore(backup)
        let slot = ConsensusSlot(view: 0, sequence: sequence, phase: .prepare)
        #expect(await cluster.vaults[3].signedShares[slot] == nil, "the restored vault forgot the share")
        try await cluster.boot(3)
        let status = await cluster.node(3).status()
        #expect(status.latestStableBoundary == 4 * w, "caught up to the peers' stable checkpoint")
        #expect(status.restoreFloor == 6 * w)
        await #expect(throws: ClusterError.belowFloor(sequence: sequence, floor: 6 * w)) {
            try await cluster.node(3).consensusShare(view: 0, sequence: sequence, phase: .prepare, digest: d2)
        }
        #expect(await cluster.vaults[3].signedShares[slot] == nil)

        // Past the floor it signs again, once the checkpoint at 5W decides keyset(6W + 1).
        await sequencer.replay(to: 3)
        try await sequencer.checkpoint()
        _ = try await cluster.node(3).consensusShare(view: 0, sequence: 6 * w + 1, phase: .prepare, digest: d2)
    }

    @Test("a lagging replica catches up from its peers to their stable checkpoint, then proposes and activates its keys", arguments: [4, 7])
    func laggingReplica(n: Int) async throws {
        let cluster = try await SimulatedCluster(n: n, seed: 1400 + UInt64(n))
        let lagging = n - 1
        try await cluster.bootAll(except: [lagging])
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        try await sequencer.checkpoint()
        let reference = await cluster.node(0).status()

        try await cluster.boot(lagging)
        let caughtUp = await cluster.node(lagging).status()
        #expect(caughtUp.logLength == reference.logLength)
        #expect(caughtUp.logHead == reference.logHead)
        #expect(caughtUp.latestStableBoundary == reference.latestStableBoundary)
        #expect(caughtUp.phase == .operational)
        #expect(await cluster.audits[lagging].events("cluster.catch-up", outcome: "ok").count >= 1)

        await sequencer.replay(to: lagging)
        #expect(try await cluster.node(lagging).advanceKeyExchange() == .certified(name: Self.epoch1(lagging)))
        try await sequencer.scheduleCertified()
        for _ in 0..<3 { try await sequencer.checkpoint() }
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
        let heads = await Set(cluster.live.asyncMap { await $0.status().logHead })
        #expect(heads.count == 1)
        #expect(await cluster.node(0).status().replicas[lagging].active == Self.epoch1(lagging))
        #expect(try await !cluster.vaults[lagging].holdsKeys(.bootstrap(ReplicaID(lagging))))
    }

    @Test("a peer that never answers times out on the clock; a delayed one is waited for; a partition certifies nothing until healed")
    func networkFaults() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1500)
        try await cluster.bootAll()
        let node0 = cluster.node(0)

        cluster.network.setLinkRule { from, to, _ in from == ReplicaID(0) && to == ReplicaID(3) ? .hang : .deliver }
        let before = cluster.network.counters.answered
        let round = Task { try await node0.advanceKeyExchange() }
        await cluster.network.waitUntil { $0.parked == 1 && $0.answered >= before + 2 }
        cluster.clock.advance(by: cluster.peerTimeout)
        #expect(try await round.value == .certified(name: Self.epoch1(0)))
        #expect(await cluster.audits[0].events("cluster.approval-received", outcome: "refused").map(\.detail) == ["replica 3: timed out"])

        // Replica 1: replica 2 drops its request, replica 3 answers late but within the timeout.
        cluster.network.setLinkRule { from, to, _ in
            guard from == ReplicaID(1) else { return .deliver }
            return to == ReplicaID(2) ? .drop : to == ReplicaID(3) ? .delay(.seconds(1)) : .deliver
        }
        let delayed = Task { try await cluster.node(1).advanceKeyExchange() }
        await cluster.network.waitUntil { $0.parked == 1 }
        cluster.clock.advance(by: .seconds(1))
        #expect(try await delayed.value == .certified(name: Self.epoch1(1)))

        cluster.network.setLinkRule(nil)
        cluster.network.partition([[ReplicaID(0), ReplicaID(1)], [ReplicaID(2), ReplicaID(3)]])
        #expect(try await cluster.node(2).advanceKeyExchange() == .collecting(name: Self.epoch1(2), approvals: 2, quorum: 3))
        cluster.network.partition(nil)
        #expect(try await cluster.node(2).advanceKeyExchange() == .certified(name: Self.epoch1(2)))
    }
}
