import BLS12381
import CustosCluster
import Testing

/// Rotations ordered by operator commands: certified by Q replicas, scheduled, executed by each
/// target with one record naming the command, complete once every target's new key is active;
/// the old private keys are then gone and everything certified before still verifies.
@Suite("Simulation: operator-ordered rotation")
struct CommandRotationSimulationTests {
    static func name(_ r: Int, _ e: UInt64) -> KeyName { KeyName(replica: ReplicaID(r), generation: 0, epoch: e) }

    /// A consensus certificate by the first Q live replicas at the sequence after the latest checkpoint.
    static func consensusCertificate(_ cluster: SimulatedCluster) async throws -> (sequence: UInt64, digest: [UInt8], certificate: [UInt8]) {
        let sequence = await cluster.live[0].status().latestCheckpoint + 1
        let digest = [UInt8](repeating: 0x5A, count: 32)
        var shares: [ConsensusShare] = []
        for node in cluster.live.prefix(cluster.quorum) {
            shares.append(try await node.consensusShare(view: 0, sequence: sequence, phase: .commit, digest: digest))
        }
        let certificate = try await cluster.live[0].combineConsensus(view: 0, sequence: sequence, phase: .commit, digest: digest, shares: shares)
        return (sequence, digest, certificate)
    }

    /// After a rotation of `kinds` away from `old`: no vault holds those private keys under any
    /// name, and the old key name's keys are destroyed.
    static func expectOldKeysGone(_ cluster: SimulatedCluster, _ old: ReplicaKeys, renewed kinds: ReplicaKeyKinds,
                                  sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for vault in cluster.vaults {
            let held = await vault.heldPublicKeys
            if kinds.contains(.consensus) {
                #expect(!held.consensus.contains(old.consensusKey.compressedRepresentation), "old consensus key of \(old.name)", sourceLocation: sourceLocation)
            }
            if kinds.contains(.main) { #expect(!held.main.contains(old.mainKey), "old main key of \(old.name)", sourceLocation: sourceLocation) }
            if kinds.contains(.tls) { #expect(!held.tlsPins.contains(old.tlsPin), "old TLS key of \(old.name)", sourceLocation: sourceLocation) }
        }
        #expect(try await !cluster.vaults[old.name.replica.index].holdsKeys(old.name), sourceLocation: sourceLocation)
    }

    /// The log of every live replica verifies alone, and the certificate made before still verifies.
    static func expectLogAndEarlierCertificates(_ cluster: SimulatedCluster, before: (sequence: UInt64, digest: [UInt8], certificate: [UInt8]),
                                                sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(await cluster.headsAgree(), sourceLocation: sourceLocation)
        let export = try await cluster.export(from: cluster.live[0].replica.index)
        let report = try LogVerifier.verify(export.encoded)
        #expect(report.log.head == (await cluster.live[0].status().logHead), sourceLocation: sourceLocation)
        #expect(report.verifiedBoundary > 0 && export.checkpoints.count >= 2, sourceLocation: sourceLocation)
        for node in cluster.live {
            try await node.verifyConsensusCertificate(view: 0, sequence: before.sequence, phase: .commit, digest: before.digest,
                                                      certificate: before.certificate)
        }
    }

    @Test("rotate one replica: certified, scheduled, one record naming the command, active, old keys destroyed", arguments: [4, 7, 10])
    func rotateOne(n: Int) async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: n, seed: 3_000 + UInt64(n))
        let before = try await Self.consensusCertificate(cluster)
        let target = n - 1
        let old = try #require(await cluster.keys(Self.name(target, 1)))

        #expect(try await cluster.submit(1, .rotateReplicaKeys(targets: [ReplicaID(target)], kinds: .all)) == .certified)
        try await sequencer.rounds { await cluster.commandState(1) == .complete }
        for r in 0..<n { #expect(await cluster.commandState(1, at: r) == .complete, "replica \(r)") }

        let status = await cluster.node(0).status()
        #expect(status.replicas.map(\.active.epoch) == (0..<n).map { $0 == target ? 2 : 1 })
        #expect(status.replicas[target].pendingCommands.isEmpty)
        #expect(status.replicas[target].lastRotatedAt != nil)
        let new = try #require(await cluster.keys(Self.name(target, 2)))
        #expect(new.consensusKey != old.consensusKey && new.mainKey != old.mainKey && new.tlsPin != old.tlsPin)
        // The accepted record names the command.
        let entries = try await cluster.export(from: 0).entries
        let records = entries.filter { $0.kind == .replicaRecord && $0.status == .accepted }.compactMap { try? KeyExchangeRecord(bytes: $0.item) }
        #expect(records.first { $0.name == Self.name(target, 2) }?.command == 1)

        try await Self.expectOldKeysGone(cluster, old, renewed: .all)
        try await Self.expectLogAndEarlierCertificates(cluster, before: before)
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
        #expect(await cluster.audits[0].events("cluster.command-execute", outcome: "ok").count == 1)
        #expect(await cluster.audits[0].events("cluster.command-complete", outcome: "ok").count == 1)
        #expect(await cluster.audits[target].events("cluster.keys-destroyed").contains { $0.subject == "\(Self.name(target, 1))" })
    }

    @Test("rotate all replicas with f down: the live ones rotate, the others when they return", arguments: [4, 7, 10])
    func rotateAllWithFDown(n: Int) async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: n, seed: 3_100 + UInt64(n))
        let before = try await Self.consensusCertificate(cluster)
        var old: [ReplicaKeys] = []
        for r in 0..<n { old.append(try #require(await cluster.keys(Self.name(r, 1)))) }
        let down = Array((n - cluster.f)..<n)
        for r in down { cluster.crash(r) }

        #expect(try await cluster.submit(1, .rotateReplicaKeys(targets: nil, kinds: .all)) == .certified)
        let downRefs = down.map { NodeRef.replica(ReplicaID($0)) }
        try await sequencer.rounds {
            guard let state = await cluster.node(0).commands().first(where: { $0.number == 1 }) else { return false }
            return state.targetsRemaining == downRefs
        }
        let waiting = try #require(await cluster.node(0).commands().first { $0.number == 1 })
        #expect(waiting.state == .executed)
        #expect(waiting.targetsRemaining == downRefs, "only the replicas that are down remain")
        for r in 0..<(n - cluster.f) { #expect(await cluster.node(0).status().replicas[r].active == Self.name(r, 2)) }

        // They return, catch up, find the order in their log and execute it.
        for r in down {
            try await cluster.boot(r)
            await sequencer.replay(to: r)
        }
        try await sequencer.rounds { await cluster.commandState(1) == .complete }
        for r in 0..<n {
            #expect(await cluster.commandState(1, at: r) == .complete, "replica \(r)")
            #expect(await cluster.node(r).status().replicas.map(\.active.epoch) == Array(repeating: 2, count: n))
        }
        for keys in old { try await Self.expectOldKeysGone(cluster, keys, renewed: .all) }
        try await Self.expectLogAndEarlierCertificates(cluster, before: before)
    }

    @Test("each kind alone: the renewed key changes, the carried ones keep their public key and live on under the new name",
          arguments: [ReplicaKeyKinds.consensus.rawValue, ReplicaKeyKinds.main.rawValue, ReplicaKeyKinds.tls.rawValue])
    func eachKindAlone(raw: UInt64) async throws {
        let kinds = ReplicaKeyKinds(rawValue: raw)
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 3_200 + raw)
        let old = try #require(await cluster.keys(Self.name(1, 1)))
        #expect(try await cluster.submit(7, .rotateReplicaKeys(targets: [ReplicaID(1)], kinds: kinds), to: 2) == .certified)
        try await sequencer.rounds { await cluster.commandState(7) == .complete }
        #expect(await cluster.commandState(7) == .complete)

        let new = try #require(await cluster.keys(Self.name(1, 2)))
        #expect((new.consensusKey != old.consensusKey) == kinds.contains(.consensus))
        #expect((new.mainKey != old.mainKey) == kinds.contains(.main))
        #expect((new.tlsPin != old.tlsPin) == kinds.contains(.tls))
        try await Self.expectOldKeysGone(cluster, old, renewed: kinds)
        let held = await cluster.vaults[1].heldPublicKeys
        #expect(held.consensus.contains(new.consensusKey.compressedRepresentation) && held.main.contains(new.mainKey) && held.tlsPins.contains(new.tlsPin))
        // The carried keys still sign: a checkpoint after the rotation is stable with replica 1 in it.
        #expect(try await sequencer.checkpoint() == 4)
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
    }

    @Test("rotate every honest replica while f byzantine replicas answer approvals with bad shares", arguments: [4, 7, 10])
    func rotateWithByzantine(n: Int) async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: n, seed: 3_300 + UInt64(n))
        let byzantine = Set((0..<cluster.f).map { ReplicaID($0) })
        let stray = cluster.bootstrapConsensus[0]
        cluster.network.setResponseRewriter { _, to, bytes in
            guard byzantine.contains(to), let approval = try? Approval(bytes: bytes) else { return bytes }
            return Approval(approverKey: approval.approverKey, share: stray.signature(for: [1, 2, 3], domain: SignatureTag.commandApprovalDST)).encoded
        }
        let honest = (cluster.f..<n).map { ReplicaID($0) }
        #expect(try await cluster.submit(1, .rotateReplicaKeys(targets: honest, kinds: .all), to: n - 1) == .certified)
        try await sequencer.rounds { await cluster.commandState(1, at: n - 1) == .complete }
        #expect(await cluster.commandState(1, at: n - 1) == .complete)
        let status = await cluster.node(n - 1).status()
        #expect(status.replicas.map(\.active.epoch) == (0..<n).map { $0 < cluster.f ? 1 : 2 })
        #expect(await cluster.audits[n - 1].events("cluster.approval-received", outcome: "refused").contains { $0.detail.contains("does not verify") })
        #expect(await cluster.headsAgree())
    }

    @Test("with fewer than Q replicas up a command waits, nothing certified and nothing changed, and completes when they return")
    func waitsBelowQuorum() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 3_400)
        cluster.crash(2)
        cluster.crash(3)
        let lengthBefore = await cluster.node(0).status().logLength
        #expect(try await cluster.submit(1, .rotateReplicaKeys(targets: [ReplicaID(0)], kinds: .all)) == .relaying(approvals: 2, quorum: 3))
        for _ in 0..<3 { try await sequencer.round() }
        for r in 0..<2 {
            #expect(try await cluster.node(r).certifiedAwaitingSchedule().isEmpty)
            let status = await cluster.node(r).status()
            #expect(status.logLength == lengthBefore)
            #expect(status.replicas.map(\.active.epoch) == [1, 1, 1, 1])
        }
        #expect(await cluster.commandState(1) == .relaying(approvals: 2, quorum: 3))
        #expect(try await cluster.vaults[0].holdsKeys(Self.name(0, 1)))

        for r in [2, 3] {
            try await cluster.boot(r)
            await sequencer.replay(to: r)
        }
        try await sequencer.rounds { await cluster.commandState(1) == .complete }
        #expect(await cluster.commandState(1) == .complete)
        #expect(await cluster.node(3).status().replicas.map(\.active.epoch) == [2, 1, 1, 1])
        #expect(await cluster.headsAgree())
    }
}
