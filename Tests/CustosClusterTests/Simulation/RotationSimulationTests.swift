import CustosCluster
import Testing

/// Rotations after genesis: the proposal carries the previous certified record, approvals are
/// signed with each approver's current key, and a certificate whose signers rotated before it
/// was scheduled is certified again.
@Suite("Simulation: rotation")
struct RotationSimulationTests {
    static func name(_ r: Int, _ e: UInt64) -> KeyName { KeyName(replica: ReplicaID(r), generation: 0, epoch: e) }

    @Test("a certificate whose signers rotated before scheduling is void; the same record is re-approved under the new keys and activated")
    func recertifyAfterSignersRotated() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1600)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        let node0 = cluster.node(0)

        #expect(try await node0.requestRotation() == Self.name(0, 2))
        #expect(try await node0.requestRotation() == Self.name(0, 2), "the same candidate, not a second one")
        #expect(try await node0.advanceKeyExchange() == .certified(name: Self.name(0, 2)))
        let stale = try #require(try await node0.certifiedAwaitingSchedule().first)
        #expect(try ClusterCertificate(bytes: stale.certificate, replicaCount: 4).signerKeys.allSatisfy { $0.epoch == 1 })

        // Replicas 1, 2 and 3 rotate and activate epoch 2 first.
        for r in 1..<4 {
            try await cluster.node(r).requestRotation()
            #expect(try await cluster.node(r).advanceKeyExchange() == .certified(name: Self.name(r, 2)))
        }
        let scheduledBefore = sequencer.notices.count
        for r in 1..<4 {
            let certified = try await cluster.node(r).certifiedAwaitingSchedule()
            for c in certified { try await sequencer.schedule(record: c.record, certificate: c.certificate) }
        }
        #expect(sequencer.notices.count == scheduledBefore + 3)
        for _ in 0..<2 { try await sequencer.checkpoint() }
        #expect(await node0.status().replicas.map(\.active.epoch) == [1, 2, 2, 2])

        // Replica 0's saved certificate names epoch-1 keys of replicas that moved on.
        #expect(try await node0.certifiedAwaitingSchedule().isEmpty)
        try await sequencer.schedule(record: stale.record, certificate: stale.certificate)
        #expect(await cluster.audits[0].events("cluster.schedule", outcome: "void").last?.detail.hasSuffix(": certificate-invalid") == true)

        // Re-approved: the approvers' decisions stand (no second decision), the shares are by their new keys.
        let decisionsBefore = await cluster.vaults[1].auditEvents.filter { $0.operation == "cluster.approve" }.count
        #expect(try await node0.advanceKeyExchange() == .certified(name: Self.name(0, 2)))
        #expect(await cluster.vaults[1].auditEvents.filter { $0.operation == "cluster.approve" }.count == decisionsBefore)
        let fresh = try #require(try await node0.certifiedAwaitingSchedule().first)
        #expect(fresh.record == stale.record)
        let signers = try ClusterCertificate(bytes: fresh.certificate, replicaCount: 4).signerKeys
        #expect(signers.filter { $0.replica != ReplicaID(0) }.allSatisfy { $0.epoch == 2 })

        try await sequencer.scheduleCertified()
        for _ in 0..<3 { try await sequencer.checkpoint() }
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
        for r in 0..<4 {
            let status = await cluster.node(r).status()
            #expect(status.replicas.map(\.active.epoch) == [2, 2, 2, 2])
            #expect(try await !cluster.vaults[r].holdsKeys(Self.name(r, 1)), "epoch-1 keys destroyed after the stable checkpoint")
            #expect(try await cluster.vaults[r].holdsKeys(Self.name(r, 2)))
        }
        let heads = await Set(cluster.live.asyncMap { await $0.status().logHead })
        #expect(heads.count == 1)
    }

    @Test("an approver that lags behind the proposer's previous record checks it from the proposal")
    func laggingApproverUsesPreviousRecord() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 1700)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        // Replica 3 goes down; replica 0's epoch 2 is scheduled and active without it.
        cluster.crash(3)
        try await cluster.node(0).requestRotation()
        _ = try await cluster.node(0).advanceKeyExchange()
        try await sequencer.scheduleCertified()
        // Scheduled, not yet active: the next rotation waits.
        await #expect(throws: ClusterError.rotationPending(Self.name(0, 2))) { try await cluster.node(0).requestRotation() }
        for _ in 0..<3 { try await sequencer.checkpoint() }

        // Replica 3 restarts from its vault but cannot catch up (its peers are unreachable for
        // log fetches): its log still ends at epoch 1 for replica 0.
        cluster.network.setLinkRule { from, _, request in
            from == ReplicaID(3) && request != PeerRequest.status.encoded ? .drop : .deliver
        }
        try await cluster.boot(3)
        #expect(await cluster.node(3).status().replicas[0].newestCertified == Self.name(0, 1))
        cluster.network.setLinkRule(nil)

        try await cluster.node(0).requestRotation()
        let round = try await cluster.node(0).advanceKeyExchange()
        #expect(round == .certified(name: Self.name(0, 3)))
        // Replica 3 approved epoch 3 on the strength of the carried, certified epoch-2 record.
        #expect(await cluster.vaults[3].auditEvents.contains { $0.operation == "cluster.approve" && $0.subject == "\(Self.name(0, 3))" })
    }
}

