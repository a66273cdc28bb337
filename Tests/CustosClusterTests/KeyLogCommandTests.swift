import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

/// Operator commands in the key log: every void reason, reached by a crafted entry, and every
/// effect. N = 4 (Q = 3), W = 4.
@Suite struct KeyLogCommandTests {
    static func r(_ i: Int) -> ReplicaID { ReplicaID(i) }

    @Test func everyVoidReasonOfACommandInOrder() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)
        try await h.execute(2, .removeClient(ClientID(1)))
        try await h.addClient(2, number: 3)
        let length = h.log.length

        // malformed-command: not a command at all, or truncated.
        let good = try await f.command(4, .rotateReplicaKeys(targets: nil, kinds: .all))
        expectVoid(try h.schedule(.command, Array(good.bytes.dropLast()), certificate: [0x80], message: [], domain: SignatureTag.commandApprovalDST), .malformedCommand)
        expectVoid(try h.schedule(.command, [0xf6], certificate: [0x80], message: [], domain: SignatureTag.commandApprovalDST), .malformedCommand)
        // wrong-cluster: signed by this operator for another cluster id.
        expectVoid(try h.schedule(try await f.command(4, .removeClient(ClientID(2)), cluster: [UInt8](repeating: 9, count: 16))), .wrongCluster)
        // bad-operator-signature: another cluster's operator key (same cluster id), and a body altered after signing.
        let stranger = try await ClusterFixture(n: 4, seed: 9)
        expectVoid(try h.schedule(try await stranger.command(4, .removeClient(ClientID(2)))), .badOperatorSignature)
        let later = try await f.command(4, .removeClient(ClientID(2)), expiresAt: ClusterFixture.now + 9999)
        let altered = try OperatorCommand(bytes: CBORValue.array([.bytes(later.bodyBytes), .bytes(good.operatorSignature)]).encoded)
        expectVoid(try h.schedule(altered), .badOperatorSignature)
        // command-replay: a number at or below the highest accepted.
        expectVoid(try h.schedule(try await f.command(3, .removeClient(ClientID(2)))), .commandReplay)
        expectVoid(try h.schedule(try await f.command(1, .rotateReplicaKeys(targets: nil, kinds: .main))), .commandReplay)
        // unknown-target: a replica beyond N, a client never added, a removed client.
        expectVoid(try h.schedule(try await f.command(4, .rotateReplicaKeys(targets: [Self.r(1), Self.r(4)], kinds: .main))), .unknownTarget)
        expectVoid(try h.schedule(try await f.command(4, .rotateClientKeys(targets: [ClientID(2), ClientID(7)], kinds: .tls))), .unknownTarget)
        expectVoid(try h.schedule(try await f.command(4, .rotateClientKeys(targets: [ClientID(1)], kinds: .tls))), .unknownTarget)
        expectVoid(try h.schedule(try await f.command(4, .removeClient(ClientID(1)))), .unknownTarget)
        expectVoid(try h.schedule(try await f.command(4, .removeClient(ClientID(9)))), .unknownTarget)
        expectVoid(try h.schedule(try await f.command(4, .replaceReplica(f.replacement(4, generation: 1)))), .unknownTarget)
        // client-id-taken: an id in use, and a removed one (ids are never reused).
        expectVoid(try h.schedule(try await f.command(4, .addClient(try await f.clientDescriptor(2, keys: f.clientKeys(2, epoch: 7))))), .clientIDTaken)
        expectVoid(try h.schedule(try await f.command(4, .addClient(try await f.clientDescriptor(1, keys: f.clientKeys(1, epoch: 7))))), .clientIDTaken)
        // invalid-command: each action's own rules.
        for action in try await invalidActions(f, number: 4) {
            expectVoid(try h.schedule(try await f.command(4, action)), .invalidCommand)
        }
        // malformed-certificate, certificate-invalid (below Q, over another command, another use's DST).
        let valid = try await f.command(4, .rotateReplicaKeys(targets: [Self.r(2)], kinds: .tls))
        expectVoid(try h.schedule(valid, certificate: [0x80]), .malformedCertificate)
        let approvers = try h.approvers(at: h.s + 1)
        let message = OperatorCommand.approvalMessage(cluster: f.cluster, command: valid)
        let short = try ClusterCertificate.combine(approvers.prefix(2).map { Approval(approverKey: $0.name, share: $0.consensus.signature(for: message, domain: SignatureTag.commandApprovalDST)) },
                                                   message: message, domain: SignatureTag.commandApprovalDST, replicaCount: 4, quorum: 2) { f.keys($0.replica.index, epoch: $0.epoch).consensus.publicKey }
        expectVoid(try h.schedule(valid, certificate: short.bytes), .certificateInvalid)
        expectVoid(try h.schedule(valid, certificate: try f.certificate(of: good, by: approvers).bytes), .certificateInvalid)
        expectVoid(try h.schedule(valid, certificate: try f.certificate(message: message, domain: SignatureTag.keyLogApprovalDST, by: approvers).bytes), .certificateInvalid)
        // None of these changed anything; the valid one is still accepted afterwards.
        #expect(h.log.highestCommand == 3 && h.log.clients == [ClientID(2)] && h.log.pendingOrders(of: .replica(Self.r(2))) == nil)
        #expect(h.log.length == length + 33)
        #expect(try h.schedule(valid).status == .accepted)
        #expect(h.log.highestCommand == 4 && h.log.pendingOrders(of: .replica(Self.r(2))) == PendingOrders(commands: [4], kinds: 4))
    }

    /// Actions refused by their own rules (`invalid-command`), at command number `number`.
    func invalidActions(_ f: ClusterFixture, number: UInt64) async throws -> [OperatorCommand.Action] {
        // add-client: a binding that does not verify; a pin already a replica's or a client's.
        let keys = f.clientKeys(5, epoch: 0)
        let unbound = try await ClientDescriptor.build(cluster: f.cluster, client: ClientID(5), keys: keys.keySet) { _ in [UInt8](repeating: 1, count: 64) }
        let replicaPin = ClientKeySet(signingKey: keys.signingKey, tlsPin: f.keys(3, epoch: 0).tlsPin, apiTLSPin: keys.apiTLSPin)
        let clientPin = ClientKeySet(signingKey: keys.signingKey, tlsPin: keys.tlsPin, apiTLSPin: f.clientKeys(2, epoch: 0).tlsPin)
        let removedPin = ClientKeySet(signingKey: keys.signingKey, tlsPin: f.clientKeys(1, epoch: 0).apiTLSPin, apiTLSPin: keys.apiTLSPin)
        var actions: [OperatorCommand.Action] = []
        actions.append(.addClient(unbound))
        for set in [replicaPin, clientPin, removedPin] {
            actions.append(.addClient(try await ClientDescriptor.build(cluster: f.cluster, client: ClientID(5), keys: set) { keys.sign($0) }))
        }
        // replace-replica: a proof of possession of another key, a bad or taken address, another
        // replica's key, a pin the log already holds (its own old one included).
        let fresh = f.replacement(1, generation: 1)
        func replacing(address: String? = nil, main: [UInt8]? = nil, consensus: BLS12381.PublicKey? = nil,
                       pop: BLS12381.ProofOfPossession? = nil, pin: [UInt8]? = nil) -> OperatorCommand.Action {
            .replaceReplica(ReplicaDescriptor(id: fresh.id, address: address ?? fresh.address, mainKey: main ?? fresh.mainKey,
                                              consensusKey: consensus ?? fresh.consensusKey, proofOfPossession: pop ?? fresh.proofOfPossession,
                                              tlsPin: pin ?? fresh.tlsPin))
        }
        let other = f.keys(2, epoch: 0)
        actions += [
            replacing(pop: other.consensus.proofOfPossession()),
            replacing(address: "no-port"),
            replacing(address: "127.0.0.1:7002"),
            replacing(main: other.mainPublicKey),
            replacing(consensus: other.consensus.publicKey, pop: other.consensus.proofOfPossession()),
            replacing(pin: other.tlsPin),
            replacing(pin: f.keys(1, epoch: 0).tlsPin),
            replacing(pin: f.clientKeys(2, epoch: 0).apiTLSPin),
        ]
        // rotate-operator-key: a proof by another key, or for another command number.
        let newKey = try SigningPrivateKey(generating: .ed25519)
        guard case .rotateOperatorKey(let key, _) = try f.operatorKeyAction(number, newKey: newKey),
              case .rotateOperatorKey(_, let otherProof) = try f.operatorKeyAction(number + 1, newKey: newKey) else { return actions }
        actions.append(.rotateOperatorKey(key, proof: otherProof))
        actions.append(.rotateOperatorKey(key, proof: try f.operatorKey.signature(for: OperatorCommand.operatorKeyBindingMessage(cluster: f.cluster, number: number, key: key)).bytes))
        return actions
    }

    @Test func theApproverChecksMatchTheLogsReasons() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)
        try await h.execute(2, .removeClient(ClientID(1)))
        try await h.addClient(2, number: 3)
        let log = h.log
        func refused(_ command: OperatorCommand, _ error: ClusterError, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: error, sourceLocation: sourceLocation) { try log.checkCommand(command) }
        }
        refused(try await f.command(4, .removeClient(ClientID(2)), cluster: [UInt8](repeating: 9, count: 16)), .clusterMismatch)
        refused(try await ClusterFixture(n: 4, seed: 9).command(4, .removeClient(ClientID(2))), .badCommandSignature)
        refused(try await f.command(3, .rotateReplicaKeys(targets: nil, kinds: .all)), .commandReplay(number: 3, highest: 3))
        refused(try await f.command(4, .removeClient(ClientID(1))), .unknownTarget("client 1 was removed"))
        refused(try await f.command(4, .rotateClientKeys(targets: [ClientID(4)], kinds: .all)), .unknownTarget("client 4 was never added"))
        refused(try await f.command(4, .rotateReplicaKeys(targets: [Self.r(9)], kinds: .all)), .unknownTarget("replica 9 is not in the configuration"))
        refused(try await f.command(4, .addClient(try await f.clientDescriptor(1))), .clientIDTaken(ClientID(1)))
        for action in try await invalidActions(f, number: 4) {
            let command = try await f.command(4, action)
            #expect {
                try log.checkCommand(command)
            } throws: { error in
                if case .invalidCommand = error as? ClusterError { return true }
                return false
            }
        }
        try log.checkCommand(try await f.command(4, .rotateReplicaKeys(targets: nil, kinds: .all)))
        try log.checkCommand(try await f.command(4, .removeClient(ClientID(2))))
    }

    @Test func aCommandExecutesOnceAndItsNumberNeverAgain() async throws {
        var h = try await LogHarness()
        let command = try await h.execute(1, .rotateReplicaKeys(targets: [Self.r(0)], kinds: .main))
        expectVoid(try h.schedule(command), .commandReplay)
        // A void command does not raise the highest number: 2 is still free after a void 2.
        expectVoid(try h.schedule(try await h.fixture.command(2, .removeClient(ClientID(3)))), .unknownTarget)
        #expect(h.log.highestCommand == 1)
        try await h.execute(2, .rotateReplicaKeys(targets: [Self.r(1)], kinds: .main))
        // Numbers may skip; only order matters.
        try await h.execute(10, .rotateReplicaKeys(targets: [Self.r(2)], kinds: .main))
        expectVoid(try h.schedule(try await h.fixture.command(9, .rotateReplicaKeys(targets: [Self.r(3)], kinds: .main))), .commandReplay)
        #expect(h.log.commands.map(\.number) == [1, 2, 10] && h.log.commandProgress(9) == nil)
        #expect(h.log.commandProgress(10)?.action == .rotateReplicaKeys(targets: [Self.r(2)], kinds: .main))
    }

    @Test func rotatingTheOperatorKeyRetiresTheOldOne() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        let newKey = try SigningPrivateKey(generating: .ecdsaP384SHA384)
        // A void rotation (a bad proof) changes nothing.
        let wrongProof = try f.operatorKeyAction(2, newKey: newKey)
        expectVoid(try h.schedule(try await f.command(1, wrongProof)), .invalidCommand)
        #expect(h.log.operatorKey == f.configuration.operatorKey)
        try await h.execute(1, try f.operatorKeyAction(1, newKey: newKey))
        #expect(h.log.operatorKey.rawRepresentation == newKey.publicKey.rawRepresentation!)
        // The old key's commands are refused from the next entry on, the new key's accepted.
        expectVoid(try h.schedule(try await f.command(2, .rotateReplicaKeys(targets: nil, kinds: .all))), .badOperatorSignature)
        #expect(try h.schedule(try await f.command(2, .rotateReplicaKeys(targets: nil, kinds: .all), signer: newKey)).status == .accepted)
        // And once more, back to an Ed25519 key.
        let third = try SigningPrivateKey(generating: .ed25519)
        #expect(try h.schedule(try await f.command(3, try f.operatorKeyAction(3, newKey: third), signer: newKey)).status == .accepted)
        expectVoid(try h.schedule(try await f.command(4, .removeClient(ClientID(1)), signer: newKey)), .badOperatorSignature)
        #expect(h.log.commandProgress(3)?.complete == true)
        // Replaying the stored entries gives the same log and the same operator key.
        let replayed = try KeyLog(configuration: f.configuration, replaying: h.log.entries)
        #expect(replayed.operatorKey == h.log.operatorKey && replayed.head == h.log.head && replayed.highestCommand == 3)
    }

    @Test func replacingAReplicaStartsItsNextGeneration() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.execute(1, .rotateReplicaKeys(targets: nil, kinds: .all))
        // Replica 2 rotates once in generation 0, then is replaced.
        #expect(try h.schedule(try await f.record(KeyLogTests.name(2, 1), command: 1)).status == .accepted)
        let oldEpoch2 = try await f.record(KeyLogTests.name(2, 2))
        let replacement = f.replacement(2, generation: 1, address: "10.0.0.2:7443")
        try await h.execute(2, .replaceReplica(replacement))
        let newest = try #require(h.log.newestKeys(of: Self.r(2)))
        #expect(newest.name == KeyName(replica: Self.r(2), generation: 1, epoch: 0) && newest.mainKey == replacement.mainKey)
        #expect(h.log.addresses[2] == "10.0.0.2:7443" && h.log.pinOwner(replacement.tlsPin) == .replica(Self.r(2)))
        #expect(h.log.key(KeyName(replica: Self.r(2), generation: 1, epoch: 0)) == newest)
        // The old generation's next record is void; the new generation's first record is accepted.
        expectVoid(try h.schedule(oldEpoch2), .unknownGeneration)
        let g1 = try await f.record(KeyLogTests.name(2, 1, g: 1))
        #expect(throws: ClusterError.unknownGeneration(oldEpoch2.name)) { try h.log.checkProposal(Proposal(record: oldEpoch2, previous: nil)) }
        try h.log.checkProposal(Proposal(record: g1, previous: nil))
        #expect(try h.schedule(g1).status == .accepted)
        #expect(h.log.newestCertifiedEpoch(replica: Self.r(2), generation: 1) == 1)
        // The replacement keys join the keyset two checkpoints later, like a record's.
        #expect(try h.log.keyset(at: h.s)(Self.r(2))?.name.generation == 0)
        try h.settle()
        #expect(try h.log.keyset(at: h.s + 1)(Self.r(2))?.name == KeyName(replica: Self.r(2), generation: 1, epoch: 1))
        // The replacement counts as replica 2 having executed command 1.
        let progress = try #require(h.log.commandProgress(1))
        #expect(progress.targets == (0..<4).map { .replica(Self.r($0)) })
        #expect(progress.targetsRemaining == [.replica(Self.r(0)), .replica(Self.r(1)), .replica(Self.r(3))] && !progress.complete)
        #expect(h.log.pendingOrders(of: .replica(Self.r(2))) == nil)
        #expect(h.log.commandProgress(2)?.complete == true)
    }

    /// Candidate keys renewing only `renew`: the other kinds are `previous`'s.
    static func partial(_ previous: TestKeys, _ fresh: TestKeys, renew: ReplicaKeyKinds) -> CandidateKeys {
        TestKeysMix(consensus: previous, main: previous, pin: previous).renewing(renew, from: fresh)
    }

    func record(_ f: ClusterFixture, _ name: KeyName, renew: ReplicaKeyKinds, command: UInt64, authority: TestKeys? = nil) async throws -> KeyExchangeRecord {
        let previous = authority ?? f.keys(name.replica.index, generation: name.generation, epoch: name.epoch - 1)
        let keys = Self.partial(previous, f.keys(name.replica.index, generation: name.generation, epoch: name.epoch), renew: renew)
        return try await KeyExchangeRecord.build(cluster: f.cluster, name: name, keys: keys, command: command) { previous.signMain($0) }
    }

    @Test func recordsAnswerOrdersAndMustRenewTheOrderedKinds() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.execute(1, .rotateReplicaKeys(targets: [Self.r(1), Self.r(2)], kinds: .main))
        try await h.execute(2, .rotateReplicaKeys(targets: [Self.r(1)], kinds: .tls))
        try await h.addClient(4, number: 3)
        #expect(h.log.pendingOrders(of: .replica(Self.r(1))) == PendingOrders(commands: [1, 2], kinds: 6))
        #expect(h.log.pendingOrders(of: .replica(Self.r(1)))?.replicaKinds == [.main, .tls])
        #expect(h.log.pendingOrders(of: .replica(Self.r(1)))?.highestCommand == 2)
        #expect(h.log.pendingOrders(of: .replica(Self.r(3))) == nil)

        // unknown-command: not a target, a number never accepted, a command that orders nothing.
        let name11 = KeyLogTests.name(1, 1)
        expectVoid(try h.schedule(try await record(f, KeyLogTests.name(3, 1), renew: .all, command: 1)), .unknownCommand)
        expectVoid(try h.schedule(try await record(f, name11, renew: .all, command: 7)), .unknownCommand)
        expectVoid(try h.schedule(try await record(f, name11, renew: .all, command: 3)), .unknownCommand)
        // kinds-not-renewed: answering 2 covers orders 1 and 2 (main and TLS); keeping the TLS key fails.
        let keepsTLS = try await record(f, name11, renew: [.main, .consensus], command: 2)
        expectVoid(try h.schedule(keepsTLS), .kindsNotRenewed)
        #expect(throws: ClusterError.kindsNotRenewed("replica 1 must renew main, tls for command 2")) {
            try h.log.checkProposal(Proposal(record: keepsTLS, previous: nil))
        }
        let unordered = try await record(f, name11, renew: .all, command: 7)
        #expect(throws: ClusterError.unknownCommand(7)) { try h.log.checkProposal(Proposal(record: unordered, previous: nil)) }
        // Answering 1 alone needs only the main key: consensus and TLS keys carried over.
        let mainOnly = try await record(f, name11, renew: .main, command: 1)
        try h.log.checkProposal(Proposal(record: mainOnly, previous: nil))
        #expect(try h.schedule(mainOnly).status == .accepted)
        #expect(h.log.pendingOrders(of: .replica(Self.r(1))) == PendingOrders(commands: [2], kinds: 4))
        // A record with command 0 satisfies nothing, even when it renews everything.
        #expect(try h.schedule(try await f.record(KeyLogTests.name(2, 1))).status == .accepted)
        #expect(h.log.pendingOrders(of: .replica(Self.r(2))) == PendingOrders(commands: [1], kinds: 2))
        // Replica 1 answers 2 renewing only TLS: its epoch-1 key set has epoch 1's main key and
        // epoch 0's consensus and TLS keys; the epoch-1 main key authorises.
        let previous = TestKeysMix(consensus: f.keys(1, epoch: 0), main: f.keys(1, epoch: 1), pin: f.keys(1, epoch: 0))
        let answer2 = try await KeyExchangeRecord.build(cluster: f.cluster, name: KeyLogTests.name(1, 2), keys: previous.renewing(.tls, from: f.keys(1, epoch: 2)), command: 2) {
            f.keys(1, epoch: 1).signMain($0)
        }
        #expect(try h.schedule(answer2).status == .accepted)
        #expect(h.log.pendingOrders(of: .replica(Self.r(1))) == nil)
        #expect(h.log.key(KeyLogTests.name(1, 2))?.consensusKey == f.keys(1, epoch: 0).consensus.publicKey)

        // Completion waits for activation of every target's answer.
        #expect(h.log.commandProgress(1)?.targetsRemaining == [.replica(Self.r(1)), .replica(Self.r(2))])
        #expect(h.log.commandProgress(2)?.complete == false && h.log.commandProgress(3)?.complete == true)
        try h.settle()
        #expect(h.log.commandProgress(1)?.targetsRemaining == [.replica(Self.r(2))])
        #expect(h.log.commandProgress(2)?.complete == true)
        #expect(try h.schedule(try await record(f, KeyLogTests.name(2, 2), renew: .main, command: 1, authority: f.keys(2, epoch: 1))).status == .accepted)
        #expect(h.log.commandProgress(1)?.complete == false)
        try h.settle()
        #expect(h.log.commandProgress(1)?.complete == true && h.log.commands.allSatisfy(\.complete))
        #expect(h.log.lastRotation(of: .replica(Self.r(1)))?.sequence == h.log.entries[Int(h.log.length) - 2].sequence)
        #expect(h.log.lastRotation(of: .replica(Self.r(3))) == nil)
    }

    @Test func aLaterAnswerSatisfiesEveryEarlierOrderAndNullTargetsResolveAtExecution() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)
        try await h.execute(2, .rotateReplicaKeys(targets: nil, kinds: .consensus))
        try await h.execute(3, .rotateClientKeys(targets: nil, kinds: .tls))
        try await h.addClient(2, number: 4)
        try await h.execute(5, .rotateReplicaKeys(targets: [Self.r(0)], kinds: .main))
        // Client 2, added after command 3, is not one of its targets.
        #expect(h.log.commandProgress(3)?.targets == [.client(ClientID(1))])
        #expect(h.log.pendingOrders(of: .client(ClientID(2))) == nil)
        #expect(h.log.pendingOrders(of: .replica(Self.r(0))) == PendingOrders(commands: [2, 5], kinds: 3))
        // Replica 0 answers 5: it satisfies 2 as well.
        #expect(try h.schedule(try await f.record(KeyLogTests.name(0, 1), command: 5)).status == .accepted)
        #expect(h.log.pendingOrders(of: .replica(Self.r(0))) == nil)
        try h.settle()
        #expect(h.log.commandProgress(5)?.complete == true)
        #expect(h.log.commandProgress(2)?.targetsRemaining == [1, 2, 3].map { .replica(Self.r($0)) })
        // Removing client 1 completes command 3 for it.
        try await h.execute(6, .removeClient(ClientID(1)))
        #expect(h.log.commandProgress(3)?.complete == true && h.log.pendingOrders(of: .client(ClientID(1))) == nil)
        #expect(h.log.clients == [ClientID(2)] && h.log.isRemoved(ClientID(1)) && h.log.isKnownClient(ClientID(1)) && !h.log.isKnownClient(ClientID(3)))
        // A null-target client rotation with no client registered has no target and is complete.
        try await h.execute(7, .removeClient(ClientID(2)))
        try await h.execute(8, .rotateClientKeys(targets: nil, kinds: .all))
        #expect(h.log.commandProgress(8)?.targets == [] && h.log.commandProgress(8)?.complete == true)
        // The whole log replays from its stored entries, and verifies from an export.
        let replayed = try KeyLog(configuration: f.configuration, replaying: h.log.entries)
        #expect(replayed.head == h.log.head && replayed.commands == h.log.commands && replayed.clients == h.log.clients)
        let export = LogExport(configuration: f.configuration, entries: try h.log.entries.map { try LogEntry(bytes: $0.bytes) }, checkpoints: [])
        let report = try LogVerifier.verify(export.encoded)
        #expect(report.commands.map(\.number) == Array(1...8) && report.clients.isEmpty && report.removedClients == [ClientID(1), ClientID(2)])
    }
}

/// Replica keys whose kinds come from different epochs (after a rotation that carried some).
struct TestKeysMix {
    let consensus: TestKeys
    let main: TestKeys
    let pin: TestKeys

    func renewing(_ kinds: ReplicaKeyKinds, from fresh: TestKeys) -> CandidateKeys {
        let c = (kinds.contains(.consensus) ? fresh : consensus).consensus
        let m = (kinds.contains(.main) ? fresh : main).main
        return CandidateKeys(consensusPublicKey: c.publicKey, proofOfPossession: c.proofOfPossession(), mainPublicKey: m.publicKey.rawRepresentation!,
                             tlsPin: (kinds.contains(.tls) ? fresh : pin).tlsPin,
                             signConsensus: { c.signature(for: $0, domain: $1) }, signMain: { try m.signature(for: $0).bytes })
    }
}
