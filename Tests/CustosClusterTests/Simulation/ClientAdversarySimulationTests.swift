import CustosCluster
import CustosCrypto
import Foundation
import Testing

/// Client nodes against failures and hostile peers: replicas down or lying to clients, a client
/// publishing keys for another, a removed client, and the long-poll that informs them.
@Suite("Simulation: client nodes against faults")
struct ClientAdversarySimulationTests {
    static func name(_ k: Int, _ e: UInt64) -> ClientKeyName { ClientKeyName(client: ClientID(k), epoch: e) }

    /// A peer answer to a client's log request with its last entry's outcome forged.
    static func forgeLastEntry(_ response: [UInt8]) -> [UInt8] {
        guard var entries = try? LogEntry.decodeList(response, limit: 1 << 20), let last = entries.last else { return response }
        entries[entries.count - 1] = LogEntry(sequence: last.sequence, kind: last.kind, item: last.item, certificate: last.certificate,
                                              status: last.status == .accepted ? .void : .accepted, reason: "forged")
        return LogEntry.encodeList(entries)
    }

    static func isLogRequest(_ request: [UInt8]) -> Bool {
        guard let decoded = try? PeerRequest(bytes: request) else { return false }
        if case .watchLog = decoded { return true }
        return false
    }

    static func isSubmission(_ request: [UInt8]) -> Bool {
        guard let decoded = try? PeerRequest(bytes: request) else { return false }
        if case .submitClientRecord = decoded { return true }
        return false
    }

    @Test("with f replicas down or lying to clients, every client still rotates: a client leaves a replica that fails or serves a forged entry")
    func faultyReplicas() async throws {
        let clients = try await ClientRotationSimulationTests.running(n: 10, clients: [1, 2, 3], seed: 6100)
        let cluster = clients.cluster
        #expect(cluster.f == 3)
        // Clients 1 and 2 follow replicas 1 and 2, which go down; client 3 follows replica 3,
        // which forges the entries it serves to clients and drops their submissions.
        cluster.crash(1)
        cluster.crash(2)
        cluster.network.setClientResponseRewriter { _, replica, request, response in
            replica == ReplicaID(3) && Self.isLogRequest(request) ? Self.forgeLastEntry(response) : response
        }
        cluster.network.setClientLinkRule { _, replica, request in
            replica == ReplicaID(3) && Self.isSubmission(request) ? .drop : .deliver
        }

        let command = try await clients.execute(.rotateClientKeys(targets: nil, kinds: .all))
        #expect(try await clients.complete())
        let log = try await clients.replicaLog(0)
        #expect(try #require(log.commandProgress(command.number)).complete)
        for k in 1...3 {
            #expect(await clients.node(k).status().active == Self.name(k, 1), "client \(k)")
            #expect(try await !clients.vault(k).holdsKeys(Self.name(k, 0)))
        }
        for k in 1...2 {
            let refused = await clients.audit(k).events("cluster.follow", outcome: "refused")
            #expect(refused.contains { $0.subject == "from replica \(k)" }, "client \(k) left its replica")
        }
        let forged = await clients.audit(3).events("cluster.follow", outcome: "refused")
        #expect(forged.contains { $0.subject == "from replica 3" && $0.detail.contains("differs from the one computed") })
        try await clients.expectLogsAgree()
    }