extension RotationSimulationTests {
    @Test("approvals under a key no longer active, naming another approver, or over another record are not counted and are audited")
    func badApprovalsNotCounted() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 2000)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        let node0 = cluster.node(0)
        let target = try await node0.requestRotation()
        let record = try KeyExchangeRecord(bytes: try #require(await cluster.vaults[0].candidate(target)))
        let clusterID = cluster.configuration.clusterID
        let message = Approval.message(cluster: clusterID, record: record)
        let bootstrap2 = cluster.bootstrapConsensus[2], bootstrap3 = cluster.bootstrapConsensus[3]
        let otherRecord = Approval.message(cluster: clusterID, record: target, digest: [UInt8](repeating: 0, count: 32))
        let otherShare = try await cluster.vaults[1].signConsensus(Self.name(1, 1), otherRecord, domain: SignatureTag.keyLogApprovalDST)
        // Replica 3 answers with its destroyed bootstrap key's share (a copy kept by the test);
        // replica 2 answers as if it were replica 1; replica 1's answer is over another record.
        cluster.network.setResponseRewriter { from, to, bytes in
            guard from == ReplicaID(0) else { return bytes }
            switch to.index {
            case 3: return Approval(approverKey: .bootstrap(ReplicaID(3)), share: bootstrap3.signature(for: message, domain: SignatureTag.keyLogApprovalDST)).encoded
            case 2: return Approval(approverKey: Self.name(1, 1), share: bootstrap2.signature(for: message, domain: SignatureTag.keyLogApprovalDST)).encoded
            case 1: return Approval(approverKey: Self.name(1, 1), share: otherShare).encoded
            default: return bytes
            }
        }
        #expect(try await node0.advanceKeyExchange() == .collecting(name: target, approvals: 1, quorum: 3))
        let refused = await cluster.audits[0].events("cluster.approval-received", outcome: "refused").map(\.detail)
        #expect(refused.sorted() == [
            "replica 1: \(ClusterError.badShare(ReplicaID(1)))",
            "replica 2: \(ClusterError.approverMismatch(sender: ReplicaID(2), named: ReplicaID(1)))",
            "replica 3: \(ClusterError.signerKeyNotActive(.bootstrap(ReplicaID(3))))",
        ])
        #expect(try await cluster.vaults[0].certificate(target) == nil)

        cluster.network.setResponseRewriter(nil)
        #expect(try await node0.advanceKeyExchange() == .certified(name: target))
    }
}
