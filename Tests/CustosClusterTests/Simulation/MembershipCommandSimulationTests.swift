import BLS12381
import CustosCluster
import CustosCrypto
import Testing

/// Commands that change who holds which keys: replace-replica (a new generation for a replica
/// whose keys were lost), rotate-operator-key, and client nodes added, rotated and removed as
/// the replicas see them.
@Suite("Simulation: membership commands")
struct MembershipCommandSimulationTests {
    @Test("replace-replica: a lost replica comes back under generation 1 from its bundle keys and proposes (r, g1, e1)", arguments: [4, 7])
    func replaceReplica(n: Int) async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: n, seed: 5_000 + UInt64(n))
        let lost = n - 1
        cluster.crash(lost)
        // A rotation ordered before the replacement is complete for it once replaced.
        #expect(try await cluster.submit(1, .rotateReplicaKeys(targets: [ReplicaID(lost)], kinds: .all)) == .certified)
        try await sequencer.round()

        var random = SeededRandom(seed: 5_100)
        let consensus = random.blsKey()
        let main = random.ed25519Key()
        let pin = random.bytes(32)
        let descriptor = ReplicaDescriptor(id: ReplicaID(lost), address: "127.0.0.1:7\(lost)99", mainKey: main.publicKey.rawRepresentation!,
                                           consensusKey: consensus.publicKey, proofOfPossession: consensus.proofOfPossession(), tlsPin: pin)
        // A descriptor reusing another replica's TLS pin is refused.
        let reusedPin = ReplicaDescriptor(id: ReplicaID(lost), address: "127.0.0.1:7999", mainKey: main.publicKey.rawRepresentation!,
                                          consensusKey: consensus.publicKey, proofOfPossession: consensus.proofOfPossession(),
                                          tlsPin: cluster.configuration.replicas[0].tlsPin)
        await #expect(throws: ClusterError.self) { try await cluster.submit(2, .replaceReplica(reusedPin)) }
        #expect(try await cluster.submit(2, .replaceReplica(descriptor)) == .certified)
        try await sequencer.scheduleCertified()
        #expect(await cluster.commandState(2) == .complete)
        #expect(await cluster.commandState(1) == .complete, "the replacement counts as having executed the rotation")
        #expect(await cluster.node(0).status().replicas[lost].newestCertified == KeyName(replica: ReplicaID(lost), generation: 1, epoch: 0))
        for _ in 0..<3 { try await sequencer.checkpoint() }

        // The replacement: a fresh vault holding only the new generation's bootstrap keys.
        let fresh = InMemoryVault(seed: 5_200)
        let bootstrap = KeyName(replica: ReplicaID(lost), generation: 1, epoch: 0)
        await fresh.installKeys(bootstrap, consensus: consensus, main: main, tlsPin: pin)
        try await cluster.boot(lost, vault: fresh)
        await sequencer.replay(to: lost)
        let operational = KeyName(replica: ReplicaID(lost), generation: 1, epoch: 1)
        try await sequencer.rounds { await cluster.node(0).status().replicas[lost].active == operational }
        for r in 0..<n { #expect(await cluster.node(r).status().replicas[lost].active == operational, "replica \(r)") }
        #expect(try await !fresh.holdsKeys(bootstrap), "the new generation's bootstrap keys destroyed once (g1, e1) is active")
        #expect(await cluster.headsAgree())
        _ = try LogVerifier.verify(try await cluster.export(from: 0))
        // It signs: a stable checkpoint with every replica in it.
        #expect(try await sequencer.checkpoint() == n)
    }

    @Test("rotate-operator-key: later commands are checked against the new key; a bad proof of possession is refused")
    func rotateOperatorKey() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 5_300)
        var random = SeededRandom(seed: 5_301)
        let next = random.ed25519Key()
        let nextKey = try OperatorKey(scheme: .ed25519, rawRepresentation: next.publicKey.rawRepresentation!)
        let binding = OperatorCommand.operatorKeyBindingMessage(cluster: cluster.configuration.clusterID, number: 1, key: nextKey)
        let badProof = try random.ed25519Key().signature(for: binding).bytes
        await #expect(throws: ClusterError.self) { try await cluster.submit(1, .rotateOperatorKey(nextKey, proof: badProof)) }
        #expect(await cluster.audits[0].events("cluster.command", outcome: "refused").count == 1)

        #expect(try await cluster.submit(1, .rotateOperatorKey(nextKey, proof: try next.signature(for: binding).bytes)) == .certified)
        try await sequencer.scheduleCertified()
        #expect(await cluster.commandState(1) == .complete)
        for r in 0..<4 { #expect(await cluster.node(r).keyLog().operatorKey == nextKey) }

        let byOld = try await cluster.command(2, .rotateReplicaKeys(targets: [ReplicaID(0)], kinds: .tls))
        await #expect(throws: ClusterError.badCommandSignature) { try await cluster.node(0).submitCommand(byOld.bytes) }
        cluster.operatorKey = next
        #expect(try await cluster.submit(2, .rotateReplicaKeys(targets: [ReplicaID(0)], kinds: .tls)) == .certified)
        try await sequencer.rounds { await cluster.commandState(2) == .complete }
        #expect(await cluster.commandState(2) == .complete)
        _ = try LogVerifier.verify(try await cluster.export(from: 1))
    }

    @Test("client nodes: added, rotated by command with a record the replicas certify, refused for another client, removed")
    func clientLifecycle() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 5_400)
        let k1 = ClientID(rawValue: 1), k2 = ClientID(rawValue: 2)
        let c1e0 = TestClientKeys(name: ClientKeyName(client: k1, epoch: 0), seed: 41)
        let c2e0 = TestClientKeys(name: ClientKeyName(client: k2, epoch: 0), seed: 41)
        #expect(try await cluster.submit(1, .addClient(try await cluster.clientDescriptor(c1e0))) == .certified)
        #expect(try await cluster.submit(2, .addClient(try await cluster.clientDescriptor(c2e0))) == .certified)
        try await sequencer.scheduleCertified()
        #expect(await cluster.node(0).keyLog().clients == [k1, k2])
        // An id once used is refused.
        let again = TestClientKeys(name: ClientKeyName(client: k1, epoch: 0), seed: 42)
        await #expect(throws: ClusterError.clientIDTaken(k1)) { try await cluster.submit(3, .addClient(try await cluster.clientDescriptor(again))) }

        #expect(try await cluster.submit(4, .rotateClientKeys(targets: [k1], kinds: [.signing, .tls, .apiTLS])) == .certified)
        try await sequencer.scheduleCertified()
        #expect(await cluster.node(0).status().clients.first { $0.client == k1 }?.pendingCommands == [4])

        let c1e1 = TestClientKeys(name: ClientKeyName(client: k1, epoch: 1), seed: 41)
        let record = try await cluster.clientRecord(c1e1, authority: c1e0, command: 4)
        // Client 2 publishing keys for client 1 is refused, audited, nothing stored.
        await #expect(throws: ClusterError.clientMismatch(sender: k2, named: k1)) {
            try await cluster.node(1).handlePeer(PeerRequest.submitClientRecord(record.bytes).encoded, from: .client(k2))
        }
        #expect(try await cluster.vaults[1].relayed().isEmpty)
        // A client may not ask for approvals or checkpoint signatures.
        await #expect(throws: ClusterError.notAReplica) {
            try await cluster.node(1).handlePeer(PeerRequest.checkpointSignature(boundary: 16).encoded, from: .client(k1))
        }

        let answer = try await cluster.node(1).handlePeer(PeerRequest.submitClientRecord(record.bytes).encoded, from: .client(k1))
        #expect(try ClientSubmissionState(bytes: answer).state == .certified)
        try await sequencer.rounds { await cluster.commandState(4) == .complete }
        #expect(await cluster.commandState(4) == .complete)
        let status = try #require(await cluster.node(2).status().clients.first { $0.client == k1 })
        #expect(status.newest == c1e1.name && status.active == c1e1.name && status.pendingCommands.isEmpty)
        #expect(try await cluster.node(0).keyLog().clientKeyset(at: await cluster.node(0).status().latestCheckpoint + 1)(k1)?.signingKey
                == c1e1.signingKey)

        #expect(try await cluster.submit(5, .removeClient(k2)) == .certified)
        try await sequencer.scheduleCertified()
        #expect(await cluster.node(0).keyLog().clients == [k1])
        await #expect(throws: ClusterError.clientRemoved(k2)) {
            try await cluster.node(0).handlePeer(PeerRequest.status.encoded, from: .client(k2))
        }
        #expect(await cluster.headsAgree())
        _ = try LogVerifier.verify(try await cluster.export(from: 3))
    }

    @Test("an approver whose log lags behind the client's add-client and order catches up and approves its record")
    func laggingApproverCatchesUpForClientRecord() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 5_450)
        let k1 = ClientID(rawValue: 1)
        let e0 = TestClientKeys(name: ClientKeyName(client: k1, epoch: 0), seed: 51)
        cluster.crash(3)
        #expect(try await cluster.submit(1, .addClient(try await cluster.clientDescriptor(e0))) == .certified)
        #expect(try await cluster.submit(2, .rotateClientKeys(targets: nil, kinds: .signing)) == .certified)
        try await sequencer.scheduleCertified()
        for _ in 0..<3 { try await sequencer.checkpoint() }
        // Replica 3 restarts but cannot fetch the log: it knows no client 1.
        cluster.network.setLinkRule { from, _, request in from == ReplicaID(3) && request != PeerRequest.status.encoded ? .drop : .deliver }
        try await cluster.boot(3)
        #expect(await !cluster.node(3).keyLog().isKnownClient(k1))
        cluster.network.setLinkRule(nil)

        let e1 = TestClientKeys(name: ClientKeyName(client: k1, epoch: 1), seed: 51)
        let record = try await cluster.clientRecord(e1, authority: e0, command: 2)
        let answer = try await cluster.node(0).handlePeer(PeerRequest.submitClientRecord(record.bytes).encoded, from: .client(k1))
        #expect(try ClientSubmissionState(bytes: answer).state == .certified)
        #expect(await cluster.node(3).keyLog().isKnownClient(k1), "caught up")
        #expect(await cluster.vaults[3].auditEvents.contains { $0.operation == "cluster.client-approve" && $0.subject == "\(e1.name)" })
    }

    @Test("the log long-poll answers as soon as an entry exists, and with nothing once the wait passes")
    func logLongPoll() async throws {
        let (cluster, sequencer) = try await SimulatedCluster.operational(n: 4, seed: 5_500)
        let node = cluster.node(2)
        let length = await node.status().logLength
        let present = await node.waitForLog(after: 0, timeout: .seconds(5))
        #expect(present.count == Int(min(length, 64)), "entries already there: no wait")

        let waiting = Task { await node.waitForLog(after: length, timeout: .seconds(20)) }
        #expect(try await cluster.submit(1, .rotateReplicaKeys(targets: [ReplicaID(2)], kinds: .tls)) == .certified)
        try await sequencer.scheduleCertified()
        let woken = await waiting.value
        #expect(woken.map(\.index) == [length])

        let idle = Task { await node.waitForLog(after: length + 1, timeout: .seconds(3)) }
        for _ in 0..<1_000 where cluster.clock.pendingSleepers == 0 { await Task.yield() }
        cluster.clock.advance(by: .seconds(3))
        #expect(await idle.value.isEmpty)
        // Through request 9, from a replica.
        let answer = try await node.handlePeer(PeerRequest.watchLog(after: length, limit: 10, waitMilliseconds: 0).encoded, from: ReplicaID(1))
        #expect(try LogEntry.decodeList(answer, limit: 1 << 20).count == 1)
    }
}
