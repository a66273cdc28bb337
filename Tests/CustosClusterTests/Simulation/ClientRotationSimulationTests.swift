import CustosCluster
import CustosCrypto
import Testing

/// Client nodes (docs/cluster.md, "Client nodes"): added by the operator, informed of their
/// rotation orders through the log, rotating every kind of key, switching at activation and
/// destroying what they replaced.
@Suite("Simulation: client nodes")
struct ClientRotationSimulationTests {
    static func name(_ k: Int, _ e: UInt64) -> ClientKeyName { ClientKeyName(client: ClientID(k), epoch: e) }

    /// A cluster with operational replicas and `clients` added, activated and following.
    static func running(n: Int, clients ids: [Int], seed: UInt64) async throws -> SimulatedClients {
        let cluster = try await SimulatedCluster(n: n, seed: seed)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        let clients = SimulatedClients(cluster: cluster, sequencer: sequencer, ids: ids, seed: seed)
        try await clients.addAll()
        return clients
    }

    @Test("add-client: registered when scheduled, in the client keyset two checkpoints later, then following and signing with its epoch-0 key")
    func addClient() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 5100)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        let clients = SimulatedClients(cluster: cluster, sequencer: sequencer, ids: [1], seed: 5100)
        let descriptor = try await clients.vault(1).initialDescriptor(cluster: cluster.configuration.clusterID, client: ClientID(1))

        // Not yet added: the replicas refuse its calls, and it cannot sign.
        let early = try await clients.boot(1)
        try await early.follow(wait: .zero)
        #expect(await early.status().phase == .unregistered)
        #expect(await clients.audit(1).events("cluster.follow", outcome: "refused").last?.detail == "\(ClusterError.unknownClient(ClientID(1)))")
        await #expect(throws: ClusterError.unknownClient(ClientID(1))) { try await early.sign([1, 2, 3]) }

        try await clients.execute(.addClient(descriptor))
        let registered = try #require(await cluster.node(0).status().clients.first { $0.client == ClientID(1) })
        #expect(registered.newest == Self.name(1, 0))
        #expect(registered.active == nil, "scheduled, not yet in the client keyset")

        try await clients.activate()
        for node in cluster.live {
            #expect(await node.status().clients.first { $0.client == ClientID(1) }?.active == Self.name(1, 0))
        }
        let client = clients.node(1)
        let status = await client.status()
        #expect(status.phase == .following)
        #expect(status.active == Self.name(1, 0))
        #expect(status.tlsKey == Self.name(1, 0))
        #expect(status.logHead == (await cluster.node(0).status().logHead))
        #expect(status.stableLength == status.logLength, "every entry fixed by a stable checkpoint")

        let message: [UInt8] = Array("transaction 1".utf8)
        let signed = try await client.sign(message)
        #expect(signed.name == Self.name(1, 0))
        let log = try await clients.replicaLog(0)
        let key = try #require(try log.clientKeyset(at: log.checkpointNotice + 1)(ClientID(1)))
        #expect(key.signingKey.isValidSignature(signed.signature, for: message))
        #expect(!key.signingKey.isValidSignature(signed.signature, for: message + [0]))
    }

    @Test("rotate one client: a record answering the command, old and new signatures each valid at their own sequence, TLS switched at activation, old private keys gone", arguments: [4, 7])
    func rotateOneClient(n: Int) async throws {
        let clients = try await Self.running(n: n, clients: [1, 2], seed: 5200 + UInt64(n))
        let cluster = clients.cluster
        let message: [UInt8] = Array("transfer 10".utf8)
        let before = try await clients.node(1).sign(message)
        let sequenceBefore = clients.sequencer.sequence + 1
        let old = try #require(await clients.vault(1).publicKeys(Self.name(1, 0)))
        let other = await clients.vault(2).heldNames

        let command = try await clients.execute(.rotateClientKeys(targets: [ClientID(1)], kinds: .all))
        #expect(try await clients.run(until: { try await clients.replicaLog(0).newestClientKeys(of: ClientID(1))?.name == Self.name(1, 1) }))
        // Scheduled, not active: the client keeps its TLS key and its signing key until activation.
        let pending = await clients.node(1).status()
        #expect(pending.newest == Self.name(1, 1))
        #expect(pending.active == Self.name(1, 0))
        #expect(pending.tlsKey == Self.name(1, 0))
        #expect(pending.pendingCommand == nil, "the accepted record satisfied the order")
        #expect(try await clients.node(1).sign(message).name == Self.name(1, 0))

        try await clients.activate()
        let status = await clients.node(1).status()
        #expect(status.active == Self.name(1, 1))
        #expect(status.tlsKey == Self.name(1, 1))
        let after = try await clients.node(1).sign(message)
        #expect(after.name == Self.name(1, 1))
        let sequenceAfter = clients.sequencer.sequence + 1

        let log = try await clients.replicaLog(0)
        let record = try #require(try clients.acceptedClientRecords(in: log).last)
        #expect(record.name == Self.name(1, 1))
        #expect(record.command == command.number)
        let progress = try #require(log.commandProgress(command.number))
        #expect(progress.complete)
        #expect(progress.targetsRemaining.isEmpty)

        // Replicas verify against the client keyset of the transaction's sequence.
        let keysBefore = try #require(try log.clientKeyset(at: sequenceBefore)(ClientID(1)))
        let keysAfter = try #require(try log.clientKeyset(at: sequenceAfter)(ClientID(1)))
        #expect(keysBefore.name == Self.name(1, 0) && keysAfter.name == Self.name(1, 1))
        #expect(keysBefore.signingKey.isValidSignature(before.signature, for: message))
        #expect(keysAfter.signingKey.isValidSignature(after.signature, for: message))
        #expect(!keysAfter.signingKey.isValidSignature(before.signature, for: message))
        #expect(!keysBefore.signingKey.isValidSignature(after.signature, for: message))

        // Every kind renewed, and the old private keys exist nowhere in the client.
        let renewed = try #require(await clients.vault(1).publicKeys(Self.name(1, 1)))
        #expect(renewed.signingKey != old.signingKey && renewed.tlsPin != old.tlsPin && renewed.apiTLSPin != old.apiTLSPin)
        #expect(renewed.signingKey.scheme == old.signingKey.scheme)
        #expect(try await !clients.vault(1).holdsKeys(Self.name(1, 0)))
        let held = await clients.vault(1).heldPublicKeys
        #expect(held.isDisjoint(with: [old.signingKey.rawRepresentation, old.tlsPin, old.apiTLSPin]))
        #expect(await clients.audit(1).events("cluster.keys-destroyed").map(\.subject) == ["\(Self.name(1, 0))"])
        // The other client was not a target.
        #expect(await clients.vault(2).heldNames == other)
        #expect(log.newestClientKeys(of: ClientID(2))?.name == Self.name(2, 0))

        try await clients.expectLogsAgree()
    }

    @Test("rotate every client, one kind at a time: the kind renewed, the others carried over under the new name", arguments: [
        (4, ClientKeyKinds.signing), (7, ClientKeyKinds.tls), (10, ClientKeyKinds.apiTLS),
    ])
    func rotateAllClientsOneKind(n: Int, kinds: ClientKeyKinds) async throws {
        let clients = try await Self.running(n: n, clients: [1, 2, 3], seed: 5300 + UInt64(n))
        var old: [Int: ClientKeySet] = [:]
        for k in 1...3 { old[k] = try #require(await clients.vault(k).publicKeys(Self.name(k, 0))) }

        let command = try await clients.execute(.rotateClientKeys(targets: nil, kinds: kinds))
        #expect(try await clients.complete())
        let log = try await clients.replicaLog(0)
        #expect(try #require(log.commandProgress(command.number)).complete)
        for k in 1...3 {
            let status = await clients.node(k).status()
            #expect(status.active == Self.name(k, 1), "client \(k)")
            let previous = old[k]!
            let new = try #require(await clients.vault(k).publicKeys(Self.name(k, 1)))
            #expect(log.newestClientKeys(of: ClientID(k))?.keySet == new)
            #expect((new.signingKey != previous.signingKey) == kinds.contains(.signing))
            #expect((new.tlsPin != previous.tlsPin) == kinds.contains(.tls))
            #expect((new.apiTLSPin != previous.apiTLSPin) == kinds.contains(.apiTLS))
            // The renewed kind's old private key is gone; the carried ones live on under (k, 1).
            let held = await clients.vault(k).heldPublicKeys
            #expect(try await !clients.vault(k).holdsKeys(Self.name(k, 0)))
            #expect(held.contains(previous.signingKey.rawRepresentation) == !kinds.contains(.signing))
            #expect(held.contains(previous.tlsPin) == !kinds.contains(.tls))
            #expect(held.contains(previous.apiTLSPin) == !kinds.contains(.apiTLS))
        }
        try await clients.expectLogsAgree()
    }

    @Test("a client down during the rotation executes its order when it returns; the command completes only then")
    func clientDownDuringRotation() async throws {
        let clients = try await Self.running(n: 4, clients: [1, 2, 3], seed: 5400)
        clients.crash(2)
        let command = try await clients.execute(.rotateClientKeys(targets: nil, kinds: .all))
        #expect(try await clients.complete())
        var log = try await clients.replicaLog(0)
        var progress = try #require(log.commandProgress(command.number))
        #expect(!progress.complete)
        #expect(progress.targetsRemaining == [.client(ClientID(2))])
        #expect(log.newestClientKeys(of: ClientID(2))?.name == Self.name(2, 0))
        #expect(try await clients.vault(2).holdsKeys(Self.name(2, 0)))

        let back = try await clients.boot(2)
        #expect(await back.status().phase == .catchingUp, "no follow pass yet")
        #expect(try await clients.complete())
        log = try await clients.replicaLog(0)
        progress = try #require(log.commandProgress(command.number))
        #expect(progress.complete)
        #expect(await back.status().active == Self.name(2, 1))
        #expect(try await !clients.vault(2).holdsKeys(Self.name(2, 0)))
        try await clients.expectLogsAgree()
    }

    @Test("a client that crashed after creating its candidate submits the same record when it returns")
    func crashAfterCandidate() async throws {
        let clients = try await Self.running(n: 4, clients: [1], seed: 5500)
        let cluster = clients.cluster
        try await clients.execute(.rotateClientKeys(targets: [ClientID(1)], kinds: [.signing]))
        // Every replica unreachable for the client: the candidate is created, not submitted.
        cluster.network.setClientLinkRule { _, _, request in
            (try? PeerRequest(bytes: request)).map { if case .submitClientRecord = $0 { return true } else { return false } } == true ? .drop : .deliver
        }
        let progress = try await clients.node(1).follow(wait: .zero)
        #expect(progress == .unsubmitted(name: Self.name(1, 1)))
        let candidate = try #require(await clients.vault(1).candidate(Self.name(1, 1)))
        clients.crash(1)
        cluster.network.setClientLinkRule(nil)

        try await clients.boot(1)
        #expect(try await clients.complete())
        let log = try await clients.replicaLog(0)
        let record = try #require(try clients.acceptedClientRecords(in: log).last)
        #expect(record.bytes == candidate)
        #expect(await clients.node(1).status().active == Self.name(1, 1))
    }

    @Test("a client record void only because its approvers rotated before the ledger scheduled it is certified again under their new keys and accepted")
    func clientRecordRecertifiedAfterApproversRotated() async throws {
        let clients = try await Self.running(n: 4, clients: [1], seed: 5700)
        let cluster = clients.cluster
        let sequencer = clients.sequencer
        try await clients.execute(.rotateClientKeys(targets: [ClientID(1)], kinds: .all))

        // The client's record certified by the replicas' epoch-1 keys, held back from the ledger.
        var stale: CertifiedItem?
        for _ in 0..<4 where stale == nil {
            for node in cluster.live { await node.relayRound() }
            try await clients.node(1).follow(wait: .zero)
            for node in cluster.live where stale == nil {
                stale = try await node.certifiedAwaitingSchedule().first { $0.kind == .clientRecord }
            }
        }
        let held = try #require(stale)
        #expect(try ClusterCertificate(bytes: held.certificate, replicaCount: 4).signerKeys.allSatisfy { $0.epoch == 1 })

        // Every replica rotates and activates epoch 2 before the client record is scheduled.
        for r in 0..<4 {
            try await cluster.node(r).requestRotation()
            #expect(try await cluster.node(r).advanceKeyExchange() == .certified(name: KeyName(replica: ReplicaID(r), generation: 0, epoch: 2)))
            for c in try await cluster.node(r).certifiedAwaitingSchedule() where c.kind == .replicaRecord {
                try await sequencer.schedule(record: c.item, certificate: c.certificate)
            }
        }
        for _ in 0..<2 { try await sequencer.checkpoint() }
        #expect(await cluster.node(0).status().replicas.map(\.active.epoch) == [2, 2, 2, 2])

        try await sequencer.schedule(kind: .clientRecord, item: held.item, certificate: held.certificate)
        #expect(await cluster.audits[0].events("cluster.schedule", outcome: "void").last?.detail.hasSuffix(": certificate-invalid") == true)
        #expect(try await clients.replicaLog(0).newestClientKeys(of: ClientID(1))?.name == Self.name(1, 0))

        // The same record, re-approved under the replicas' epoch-2 keys, is scheduled and accepted.
        #expect(try await clients.run(until: { try await clients.replicaLog(0).newestClientKeys(of: ClientID(1))?.name == Self.name(1, 1) }))
        let accepted = try #require(try clients.acceptedClientRecords(in: try await clients.replicaLog(0)).last)
        #expect(accepted.bytes == held.item)
        #expect(sequencer.refusals.isEmpty, "\(sequencer.refusals)")
    }
}
