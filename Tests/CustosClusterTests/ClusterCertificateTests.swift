import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

@Suite struct ClusterCertificateTests {
    let name = KeyName(replica: ReplicaID(0), generation: 0, epoch: 1)

    func verify(_ cert: ClusterCertificate, _ record: KeyExchangeRecord, _ fixture: ClusterFixture,
                keys: [KeyName: BLS12381.PublicKey]? = nil) throws {
        let known = keys ?? Dictionary(uniqueKeysWithValues: fixture.bootstrap(0..<fixture.n).map { ($0.name, $0.consensus.publicKey) })
        try cert.verify(message: Approval.message(cluster: fixture.cluster, record: record), domain: SignatureTag.keyLogApprovalDST,
                        replicaCount: fixture.n, quorum: fixture.configuration.quorum) { known[$0] }
    }

    /// A certificate's bytes with chosen fields.
    func certificateBytes(aggregate: [UInt8], bits: [UInt8], keys: [(UInt64, UInt64)]) -> [UInt8] {
        CBORValue.array([.bytes(aggregate), .bytes(bits), .array(keys.map { .array([.unsigned($0.0), .unsigned($0.1)]) })]).encoded
    }

    @Test(arguments: [4, 7, 10, 64])
    func combinesAndVerifiesAQuorum(n: Int) async throws {
        let fixture = try await ClusterFixture(n: n)
        let record = try await fixture.record(name)
        let q = fixture.configuration.quorum
        let cert = try fixture.certificate(of: record, by: fixture.bootstrap((n - q)..<n))
        #expect(cert.signers == ((n - q)..<n).map { ReplicaID($0) })
        #expect(cert.signerBits.count == (n + 7) / 8)
        let decoded = try ClusterCertificate(bytes: cert.bytes, replicaCount: n)
        #expect(decoded == cert)
        try verify(decoded, record, fixture)
        // The aggregate is FastAggregateVerify over the keys the bit-vector selects.
        #expect(BLS12381.fastAggregateVerify(cert.aggregate, for: Approval.message(cluster: fixture.cluster, record: record),
                                             publicKeys: fixture.bootstrap((n - q)..<n).map(\.consensus.publicKey), domain: SignatureTag.keyLogApprovalDST))
        // Below Q: refused when combining and when verifying.
        #expect(throws: ClusterError.belowQuorum(required: q, actual: q - 1)) { try fixture.certificate(of: record, by: fixture.bootstrap(0..<(q - 1))) }
        let short = try ClusterCertificate.combine(fixture.bootstrap(0..<(q - 1)).map { fixture.approval(of: record, by: $0) },
                                                   message: Approval.message(cluster: fixture.cluster, record: record), domain: SignatureTag.keyLogApprovalDST,
                                                   replicaCount: n, quorum: q - 1) { fixture.keys($0.replica.index, epoch: $0.epoch).consensus.publicKey }
        #expect(throws: ClusterError.belowQuorum(required: q, actual: q - 1)) { try verify(short, record, fixture) }
    }

    /// Two different records for one (r, g, e) never both gather Q approvals when every honest
    /// approver approves at most one record per (r, g, e) and the f byzantine ones approve both,
    /// whichever way the proposer splits the honest approvers.
    @Test(arguments: [4, 7, 10, 64])
    func quorumIntersectionCertifiesAtMostOneRecordPerEpoch(n: Int) async throws {
        let fixture = try await ClusterFixture(n: n)
        let f = fixture.configuration.f, q = fixture.configuration.quorum
        let first = try await fixture.record(name)
        let second = try await fixture.record(name, keys: TestKeys(name: name, seed: 99))
        #expect(first.digest != second.digest)
        let byzantine = fixture.bootstrap(0..<f)
        let honest = fixture.bootstrap(f..<n)
        let needed = q - f
        let splits = Set([0, needed - 1, needed, honest.count - needed, honest.count - needed + 1, honest.count].filter { (0...honest.count).contains($0) })
        for k in splits {
            // Each honest approver decides once, for the record it saw first.
            var decided: [ReplicaID: [UInt8]] = [:]
            func approvals(_ record: KeyExchangeRecord, from approvers: ArraySlice<TestKeys>) -> [Approval] {
                approvers.compactMap { a in
                    if let d = decided[a.name.replica], d != record.digest { return nil }
                    decided[a.name.replica] = record.digest
                    return fixture.approval(of: record, by: a)
                }
            }
            let forFirst = byzantine.map { fixture.approval(of: first, by: $0) } + approvals(first, from: honest[0..<k])
            // The proposer then asks every honest approver for the second record.
            let forSecond = byzantine.map { fixture.approval(of: second, by: $0) } + approvals(second, from: honest[...])
            let combined = [(first, forFirst), (second, forSecond)].filter { record, approvals in
                (try? ClusterCertificate.combine(approvals, message: Approval.message(cluster: fixture.cluster, record: record),
                                                 domain: SignatureTag.keyLogApprovalDST, replicaCount: n, quorum: q) {
                    fixture.keys($0.replica.index, epoch: $0.epoch).consensus.publicKey
                }) != nil
            }
            #expect(combined.count <= 1, "split \(k) of \(honest.count) honest approvers certified both records")
            #expect(forFirst.count + forSecond.count == 2 * f + honest.count)
        }
        // A byzantine approver cannot add a share under an honest approver's name.
        var stolen = byzantine.map { fixture.approval(of: second, by: $0) }
        stolen.append(Approval(approverKey: honest[0].name, share: fixture.approval(of: second, by: byzantine.first ?? honest[1]).share))
        #expect(throws: ClusterError.badShare(honest[0].name.replica)) {
            try ClusterCertificate.combine(stolen, message: Approval.message(cluster: fixture.cluster, record: second), domain: SignatureTag.keyLogApprovalDST,
                                           replicaCount: n, quorum: q) { fixture.keys($0.replica.index, epoch: $0.epoch).consensus.publicKey }
        }
    }

    @Test func refusesDuplicateSharesAndUnknownKeys() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let record = try await fixture.record(name)
        let a = fixture.approval(of: record, by: fixture.keys(1, epoch: 0))
        let message = Approval.message(cluster: fixture.cluster, record: record)
        #expect(throws: ClusterError.duplicateApproval(ReplicaID(1))) {
            try ClusterCertificate.combine([a, a, fixture.approval(of: record, by: fixture.keys(2, epoch: 0))], message: message,
                                           domain: SignatureTag.keyLogApprovalDST, replicaCount: 4, quorum: 3) { fixture.keys($0.replica.index, epoch: $0.epoch).consensus.publicKey }
        }
        #expect(throws: ClusterError.unknownSignerKey(a.approverKey)) {
            try ClusterCertificate.combine([a], message: message, domain: SignatureTag.keyLogApprovalDST, replicaCount: 4, quorum: 3) { _ in nil }
        }
        let outside = Approval(approverKey: KeyName(replica: ReplicaID(4), generation: 0, epoch: 0), share: a.share)
        #expect(throws: ClusterError.replicaOutOfRange(4)) {
            try ClusterCertificate.combine([outside], message: message, domain: SignatureTag.keyLogApprovalDST, replicaCount: 4, quorum: 3) { _ in nil }
        }
        // A share made under another use's DST.
        let keys = fixture.keys(2, epoch: 0)
        let wrongUse = Approval(approverKey: keys.name, share: keys.consensus.signature(for: message, domain: SignatureTag.consensusShareDST))
        #expect(throws: ClusterError.badShare(ReplicaID(2))) {
            try ClusterCertificate.combine([a, wrongUse], message: message, domain: SignatureTag.keyLogApprovalDST, replicaCount: 4, quorum: 1) { fixture.keys($0.replica.index, epoch: $0.epoch).consensus.publicKey }
        }
        #expect(try Approval(bytes: a.encoded) == a)
    }

    @Test(arguments: [4, 10])
    func refusesTamperedCertificates(n: Int) async throws {
        let fixture = try await ClusterFixture(n: n)
        let record = try await fixture.record(name)
        let q = fixture.configuration.quorum
        let cert = try fixture.certificate(of: record, by: fixture.bootstrap(0..<q))
        let aggregate = cert.aggregate.compressedRepresentation
        let keys = (0..<q).map { _ in (UInt64(0), UInt64(0)) }
        // Bit-vector one byte too long, one too short.
        #expect(throws: ClusterError.signerBitsLength(expected: (n + 7) / 8, actual: cert.signerBits.count + 1)) {
            try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: cert.signerBits + [0], keys: keys), replicaCount: n)
        }
        #expect(throws: ClusterError.signerBitsLength(expected: (n + 7) / 8, actual: cert.signerBits.count - 1)) {
            try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: Array(cert.signerBits.dropLast()), keys: keys), replicaCount: n)
        }
        // A padding bit (position n), with a key for it so only the padding is wrong.
        var padded = cert.signerBits
        padded[n / 8] |= 1 << UInt8(n % 8)
        #expect(throws: ClusterError.signerPaddingBit(bit: n)) {
            try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: padded, keys: keys + [(0, 0)]), replicaCount: n)
        }
        // More or fewer signer keys than set bits.
        #expect(throws: ClusterError.signerKeyCountMismatch(signers: q, keys: q + 1)) {
            try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: cert.signerBits, keys: keys + [(0, 0)]), replicaCount: n)
        }
        #expect(throws: ClusterError.signerKeyCountMismatch(signers: q, keys: q - 1)) {
            try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: cert.signerBits, keys: Array(keys.dropLast())), replicaCount: n)
        }
        // Naming a replica that did not sign: one more bit set over the same aggregate.
        var extra = cert.signerBits
        extra[q / 8] |= 1 << UInt8(q % 8)
        let named = try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: extra, keys: keys + [(0, 0)]), replicaCount: n)
        #expect(throws: ClusterError.badAggregateSignature) { try verify(named, record, fixture) }
        // Swapping a signer for a non-signer.
        var swapped = cert.signerBits
        swapped[0] &= ~1
        swapped[q / 8] |= 1 << UInt8(q % 8)
        let other = try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: swapped, keys: keys), replicaCount: n)
        #expect(throws: ClusterError.badAggregateSignature) { try verify(other, record, fixture) }
        // A key the verifier does not know, and a key of the wrong epoch.
        let unknown = try ClusterCertificate(bytes: certificateBytes(aggregate: aggregate, bits: cert.signerBits, keys: [(0, 1)] + keys.dropFirst()), replicaCount: n)
        #expect(throws: ClusterError.unknownSignerKey(KeyName(replica: ReplicaID(0), generation: 0, epoch: 1))) { try verify(unknown, record, fixture) }
        // The certificate of one record does not certify another.
        let another = try await fixture.record(name, keys: TestKeys(name: name, seed: 42))
        #expect(throws: ClusterError.badAggregateSignature) { try verify(cert, another, fixture) }
        // Malformed, truncated and oversized bytes.
        for length in stride(from: 0, to: cert.bytes.count, by: 5) {
            #expect(throws: (any Error).self) { try ClusterCertificate(bytes: Array(cert.bytes.prefix(length)), replicaCount: n) }
        }
        #expect(throws: (any Error).self) { try ClusterCertificate(bytes: [UInt8](repeating: 0x80, count: ClusterCertificate.maximumByteCount + 1), replicaCount: n) }
        #expect(throws: ClusterError.badAggregateSignature) {
            try ClusterCertificate(bytes: certificateBytes(aggregate: [UInt8](repeating: 0xff, count: 96), bits: cert.signerBits, keys: keys), replicaCount: n)
        }
        // The same certificate decoded for another N, or verified for a smaller one.
        #expect(throws: ClusterError.signerBitsLength(expected: (n + 15) / 8, actual: (n + 7) / 8)) { try ClusterCertificate(bytes: cert.bytes, replicaCount: n + 8) }
        if n == 4 {  // 2 replicas take one byte too; signer 2 is padding for them
            #expect(throws: ClusterError.signerPaddingBit(bit: 2)) {
            try cert.verify(message: Approval.message(cluster: fixture.cluster, record: record), domain: SignatureTag.keyLogApprovalDST,
                            replicaCount: 2, quorum: 1) { _ in nil }
            }
        }
    }

    @Test func consensusMessagesSeparateEveryField() throws {
        let digest = [UInt8](repeating: 3, count: 32)
        let base = try ConsensusMessage(view: 1, sequence: 2, phase: .prepare, digest: digest)
        let variants = [
            try ConsensusMessage(view: 2, sequence: 2, phase: .prepare, digest: digest),
            try ConsensusMessage(view: 1, sequence: 3, phase: .prepare, digest: digest),
            try ConsensusMessage(view: 1, sequence: 2, phase: .commit, digest: digest),
            try ConsensusMessage(view: 1, sequence: 2, phase: .prepare, digest: [UInt8](repeating: 4, count: 32)),
        ]
        let cluster = ClusterFixture.clusterID
        for v in variants { #expect(v.message(cluster: cluster) != base.message(cluster: cluster)) }
        #expect(base.message(cluster: cluster) != base.message(cluster: [UInt8](repeating: 0, count: 16)))
        #expect(Hex.encode(base.message(cluster: cluster)).hasPrefix("83"))
        #expect(try CBOR.decode(base.message(cluster: cluster)) == .array([.text("custos/cluster/v1/consensus-share"), .bytes(cluster),
                                                                           .array([.unsigned(1), .unsigned(2), .unsigned(1), .bytes(digest)])]))
        #expect(throws: (any Error).self) { try ConsensusMessage(view: 1, sequence: 2, phase: .commit, digest: [1]) }
        // Every BLS use has its own DST; the other uses have none.
        let dsts = SignatureTag.allCases.compactMap(\.dst)
        #expect(Set(dsts).count == 5)
        #expect(SignatureTag.keyLogApproval.dst?.bytes == Array("CUSTOS-CLUSTER-V1-KEY-LOG-APPROVAL_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_".utf8))
    }
}
