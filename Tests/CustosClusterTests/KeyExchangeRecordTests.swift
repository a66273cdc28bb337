import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

@Suite struct KeyExchangeRecordTests {
    let name = KeyName(replica: ReplicaID(1), generation: 0, epoch: 1)

    /// A record body with chosen fields, signed by `authority`.
    func forged(_ fixture: ClusterFixture, _ mutate: (inout [CBORValue]) -> Void, authority: TestKeys) async throws -> [UInt8] {
        let good = try await fixture.record(name)
        var fields = try CBOR.decode(good.bodyBytes).array("body")
        mutate(&fields)
        let body = CBORValue.array(fields).encoded
        let signature = authority.signMain(KeyExchangeRecord.authorityMessage(cluster: fixture.cluster, bodyBytes: body))
        return CBORValue.array([.bytes(body), .bytes(signature)]).encoded
    }

    @Test func buildsDecodesAndVerifies() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let record = try await fixture.record(name)
        let decoded = try KeyExchangeRecord(bytes: record.bytes)
        #expect(decoded == record)
        #expect(decoded.name == name)
        #expect(decoded.digest == SHA256Digest.of(record.bytes))
        #expect(decoded.mainKey == fixture.keys(1, epoch: 1).mainPublicKey)
        #expect(record.bytes.count <= KeyExchangeRecord.maximumByteCount)
        try decoded.verify(cluster: fixture.cluster, authorityKey: fixture.keys(1, epoch: 0).mainPublicKey)
    }

    @Test func refusesTheWrongAuthorityKey() async throws {
        let fixture = try await ClusterFixture(n: 4)
        // Signed by replica 2's bootstrap main key but naming replica 1 (a forged replica id).
        let forged = try await fixture.record(name, authority: fixture.keys(2, epoch: 0))
        #expect(throws: ClusterError.badAuthoritySignature(name)) {
            try forged.verify(cluster: fixture.cluster, authorityKey: fixture.keys(1, epoch: 0).mainPublicKey)
        }
        // A record for another cluster.
        let record = try await fixture.record(name)
        #expect(throws: (any Error).self) { try record.verify(cluster: [UInt8](repeating: 9, count: 16), authorityKey: fixture.keys(1, epoch: 0).mainPublicKey) }
        // Epoch 2 authorised by the bootstrap key instead of epoch 1's.
        let skipping = try await fixture.record(name.next, authority: fixture.keys(1, epoch: 0))
        #expect(throws: ClusterError.badAuthoritySignature(name.next)) {
            try skipping.verify(cluster: fixture.cluster, authorityKey: fixture.keys(1, epoch: 1).mainPublicKey)
        }
    }

    @Test func refusesABadOrMissingProofOfPossession() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let authority = fixture.keys(1, epoch: 0)
        let other = fixture.keys(2, epoch: 5)
        let badPop = try await forged(fixture, { $0[4] = .bytes(other.consensus.proofOfPossession().compressedRepresentation) }, authority: authority)
        #expect(throws: ClusterError.badProofOfPossession(what: "record \(name)")) {
            try KeyExchangeRecord(bytes: badPop).verify(cluster: fixture.cluster, authorityKey: authority.mainPublicKey)
        }
        let missing = try await forged(fixture, { $0[4] = .bytes([]) }, authority: authority)
        #expect(throws: ClusterError.malformed("record proof of possession must be 96 bytes, has 0")) { try KeyExchangeRecord(bytes: missing) }
    }

    /// A replica that copies another's public key cannot sign the binding with it.
    @Test func refusesACopiedKey() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let authority = fixture.keys(1, epoch: 0)
        let victim = fixture.keys(2, epoch: 1)
        let copiedConsensus = try await forged(fixture, {
            $0[3] = .bytes(victim.consensus.publicKey.compressedRepresentation)
            $0[4] = .bytes(victim.consensus.proofOfPossession().compressedRepresentation)  // the victim's proof is public too
        }, authority: authority)
        #expect(throws: ClusterError.badConsensusBinding(name)) {
            try KeyExchangeRecord(bytes: copiedConsensus).verify(cluster: fixture.cluster, authorityKey: authority.mainPublicKey)
        }
        let copiedMain = try await forged(fixture, { $0[6] = .bytes(victim.mainPublicKey) }, authority: authority)
        #expect(throws: ClusterError.badConsensusBinding(name)) {
            // The consensus binding covers the main key too, so it fails first.
            try KeyExchangeRecord(bytes: copiedMain).verify(cluster: fixture.cluster, authorityKey: authority.mainPublicKey)
        }
        // A consensus binding re-made for the copied main key still leaves the main binding.
        let own = fixture.keys(1, epoch: 1)
        let binding = KeyExchangeRecord.bindingMessage(cluster: fixture.cluster, name: name, consensusKey: own.consensus.publicKey.compressedRepresentation,
                                                       mainKey: victim.mainPublicKey, tlsPin: own.tlsPin)
        let rebound = try await forged(fixture, {
            $0[5] = .bytes(own.consensus.signature(for: binding, domain: SignatureTag.keyBindingDST).compressedRepresentation)
            $0[6] = .bytes(victim.mainPublicKey)
        }, authority: authority)
        #expect(throws: ClusterError.badMainBinding(name)) {
            try KeyExchangeRecord(bytes: rebound).verify(cluster: fixture.cluster, authorityKey: authority.mainPublicKey)
        }
        // A binding under the wrong DST (the ordinary signing tag) does not verify.
        let wrongDST = try await forged(fixture, { $0[5] = .bytes(own.consensus.signature(for: binding).compressedRepresentation) }, authority: authority)
        #expect(throws: ClusterError.badConsensusBinding(name)) {
            try KeyExchangeRecord(bytes: wrongDST).verify(cluster: fixture.cluster, authorityKey: authority.mainPublicKey)
        }
    }

    @Test func refusesMalformedTruncatedAndOversizedBytes() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let record = try await fixture.record(name)
        for length in 0..<record.bytes.count {
            #expect(throws: (any Error).self) { try KeyExchangeRecord(bytes: Array(record.bytes.prefix(length))) }
        }
        #expect(throws: ClusterError.oversized(what: "record", limit: 1024, actual: 1025)) { try KeyExchangeRecord(bytes: [UInt8](repeating: 0x80, count: 1025)) }
        let authority = fixture.keys(1, epoch: 0)
        let extra = try await forged(fixture, { $0.append(.null) }, authority: authority)
        #expect(throws: ClusterError.malformed("record body must have 10 fields, has 11")) { try KeyExchangeRecord(bytes: extra) }
        let textEpoch = try await forged(fixture, { $0[2] = .text("1") }, authority: authority)
        #expect(throws: ClusterError.malformed("record epoch must be an unsigned integer")) { try KeyExchangeRecord(bytes: textEpoch) }
        let bigReplica = try await forged(fixture, { $0[0] = .unsigned(256) }, authority: authority)
        #expect(throws: ClusterError.replicaOutOfRange(256)) { try KeyExchangeRecord(bytes: bigReplica) }
        let epochZero = try await forged(fixture, { $0[2] = .unsigned(0) }, authority: authority)
        #expect(throws: (any Error).self) { try KeyExchangeRecord(bytes: epochZero) }
        let badKey = try await forged(fixture, { $0[3] = .bytes([UInt8](repeating: 0xff, count: 48)) }, authority: authority)
        #expect(throws: ClusterError.invalidConsensusKey(what: "record \(name)")) { try KeyExchangeRecord(bytes: badKey) }
    }

    @Test func proposalsRoundTripAndRefuseAMismatchedPrevious() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let first = try await fixture.record(name)
        let certificate = try fixture.certificate(of: first, by: fixture.bootstrap(0..<3))
        let second = try await fixture.record(name.next)
        let proposal = Proposal(record: second, previous: .init(record: first, certificate: certificate.bytes))
        #expect(try Proposal(bytes: proposal.encoded) == proposal)
        let initial = Proposal(record: first, previous: nil)
        #expect(try Proposal(bytes: initial.encoded) == initial)
        // Epoch 2 without its previous record, and a previous record that is not e − 1.
        #expect(throws: ClusterError.previousRecordMismatch(name.next)) { try Proposal(bytes: Proposal(record: second, previous: nil).encoded) }
        // A previous record at the last epoch there is: refused, not an overflow.
        let last = try await fixture.record(KeyName(replica: ReplicaID(1), generation: 0, epoch: .max))
        #expect(throws: ClusterError.previousRecordMismatch(name)) {
            try Proposal(bytes: Proposal(record: first, previous: .init(record: last, certificate: certificate.bytes)).encoded)
        }
        #expect(throws: ClusterError.previousRecordMismatch(name)) {
            try Proposal(bytes: Proposal(record: first, previous: .init(record: second, certificate: certificate.bytes)).encoded)
        }
    }
}