    @Test("a replica that serves a real entry at another sequence is found out by the next stable checkpoint: the tail is dropped and fetched again")
    func forgedSequenceRolledBack() async throws {
        let clients = try await ClientRotationSimulationTests.running(n: 4, clients: [1], seed: 6200)
        let cluster = clients.cluster
        let w = cluster.interval
        // Replica 1, followed by client 1, moves its last served entry one sequence later when
        // that stays inside the same checkpoint window (the same keys verify it there).
        cluster.network.setClientResponseRewriter { _, replica, request, response in
            guard replica == ReplicaID(1), Self.isLogRequest(request),
                  var entries = try? LogEntry.decodeList(response, limit: 1 << 20), let last = entries.last,
                  last.sequence % w != 0, (last.sequence + 1) % w != 0 else { return response }
            entries[entries.count - 1] = LogEntry(sequence: last.sequence + 1, kind: last.kind, item: last.item,
                                                  certificate: last.certificate, status: last.status, reason: last.reason)
            return LogEntry.encodeList(entries)
        }
        try await clients.execute(.rotateClientKeys(targets: [ClientID(1)], kinds: [.tls]))
        #expect(await clients.node(1).status().logHead != (await cluster.node(0).status().logHead), "the forged tail is held, not yet fixed")
        #expect(try await clients.complete())
        let refused = await clients.audit(1).events("cluster.follow", outcome: "refused")
        #expect(refused.contains { $0.subject == "from replica 1" && $0.detail.contains("does not match the stable checkpoint") })
        let status = await clients.node(1).status()
        #expect(status.followedReplica != ReplicaID(1))
        #expect(status.active == Self.name(1, 1))
        try await clients.expectLogsAgree()
    }

    @Test("a client publishing keys for another client is refused, audited, and nothing is stored")
    func keysForAnotherClient() async throws {
        let clients = try await ClientRotationSimulationTests.running(n: 4, clients: [1, 2], seed: 6300)
        let cluster = clients.cluster
        let clusterID = cluster.configuration.clusterID
        let attacker = clients.vault(1)
        let victim = Self.name(2, 1)
        let forged = try await attacker.createCandidate(victim, renewing: .all, carryingFrom: Self.name(1, 0)) { keys in
            try await ClientKeyRecord.build(cluster: clusterID, name: victim, keys: keys) { try await attacker.signWithSigningKey(Self.name(1, 0), $0) }.bytes
        }
        let lengthBefore = await cluster.node(0).status().logLength
        let request = PeerRequest.submitClientRecord(forged).encoded

        // Sent by client 1 (authenticated by its TLS pin): not its own record.
        let mismatch = ClusterError.clientMismatch(sender: ClientID(1), named: ClientID(2))
        await #expect(throws: mismatch) { try await cluster.network.transport(forClient: ClientID(1)).send(request, to: ReplicaID(0)) }
        // Sent as client 2: the authority signature is not client 2's key.
        let badSignature = ClusterError.badClientRecordSignature(victim)
        await #expect(throws: badSignature) { try await cluster.network.transport(forClient: ClientID(2)).send(request, to: ReplicaID(0)) }

        let refusals = await cluster.audits[0].events("cluster.client-record", outcome: "refused").map(\.detail)
        #expect(refusals == [mismatch.description, badSignature.description])
        #expect(try await (cluster.vaults[0] as any ReplicaVault).relayed().isEmpty)
        try await clients.round()
        #expect(await cluster.node(0).status().logLength == lengthBefore)
        #expect(try await clients.replicaLog(0).newestClientKeys(of: ClientID(2))?.name == Self.name(2, 0))
    }

