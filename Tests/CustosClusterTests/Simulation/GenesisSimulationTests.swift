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
