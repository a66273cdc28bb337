import Testing
@testable import CustosCluster

@Suite struct KeyNameTests {
    @Test func bootstrapIsEpochZeroAndNextCountsEpochs() {
        let bootstrap = KeyName.bootstrap(ReplicaID(3))
        #expect(bootstrap == KeyName(replica: ReplicaID(3), generation: 0, epoch: 0))
        #expect(bootstrap.next == KeyName(replica: ReplicaID(3), generation: 0, epoch: 1))
        #expect(bootstrap < bootstrap.next)
        #expect(KeyName(replica: ReplicaID(1), generation: 5, epoch: 9) < KeyName(replica: ReplicaID(2), generation: 0, epoch: 0))
    }
}
