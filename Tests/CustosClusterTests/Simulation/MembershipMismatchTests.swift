import CustosCluster
import Testing

/// A data directory whose membership names another replica than the keys it holds (a row edited
/// behind the store, or a vault copied from another directory).
@Suite("Simulation: membership that does not match the vault")
struct MembershipMismatchTests {
    @Test("a node started as a replica whose keys its vault does not hold refuses to start, and answers no peer")
    func borrowedIdentity() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1700)
        try await cluster.bootAll(except: [2])
        // Replica 3's vault, started as replica 2.
        let impostor = ReplicaNode(configuration: cluster.configuration, replica: ReplicaID(2), vault: cluster.vaults[3],
                                   transport: cluster.network.transport(for: ReplicaID(2)), clock: cluster.clock,
                                   audit: cluster.audits[3], peerTimeout: cluster.peerTimeout)
        await #expect(throws: ClusterError.ownKeysMissing(ReplicaID(2))) { try await impostor.start() }
        await #expect(throws: ClusterError.notStarted) { try await impostor.handlePeer([0x81, 0x05], from: ReplicaID(0)) }
        #expect(ClusterError.ownKeysMissing(ReplicaID(2)).description.contains("does not match its keystore"))

        // Replica 2's own vault starts, and so does replica 3's after its bootstrap keys are
        // destroyed, once its epoch-1 keys are active (it holds its active keys).
        try await cluster.boot(2)
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        #expect(try await !cluster.vaults[3].holdsKeys(.bootstrap(ReplicaID(3))))
        cluster.crash(3)
        try await cluster.boot(3)
        #expect(await cluster.node(3).status().replicas[3].active == KeyName(replica: ReplicaID(3), generation: 0, epoch: 1))
    }
}
