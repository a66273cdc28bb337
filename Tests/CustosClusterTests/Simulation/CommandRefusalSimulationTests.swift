import BLS12381
import CustosCluster
import Testing

/// Bad commands: a clear refusal, an audit record, and nothing stored or changed.
@Suite("Simulation: operator command refusals")
struct CommandRefusalSimulationTests {
    /// Submits `bytes` to replica r and expects `error`, audited as a refused `cluster.command`,
    /// with nothing relayed and the log unchanged.
    func expectRefused(_ cluster: SimulatedCluster, _ bytes: [UInt8], to r: Int = 0, _ error: ClusterError,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let relayedBefore = try await cluster.vaults[r].relayed().count
        let lengthBefore = await cluster.node(r).status().logLength
        await #expect(throws: error, sourceLocation: sourceLocation) { try await cluster.node(r).submitCommand(bytes) }
        #expect(await cluster.audits[r].events("cluster.command", outcome: "refused").last?.detail == error.description, sourceLocation: sourceLocation)
        #expect(try await cluster.vaults[r].relayed().count == relayedBefore, "nothing stored", sourceLocation: sourceLocation)
        #expect(await cluster.node(r).status().logLength == lengthBefore, sourceLocation: sourceLocation)
    }

    static let rotateOne = OperatorCommand.Action.rotateReplicaKeys(targets: [ReplicaID(1)], kinds: .all)

    @Test("expired, valid too far ahead, signed by another key, by another cluster's operator, altered after signing")
    func badSignaturesAndExpiry() async throws {
        let (cluster, _) = try await SimulatedCluster.operational(n: 4, seed: 4_000)
        let now = cluster.now

        let expired = try await cluster.command(1, Self.rotateOne, expiresAt: now - OperatorCommand.clockSkew - 1)
        try await expectRefused(cluster, expired.bytes, .commandExpired(number: 1, expiresAt: now - OperatorCommand.clockSkew - 1, now: now))
        let farAhead = now + OperatorCommand.maximumValidity + OperatorCommand.clockSkew + 1
        let tooFar = try await cluster.command(1, Self.rotateOne, expiresAt: farAhead)
        try await expectRefused(cluster, tooFar.bytes, .commandExpiryTooFar(number: 1, expiresAt: farAhead, now: now))

        var random = SeededRandom(seed: 4_001)
        let stranger = try await cluster.command(1, Self.rotateOne, signer: random.ed25519Key())
        try await expectRefused(cluster, stranger.bytes, .badCommandSignature)

        let other = try await SimulatedCluster(n: 4, seed: 4_002)
        let foreign = try await other.command(1, Self.rotateOne)
        try await expectRefused(cluster, foreign.bytes, .clusterMismatch)
        let foreignOperator = try await cluster.command(1, Self.rotateOne, signer: other.operatorKey)
        try await expectRefused(cluster, foreignOperator.bytes, .badCommandSignature)

        // The kinds (the body's last byte, 7 = all) changed to 3 after signing.
        let genuine = try await cluster.command(1, Self.rotateOne).bytes
        var altered = genuine
        let kindsAt = altered.count - 64 - 2 - 1
        #expect(altered[kindsAt] == 7)
        altered[kindsAt] = 3
        try await expectRefused(cluster, altered, .badCommandSignature)
        // The same forgery relayed by a replica (request 6) is refused by the approver too.
        await #expect(throws: ClusterError.badCommandSignature) {
            try await cluster.node(2).handlePeer(PeerRequest.approveCommand(altered).encoded, from: ReplicaID(1))
        }
        #expect(await cluster.audits[2].events("cluster.command-approve", outcome: "refused").count == 1)

