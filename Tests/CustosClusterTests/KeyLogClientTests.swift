import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

/// Client nodes in the key log: registration, every void reason of a client record, pins
/// across replicas and clients, and the client keyset. N = 4 (Q = 3), W = 4.
@Suite struct KeyLogClientTests {
    static func name(_ k: Int, _ e: UInt64) -> ClientKeyName { ClientKeyName(client: ClientID(k), epoch: e) }

    /// Candidate keys of client k at epoch e renewing `kinds`, the others carried from `previous`.
    func candidate(_ f: ClusterFixture, _ k: Int, _ e: UInt64, renew: ClientKeyKinds, previous: TestClientKeys? = nil) -> ClientCandidateKeys {
        (previous ?? f.clientKeys(k, epoch: e - 1)).carrying(renew, from: f.clientKeys(k, epoch: e))
    }

    @Test func everyVoidReasonOfAClientRecordInOrder() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)
        try await h.addClient(2, number: 2, scheme: .ecdsaP256SHA256)
        try await h.addClient(3, number: 3)
        try await h.execute(4, .removeClient(ClientID(3)))
        try await h.execute(5, .rotateClientKeys(targets: [ClientID(1)], kinds: .signing))
        try await h.execute(6, .rotateClientKeys(targets: [ClientID(2)], kinds: .apiTLS))
        #expect(h.log.clients == [ClientID(1), ClientID(2)])
        #expect(h.log.newestClientKeys(of: ClientID(2))?.signingKey.scheme == .ecdsaP256SHA256)

        let one = try await f.clientRecord(Self.name(1, 1), command: 5)
        let keys20 = f.clientKeys(2, epoch: 0, scheme: .ecdsaP256SHA256)
        func record2(_ keys: ClientCandidateKeys, command: UInt64 = 6, authority: TestClientKeys? = nil) async throws -> ClientKeyRecord {
            try await f.clientRecord(Self.name(2, 1), keys: keys, authority: authority ?? keys20, command: command)
        }
        let renewAPI = keys20.carrying(.apiTLS, from: f.clientKeys(2, epoch: 1))
        // malformed-record
        expectVoid(try h.schedule(.clientRecord, Array(one.bytes.dropLast()), certificate: [0x80], message: [], domain: SignatureTag.clientKeyApprovalDST), .malformedRecord)
        // unknown-client, client-removed
        expectVoid(try h.schedule(try await f.clientRecord(Self.name(9, 1))), .unknownClient)
        expectVoid(try h.schedule(try await f.clientRecord(Self.name(3, 1))), .clientRemoved)
        // replay, epoch-taken
        #expect(try h.schedule(one).status == .accepted)
        expectVoid(try h.schedule(one), .replay)
        expectVoid(try h.schedule(try await f.clientRecord(Self.name(1, 1), keys: f.clientKeys(1, epoch: 9).candidate, command: 5)), .epochTaken)
        // epoch-gap
        expectVoid(try h.schedule(try await f.clientRecord(Self.name(1, 3))), .epochGap)
        // bad-record-signature: authority by a superseded key; a binding not by the new key.
        expectVoid(try h.schedule(try await f.clientRecord(Self.name(1, 2), authority: f.clientKeys(1, epoch: 0))), .badRecordSignature)
        let unbound = ClientCandidateKeys(signingKey: renewAPI.signingKey, tlsPin: renewAPI.tlsPin, apiTLSPin: renewAPI.apiTLSPin,
                                          signBinding: f.clientKeys(2, epoch: 5, scheme: .ecdsaP256SHA256).candidate.signBinding)
        expectVoid(try h.schedule(try await record2(unbound)), .badRecordSignature)
        // unknown-command: not a target, a command that orders nothing, a number never accepted.
        expectVoid(try h.schedule(try await record2(renewAPI, command: 5)), .unknownCommand)
        expectVoid(try h.schedule(try await record2(renewAPI, command: 4)), .unknownCommand)
        expectVoid(try h.schedule(try await record2(renewAPI, command: 99)), .unknownCommand)
        // kinds-not-renewed: the API TLS key ordered, kept.
        expectVoid(try h.schedule(try await record2(keys20.carrying(.tls, from: f.clientKeys(2, epoch: 1)))), .kindsNotRenewed)
        // foreign-tls-pin: a replica's pin, another client's newest or older pin, a removed client's pin.
        for pin in [f.keys(0, epoch: 0).tlsPin, f.clientKeys(1, epoch: 1).tlsPin, f.clientKeys(1, epoch: 0).apiTLSPin, f.clientKeys(3, epoch: 0).tlsPin] {
            let copied = ClientCandidateKeys(signingKey: renewAPI.signingKey, tlsPin: renewAPI.tlsPin, apiTLSPin: pin, signBinding: renewAPI.signBinding)
            expectVoid(try h.schedule(try await record2(copied)), .foreignTLSPin)
        }
        // malformed-certificate, certificate-invalid (a certificate made for another use).
        let good = try await record2(renewAPI)
        expectVoid(try h.schedule(good, certificate: [0x80]), .malformedCertificate)
        let approvers = try h.approvers(at: h.s + 1)
        let message = ClientKeyRecord.approvalMessage(cluster: f.cluster, record: good)
        expectVoid(try h.schedule(good, certificate: try f.certificate(message: message, domain: SignatureTag.keyLogApprovalDST, by: approvers).bytes), .certificateInvalid)
        expectVoid(try h.schedule(good, certificate: try f.certificate(of: one, by: approvers).bytes), .certificateInvalid)
        // Nothing changed for client 2; the good record keeps its own signing and TLS keys and is accepted.
        #expect(h.log.newestClientKeys(of: ClientID(2))?.name == Self.name(2, 0))
        #expect(try h.schedule(good).status == .accepted)
        let newest = try #require(h.log.newestClientKeys(of: ClientID(2)))
        #expect(newest.name == Self.name(2, 1) && newest.signingKey == keys20.signingKey && newest.tlsPin == keys20.tlsPin)
        #expect(h.log.clientKey(Self.name(2, 0))?.apiTLSPin == keys20.apiTLSPin && h.log.clientKey(Self.name(2, 2)) == nil)
        #expect(h.log.pendingOrders(of: .client(ClientID(2))) == nil && h.log.pendingOrders(of: .client(ClientID(1))) == nil)
        #expect(h.log.pinOwner(newest.apiTLSPin) == .client(ClientID(2)) && h.log.pinOwner(keys20.apiTLSPin) == .client(ClientID(2)))
        #expect(h.log.lastRotation(of: .client(ClientID(2)))?.sequence == h.s && h.log.lastRotation(of: .client(ClientID(3))) == nil)
        try h.settle()
        #expect(h.log.commands.allSatisfy { $0.complete })
    }

    @Test func theApproverChecksOfAClientRecord() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)
        try await h.addClient(2, number: 2)
        try await h.execute(3, .removeClient(ClientID(2)))
        try await h.execute(4, .rotateClientKeys(targets: [ClientID(1)], kinds: [.tls, .apiTLS]))
        let log = h.log
        func refused(_ record: ClientKeyRecord, _ error: ClusterError, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: error, sourceLocation: sourceLocation) { try log.checkClientRecord(record) }
        }
        refused(try await f.clientRecord(Self.name(7, 1)), .unknownClient(ClientID(7)))
        refused(try await f.clientRecord(Self.name(2, 1)), .clientRemoved(ClientID(2)))
        refused(try await f.clientRecord(Self.name(1, 2)), .unexpectedClientEpoch(Self.name(1, 2), expected: 1))
        refused(try await f.clientRecord(Self.name(1, 1), authority: f.clientKeys(2, epoch: 0)), .badClientRecordSignature(Self.name(1, 1)))
        refused(try await f.clientRecord(Self.name(1, 1), command: 3), .unknownCommand(3))
        refused(try await f.clientRecord(Self.name(1, 1), keys: candidate(f, 1, 1, renew: [.signing, .tls]), command: 4),
                .kindsNotRenewed("client 1 must renew tls, api-tls for command 4"))
        let keys = f.clientKeys(1, epoch: 1)
        let foreign = ClientCandidateKeys(signingKey: keys.signingKey, tlsPin: f.keys(2, epoch: 0).tlsPin, apiTLSPin: keys.apiTLSPin, signBinding: keys.candidate.signBinding)
        refused(try await f.clientRecord(Self.name(1, 1), keys: foreign), .pinTaken(owner: .replica(ReplicaID(2)), claimant: .client(ClientID(1))))
        try log.checkClientRecord(try await f.clientRecord(Self.name(1, 1), keys: candidate(f, 1, 1, renew: [.tls, .apiTLS]), command: 4))
        // Without a command the record need renew nothing: a rotation the client chose itself.
        try log.checkClientRecord(try await f.clientRecord(Self.name(1, 1), keys: candidate(f, 1, 1, renew: .signing)))
    }

    @Test func replicaRecordsMayNotTakeAClientPin() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)
        let keys = f.keys(0, epoch: 1)
        let pinned = TestKeysMix(consensus: keys, main: keys, pin: keys).renewing([.consensus, .main], from: keys)
        let base = CandidateKeys(consensusPublicKey: pinned.consensusPublicKey, proofOfPossession: pinned.proofOfPossession, mainPublicKey: pinned.mainPublicKey,
                                 tlsPin: f.clientKeys(1, epoch: 0).apiTLSPin, signConsensus: pinned.signConsensus, signMain: pinned.signMain)
        let record = try await KeyExchangeRecord.build(cluster: f.cluster, name: KeyLogTests.name(0, 1), keys: base) { f.keys(0, epoch: 0).signMain($0) }
        #expect(throws: ClusterError.pinTaken(owner: .client(ClientID(1)), claimant: .replica(ReplicaID(0)))) {
            try h.log.checkProposal(Proposal(record: record, previous: nil))
        }
        expectVoid(try h.schedule(record), .foreignTLSPin)
    }

    @Test func theClientKeysetFollowsTheReplicasDelay() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)          // s = 1
        #expect(try h.log.clientKeyset(at: 8).clients.isEmpty)
        #expect(throws: ClusterError.keysetUndecided(sequence: 9, needsCheckpoint: 4)) { try h.log.clientKeyset(at: 9) }
        try h.settle()                                // checkpoint notice 8, s = 8
        #expect(try h.log.clientKeyset(at: 9)(ClientID(1))?.name == Self.name(1, 0))
        #expect(try h.log.clientKeyset(at: 12).clients.map(\.name) == [Self.name(1, 0)])
        #expect(try h.schedule(try await f.clientRecord(Self.name(1, 1))).status == .accepted)  // s = 9
        try await h.addClient(2, number: 2)          // s = 10
        try await h.execute(3, .removeClient(ClientID(1)))  // s = 11
        // keyset(t) for t ≤ 16 is decided at 8: client 1 at epoch 0, client 2 absent.
        #expect(try h.log.clientKeyset(at: 16).clients.map(\.name) == [Self.name(1, 0)])
        try h.settle()                                // s = 16, notice 16
        // From 17 (decided at 12): client 1 removed, client 2 present.
        #expect(try h.log.clientKeyset(at: 17).clients.map(\.name) == [Self.name(2, 0)])
        #expect(try h.log.clientKeyset(at: 17)(ClientID(1)) == nil)
        #expect(h.log.clients == [ClientID(2)] && h.log.removedClients == [ClientID(1)])
        #expect(h.log.newestClientKeys(of: ClientID(1))?.name == Self.name(1, 1))
    }
}
