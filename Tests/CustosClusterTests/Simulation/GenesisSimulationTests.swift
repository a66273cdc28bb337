import CustosCluster
import Testing

/// Genesis to operational, with f replicas down or byzantine, and with f + 1 down.
@Suite("Simulation: genesis to operational")
struct GenesisSimulationTests {
    @Test("all replicas certify and activate epoch-1 keys; bootstrap keys are destroyed after the stable checkpoint", arguments: [4, 7, 10])
    func genesisToOperational(n: Int) async throws {
        let cluster = try await SimulatedCluster(n: n, seed: UInt64(n))
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")

        let reference = await cluster.node(0).status()
        #expect(reference.logLength == UInt64(n))
        for r in 0..<n {
            let status = await cluster.node(r).status()
            #expect(status.phase == .operational)
            #expect(status.logHead == reference.logHead)
            #expect(status.latestStableBoundary == 3 * cluster.interval)
            for key in status.replicas {
                #expect(key.active == KeyName(replica: key.replica, generation: 0, epoch: 1))
            }
            #expect(try await !cluster.vaults[r].holdsKeys(.bootstrap(ReplicaID(r))))
            #expect(try await cluster.vaults[r].holdsKeys(KeyName(replica: ReplicaID(r), generation: 0, epoch: 1)))
            #expect(await cluster.audits[r].events("cluster.keys-destroyed").count == 1)
            #expect(try await cluster.node(r).advanceKeyExchange() == .idle)
        }

        // Consensus shares by the epoch-1 keys combine into a certificate every replica verifies.
        let sequence = 3 * cluster.interval + 5
        let digest = [UInt8](repeating: 0xAB, count: 32)
        var shares: [ConsensusShare] = []
        for r in 0..<cluster.quorum {
            let share = try await cluster.node(r).consensusShare(view: 0, sequence: sequence, phase: .prepare, digest: digest)
            #expect(share.signer.epoch == 1)
            shares.append(share)
        }
        let certificate = try await cluster.node(n - 1).combineConsensus(view: 0, sequence: sequence, phase: .prepare, digest: digest, shares: shares)
        for r in 0..<n {
            try await cluster.node(r).verifyConsensusCertificate(view: 0, sequence: sequence, phase: .prepare, digest: digest, certificate: certificate)
        }
        await #expect(throws: ClusterError.badAggregateSignature) {
            try await cluster.node(0).verifyConsensusCertificate(view: 0, sequence: sequence, phase: .commit, digest: digest, certificate: certificate)
        }
    }
}

extension GenesisSimulationTests {
    @Test("f replicas crashed: the others' keys are still certified and activated", arguments: [4, 7, 10])
    func fCrashed(n: Int) async throws {
        let cluster = try await SimulatedCluster(n: n, seed: 100 + UInt64(n))
        let down = Set(0..<cluster.f)
        try await cluster.bootAll(except: down)
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
        for r in 0..<n where !down.contains(r) {
            let status = await cluster.node(r).status()
            #expect(status.phase == .operational)
            #expect(status.logLength == UInt64(n - cluster.f))
            for key in status.replicas {
                #expect(key.active.epoch == (down.contains(key.replica.index) ? 0 : 1))
            }
            #expect(try await !cluster.vaults[r].holdsKeys(.bootstrap(ReplicaID(r))))
        }
    }

    @Test("f byzantine replicas answering garbage and sending garbage: the others' keys are certified and activated", arguments: [4, 7, 10])
    func fByzantine(n: Int) async throws {
        let cluster = try await SimulatedCluster(n: n, seed: 200 + UInt64(n))
        let byzantine = Set((n - cluster.f)..<n).map { ReplicaID($0) }
        // Their answers are flipped in one byte, their requests truncated.
        cluster.network.setResponseRewriter { _, to, bytes in
            guard byzantine.contains(to), !bytes.isEmpty else { return bytes }
            var b = bytes
            b[b.count / 2] ^= 0x40
            return b
        }
        cluster.network.setRequestRewriter { from, _, bytes in byzantine.contains(from) ? Array(bytes.prefix(bytes.count / 2)) : bytes }
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        for r in 0..<(n - cluster.f) {
            let status = await cluster.node(r).status()
            #expect(status.phase == .operational)
            #expect(status.replicas[r].active.epoch == 1)
            #expect(try await !cluster.vaults[r].holdsKeys(.bootstrap(ReplicaID(r))))
            // The truncated requests were refused and audited, never answered.
            #expect(await !cluster.audits[r].events("cluster.peer", outcome: "refused").isEmpty)
        }
    }

    @Test("f + 1 replicas crashed: nothing is certified, nothing is destroyed, nothing is wrong", arguments: [4, 7, 10])
    func fPlusOneCrashed(n: Int) async throws {
        let cluster = try await SimulatedCluster(n: n, seed: 300 + UInt64(n))
        let down = Set(0...cluster.f)
        try await cluster.bootAll(except: down)
        let sequencer = StubSequencer(cluster: cluster)
        for r in 0..<n where !down.contains(r) {
            let progress = try await cluster.node(r).advanceKeyExchange()
            #expect(progress == .collecting(name: KeyName(replica: ReplicaID(r), generation: 0, epoch: 1), approvals: n - cluster.f - 1, quorum: cluster.quorum))
            #expect(try await cluster.node(r).certifiedAwaitingSchedule().isEmpty)
            // Recovering: fewer than Q answered, so no share is signed.
            #expect(await cluster.node(r).status().phase == .recovering)
            await #expect(throws: ClusterError.recovering) {
                try await cluster.node(r).consensusShare(view: 0, sequence: 1, phase: .prepare, digest: [UInt8](repeating: 1, count: 32))
            }
        }
        #expect(try await sequencer.scheduleCertified() == 0)
        for _ in 0..<3 { #expect(try await sequencer.checkpoint() == 0) }
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
        for r in 0..<n where !down.contains(r) {
            let status = await cluster.node(r).status()
            #expect(status.logLength == 0)
            #expect(status.latestStableBoundary == nil)
            #expect(try await cluster.vaults[r].holdsKeys(.bootstrap(ReplicaID(r))))
            #expect(await cluster.vaults[r].auditEvents.filter { $0.operation == "cluster.approve" }.count == n - cluster.f - 1)
        }
    }
}