        // At the limit of the clock skew it is still approved.
        let justInTime = try await cluster.command(1, Self.rotateOne, expiresAt: now - OperatorCommand.clockSkew)
        #expect(try await cluster.node(0).submitCommand(justInTime.bytes) == .certified)
    }

    @Test("unknown targets: a replica beyond N, a client never added, removing a client never added")
    func unknownTargets() async throws {
        let (cluster, _) = try await SimulatedCluster.operational(n: 4, seed: 4_100)
        let beyond = try await cluster.command(1, .rotateReplicaKeys(targets: [ReplicaID(1), ReplicaID(4)], kinds: .all))
        try await expectRefused(cluster, beyond.bytes, .unknownTarget("replica 4 is not in the configuration"))
        let client = try await cluster.command(1, .rotateClientKeys(targets: [ClientID(rawValue: 5)], kinds: .signing))
        try await expectRefused(cluster, client.bytes, .unknownTarget("client 5 was never added"))
        let remove = try await cluster.command(1, .removeClient(ClientID(rawValue: 9)))
        try await expectRefused(cluster, remove.bytes, .unknownTarget("client 9 was never added"))
        // Relayed by a replica (request 6), the approver refuses the same way and decides nothing.
        await #expect(throws: ClusterError.unknownTarget("replica 4 is not in the configuration")) {
            try await cluster.node(3).handlePeer(PeerRequest.approveCommand(beyond.bytes).encoded, from: ReplicaID(0))
        }
        #expect(await cluster.vaults[3].auditEvents.allSatisfy { $0.operation != "cluster.command-approve" })
    }

    @Test("a checkpoint signature by a key that is no replica's is not counted")
    func checkpointSignatureByNonReplica() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 4_150)
        var random = SeededRandom(seed: 4_151)
        let outsider = random.ed25519Key()
        let clusterID = cluster.configuration.clusterID
        // Replicas 2 and 3 answer with statements signed by a key that is no replica's, under their own names.
        cluster.network.setResponseRewriter { _, to, bytes in
            guard to.index >= 2, let genuine = try? CheckpointSignature(bytes: bytes) else { return bytes }
            let forged = try! outsider.signature(for: genuine.statement.message(cluster: clusterID)).bytes
            return CheckpointSignature(statement: genuine.statement, signer: genuine.signer, signature: forged).encoded
        }
        let boundary = (sequencer.sequence / cluster.interval + 1) * cluster.interval
        // Replicas 0 and 1 see two genuine signatures of four (Q = 3); replicas 2 and 3 see three.
        #expect(try await sequencer.checkpoint() == 2)
        #expect(await cluster.node(0).status().latestStableBoundary ?? 0 < boundary)
        cluster.network.setResponseRewriter(nil)
        #expect(try await cluster.node(0).collectCheckpoint(boundary: boundary) != nil, "the genuine signatures form it")
    }
    @Test("two commands under one number: at most one certified, the other reported contested; reissued under a new number it goes through")
    func twoCommandsOneNumber() async throws {
        let (cluster, _) = try await SimulatedCluster.operational(n: 4, seed: 4_200)
        let first = try await cluster.command(5, .rotateReplicaKeys(targets: [ReplicaID(1)], kinds: .all))
        let second = try await cluster.command(5, .rotateReplicaKeys(targets: [ReplicaID(2)], kinds: .all))
        #expect(try await cluster.node(0).submitCommand(first.bytes) == .certified)
        #expect(try await cluster.node(3).submitCommand(second.bytes) == .contested)
        #expect(await cluster.commandState(5, at: 3) == .contested)
        #expect(await cluster.audits[3].events("cluster.command-contested").count >= 1)
        for r in 0..<4 {
            let certified = try await cluster.node(r).certifiedAwaitingSchedule().filter { $0.kind == .command }
            #expect(certified.allSatisfy { $0.item == first.bytes }, "replica \(r) certified only the first")
        }
        #expect(try await cluster.vaults[1].relayed().isEmpty, "replica 1 relays neither")

        // A split: the first reaches two replicas only, the second the other two; neither is certified.
        let (split, splitSequencer) = try await SimulatedCluster.operational(n: 4, seed: 4_201)
        split.network.setLinkRule { from, to, _ in from == ReplicaID(0) && to.index >= 2 ? .drop : .deliver }
        let a = try await split.command(1, Self.rotateOne)
        let b = try await split.command(1, .rotateReplicaKeys(targets: [ReplicaID(3)], kinds: .all))
        #expect(try await split.node(0).submitCommand(a.bytes) == .relaying(approvals: 2, quorum: 3))
        split.network.setLinkRule(nil)
        #expect(try await split.node(3).submitCommand(b.bytes) == .contested)
        await split.node(0).relayRound()
        #expect(await split.commandState(1, at: 0) == .contested)
        for r in 0..<4 { #expect(try await split.node(r).certifiedAwaitingSchedule().isEmpty) }
        // Reissued under number 2: certified and executed; the contested ones are then dropped.
        #expect(try await split.submit(2, Self.rotateOne) == .certified)
        #expect(try await splitSequencer.scheduleCertified() == 1)
        for r in [0, 3] {
            await split.node(r).relayRound()
            #expect(try await split.vaults[r].relayed().isEmpty, "replica \(r) relays nothing more")
        }
        #expect(await split.commandState(2) == .executed)
    }

    @Test("relayed commands and approval decisions survive a crash: the relay resumes, a second command under the number stays refused")
    func durableAcrossCrash() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 4_250)
        cluster.crash(2)
        cluster.crash(3)
        let command = try await cluster.command(6, Self.rotateOne)
        #expect(try await cluster.node(0).submitCommand(command.bytes) == .relaying(approvals: 2, quorum: 3))
        // The relay and its approver crash and restart on their vaults; the others return.
        cluster.crash(0)
        cluster.crash(1)
        for r in 0..<4 { try await cluster.boot(r) }
        for r in 0..<4 { await sequencer.replay(to: r) }
        #expect(try await cluster.vaults[0].relayed().map(\.digest) == [command.digest])
        await cluster.node(0).relayRound()
        #expect(await cluster.commandState(6) == .certified)
        // Replica 1 decided for command 6 before its crash: another command 6 is refused there.
        let other = try await cluster.command(6, .rotateReplicaKeys(targets: [ReplicaID(2)], kinds: .all))
        await #expect(throws: ClusterError.commandContested(6)) {
            try await cluster.node(1).handlePeer(PeerRequest.approveCommand(other.bytes).encoded, from: ReplicaID(3))
        }
        #expect(await cluster.audits[1].events("cluster.command-contested").count == 1)
    }

    @Test("a command scheduled twice is void the second time (command-replay); a lower number afterwards is refused")
    func executedTwice() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 4_300)
        let command = try await cluster.command(3, Self.rotateOne)
        #expect(try await cluster.node(0).submitCommand(command.bytes) == .certified)
        let certified = try #require(try await cluster.node(0).certifiedAwaitingSchedule().first { $0.kind == .command })
        try await sequencer.scheduleCertified()
        #expect(await cluster.commandState(3) == .executed)
        try await sequencer.schedule(kind: .command, item: certified.item, certificate: certified.certificate)
        let void = await cluster.audits[0].events("cluster.schedule", outcome: "void")
        #expect(void.last?.detail.hasSuffix(": command-replay") == true)
        #expect(await cluster.node(0).commands().filter { $0.number == 3 }.map(\.state).contains(.void(reason: "command-replay")))
        // Executed once: one pending order for replica 1, not two rotations.
        #expect(await cluster.node(0).status().replicas[1].pendingCommands == [3])
        let lower = try await cluster.command(2, .rotateReplicaKeys(targets: [ReplicaID(2)], kinds: .all))
        try await expectRefused(cluster, lower.bytes, .commandReplay(number: 2, highest: 3))
        #expect(await cluster.headsAgree())
    }
}