    @Test("a removed client: its certified record scheduled after the removal is void, its calls are refused, and its id cannot be added again")
    func removedClient() async throws {
        let clients = try await ClientRotationSimulationTests.running(n: 4, clients: [1, 2], seed: 6400)
        let cluster = clients.cluster
        let sequencer = clients.sequencer
        try await clients.execute(.rotateClientKeys(targets: [ClientID(1)], kinds: .all))
        // Client 1 submits its record; its relay certifies it; the ledger has not scheduled it.
        guard case .submitted(_, let relay, let state) = try await clients.node(1).advance() else {
            Issue.record("client 1 did not submit its record")
            return
        }
        #expect(state.state == .certified)
        let record = try #require(try await cluster.node(relay.index).certifiedAwaitingSchedule().first { $0.kind == .clientRecord })

        // The operator removes client 1; the command is scheduled first.
        let remove = try await clients.command(.removeClient(ClientID(1)))
        _ = try await cluster.node(0).submitCommand(remove.bytes)
        let certified = try #require(try await cluster.node(0).certifiedAwaitingSchedule().first { $0.kind == .command })
        try await sequencer.schedule(kind: .command, item: certified.item, certificate: certified.certificate)
        try await sequencer.schedule(kind: .clientRecord, item: record.item, certificate: record.certificate)
        #expect(await cluster.audits[0].events("cluster.schedule", outcome: "void").last?.detail.hasSuffix(": client-removed") == true)
        try await clients.activate()

        let log = try await clients.replicaLog(0)
        #expect(log.isRemoved(ClientID(1)))
        #expect(log.newestClientKeys(of: ClientID(1))?.name == Self.name(1, 0))
        #expect(try log.clientKeyset(at: log.checkpointNotice + 1)(ClientID(1)) == nil)
        #expect(log.pendingOrders(of: .client(ClientID(1))) == nil, "its orders dropped")
        #expect(await cluster.node(0).status().clients.first { $0.client == ClientID(1) }?.removed == true)

        // Its calls are refused: it no longer follows, and relays nothing.
        let refusedBefore = await clients.audit(1).events("cluster.follow", outcome: "refused").count
        try await clients.node(1).follow(wait: .zero)
        #expect(await clients.audit(1).events("cluster.follow", outcome: "refused").count == refusedBefore + 1)
        #expect(await clients.audit(1).events("cluster.follow", outcome: "refused").last?.detail == "\(ClusterError.clientRemoved(ClientID(1)))")

        // The id stays used.
        let fresh = InMemoryClientVault(seed: 6401)
        let descriptor = try await fresh.initialDescriptor(cluster: cluster.configuration.clusterID, client: ClientID(1))
        let again = try await clients.command(.addClient(descriptor))
        await #expect(throws: ClusterError.clientIDTaken(ClientID(1))) { try await cluster.node(0).submitCommand(again.bytes) }
        #expect(try await cluster.vaults[0].relayed().allSatisfy { $0.digest != again.digest }, "a refused command is not stored")
        // Client 2 is untouched and still signs under its key.
        #expect(try await clients.node(2).sign([7]).name == Self.name(2, 0))
    }

    @Test("the long-poll informs a client of its order as soon as the ledger schedules it, without the clock moving; it answers empty after the wait")
    func longPoll() async throws {
        let clients = try await ClientRotationSimulationTests.running(n: 4, clients: [1], seed: 6500)
        let cluster = clients.cluster
        let client = clients.node(1)
        let start = cluster.clock.now()

        let delivered = cluster.network.counters.delivered
        let waiting = Task { try await client.follow(wait: .seconds(20)) }
        await cluster.network.waitUntil { $0.delivered > delivered }
        let command = try await clients.command(.rotateClientKeys(targets: [ClientID(1)], kinds: [.apiTLS]))
        _ = try await cluster.node(0).submitCommand(command.bytes)
        try await clients.sequencer.scheduleCertified()
        let progress = try await waiting.value
        guard case .submitted(let name, _, _) = progress else {
            Issue.record("the order was not executed: \(progress)")
            return
        }
        #expect(name == Self.name(1, 1))
        #expect(cluster.clock.now() == start)
        #expect(await client.status().logLength == (await cluster.node(0).status().logLength))

        // Nothing new: the replica answers [] once the wait has passed on the clock.
        try await clients.run(until: { try await clients.replicaLog(0).newestClientKeys(of: ClientID(1))?.name == Self.name(1, 1) })
        let length = await client.status().logLength
        let sleepers = cluster.clock.pendingSleepers
        let idle = Task { try await client.follow(wait: .seconds(20)) }
        // The replica's wait and the client's bound on the call are parked before time moves.
        await cluster.clock.waitForSleepers(sleepers + 2)
        cluster.clock.advance(by: .seconds(20))
        _ = try await idle.value
        #expect(await client.status().logLength == length)
        #expect(await client.status().phase == .following, "an empty answer is not a failure")
    }
}
