import Testing
@testable import BLS12381

private let message: [UInt8] = Array("block 42".utf8)

/// A committee of `n` members with secret keys 1...n, admitted with their proofs of possession.
private func committee(_ n: Int, threshold: Int) throws -> ([BLS12381.PrivateKey], BLS12381.SignerSet) {
    let keys = (1...n).map { BLS12381.PrivateKey.testKey(UInt64($0) * 1_000_003) }
    let members = keys.map { (publicKey: $0.publicKey, proofOfPossession: $0.proofOfPossession()) }
    return (keys, try BLS12381.SignerSet(members: members, threshold: threshold))
}

@Suite struct QuorumCertificateTests {
    @Test func buildSerializeAndVerify() throws {
        let (keys, set) = try committee(7, threshold: 5)
        var builder = BLS12381.QuorumCertificateBuilder(signerSet: set, message: message)
        for i in [0, 2, 3, 5, 6] { try builder.add(keys[i].signature(for: message), fromSignerAt: i) }
        let qc = try builder.build()
        #expect(qc.signerIndices == [0, 2, 3, 5, 6])
        #expect(qc.signerBits == [0b0110_1101])
        let wire = qc.serializedRepresentation
        #expect(wire.count == 3 + 1 + 96)
        #expect(Array(wire[0..<4]) == [1, 0, 7, 0b0110_1101])
        let decoded = try BLS12381.QuorumCertificate(serializedRepresentation: wire)
        #expect(decoded == qc)
        try decoded.verify(message: message, signerSet: set)
        #expect(!decoded.isValid(message: Array("block 43".utf8), signerSet: set))
        #expect(throws: BLS12381Error.invalidAggregateSignature) { try decoded.verify(message: [0], signerSet: set) }
    }

    @Test func forgedShareIsNamedByIndex() throws {
        let (keys, set) = try committee(7, threshold: 4)
        var builder = BLS12381.QuorumCertificateBuilder(signerSet: set, message: message)
        try builder.add(keys[0].signature(for: message), fromSignerAt: 0)
        try builder.add(keys[1].signature(for: message), fromSignerAt: 1)
        // Member 4 sends a share made with member 3's key.
        #expect(throws: BLS12381Error.badShare(index: 4)) { try builder.add(keys[3].signature(for: message), fromSignerAt: 4) }
        // Member 5 signs the wrong message.
        #expect(throws: BLS12381Error.badShare(index: 5)) { try builder.add(keys[5].signature(for: [9]), fromSignerAt: 5) }
        #expect(throws: BLS12381Error.duplicateShare(index: 1)) { try builder.add(keys[1].signature(for: message), fromSignerAt: 1) }
        #expect(throws: BLS12381Error.signerIndexOutOfRange(index: 7, signers: 7)) { try builder.add(keys[1].signature(for: message), fromSignerAt: 7) }
        let outsider = BLS12381.PrivateKey.testKey(99)
        #expect(throws: BLS12381Error.unknownSigner) { try builder.add(outsider.signature(for: message), from: outsider.publicKey) }
        #expect(builder.shareCount == 2)
        #expect(throws: BLS12381Error.belowThreshold(required: 4, actual: 2)) { try builder.build() }
        try builder.add(keys[4].signature(for: message), from: keys[4].publicKey)
        try builder.add(keys[6].signature(for: message), fromSignerAt: 6)
        let qc = try builder.build()
        try qc.verify(message: message, signerSet: set)
    }

    @Test func signerSetAdmission() throws {
        let keys = (1...4).map { BLS12381.PrivateKey.testKey(UInt64($0) + 500) }
        var members = keys.map { (publicKey: $0.publicKey, proofOfPossession: $0.proofOfPossession()) }
        // A proof belonging to another key does not admit member 2.
        members[2].proofOfPossession = members[1].proofOfPossession
        #expect(throws: BLS12381Error.missingProofOfPossession(index: 2)) { try BLS12381.SignerSet(members: members, threshold: 2) }
        // A plain signature over the key is not a proof of possession.
        members[2].proofOfPossession = try BLS12381.ProofOfPossession(
            compressedRepresentation: keys[2].signature(for: keys[2].publicKey.compressedRepresentation).compressedRepresentation)
        #expect(throws: BLS12381Error.missingProofOfPossession(index: 2)) { try BLS12381.SignerSet(members: members, threshold: 2) }
        let pks = keys.map(\.publicKey)
        #expect(throws: BLS12381Error.duplicateSigner(index: 3)) { try BLS12381.SignerSet(preverifiedPublicKeys: [pks[0], pks[1], pks[2], pks[1]], threshold: 2) }
        #expect(throws: BLS12381Error.invalidThreshold(threshold: 5, signers: 4)) { try BLS12381.SignerSet(preverifiedPublicKeys: pks, threshold: 5) }
        #expect(throws: BLS12381Error.invalidThreshold(threshold: 0, signers: 4)) { try BLS12381.SignerSet(preverifiedPublicKeys: pks, threshold: 0) }
    }

    @Test func malformedCertificates() throws {
        let (keys, set) = try committee(7, threshold: 3)
        let agg = try BLS12381.aggregate([0, 1, 2].map { keys[$0].signature(for: message) })
        let qc = try BLS12381.QuorumCertificate(signerSetSize: 7, signerIndices: [0, 1, 2], aggregateSignature: agg)
        try qc.verify(message: message, signerSet: set)
        var wire = qc.serializedRepresentation

        // Padding bit 7 of the only bit-vector byte (set has 7 members).
        var padded = wire
        padded[3] |= 0x80
        #expect(throws: BLS12381Error.signerBitOutOfRange(bit: 7)) { try BLS12381.QuorumCertificate(serializedRepresentation: padded) }
        var version = wire
        version[0] = 2
        #expect(throws: BLS12381Error.unsupportedVersion(2)) { try BLS12381.QuorumCertificate(serializedRepresentation: version) }
        #expect(throws: BLS12381Error.invalidLength(expected: 100, actual: 99)) { try BLS12381.QuorumCertificate(serializedRepresentation: wire.dropLast()) }
        // Claims a set of 8: length still matches, but not the verifier's committee.
        var size = wire
        size[2] = 8
        let other = try BLS12381.QuorumCertificate(serializedRepresentation: size)
        #expect(throws: BLS12381Error.signerSetMismatch) { try other.verify(message: message, signerSet: set) }
        // Below threshold: drop signer 2 from the bit-vector (aggregate no longer matches either).
        wire[3] = 0b0000_0011
        let below = try BLS12381.QuorumCertificate(serializedRepresentation: wire)
        #expect(throws: BLS12381Error.belowThreshold(required: 3, actual: 2)) { try below.verify(message: message, signerSet: set) }
        // Swap in signer 3 for signer 2: enough bits, bad aggregate.
        wire[3] = 0b0000_1011
        let wrongSigners = try BLS12381.QuorumCertificate(serializedRepresentation: wire)
        #expect(throws: BLS12381Error.invalidAggregateSignature) { try wrongSigners.verify(message: message, signerSet: set) }
        #expect(throws: BLS12381Error.signerIndexOutOfRange(index: 7, signers: 7)) {
            try BLS12381.QuorumCertificate(signerSetSize: 7, signerIndices: [7], aggregateSignature: agg)
        }
    }

    @Test func verifying64SignersCostsOnePairingCheck() throws {
        let n = 64
        let pks = (1...n).map { BLS12381.PublicKey.testKey(UInt64($0)) }
        let set = try BLS12381.SignerSet(preverifiedPublicKeys: pks, threshold: 43)
        // Aggregate of signatures by secret keys 1...64 = (sum of keys) * H(m).
        let h = HashToCurve.hashToG2(message, dst: BLS12381.signatureDST)
        let aggregate = try BLS12381.Signature(compressedRepresentation: h.multipliedVartime(by: UInt64(n * (n + 1) / 2)).compressed)
        let qc = try BLS12381.QuorumCertificate(signerSetSize: n, signerIndices: Array(0..<n), aggregateSignature: aggregate)
        #expect(qc.serializedRepresentation.count == 3 + 8 + 96)
        let counter = PairingCostCounter()
        try PairingCostCounter.$current.withValue(counter) {
            try qc.verify(message: message, signerSet: set)
        }
        #expect(counter.millerLoopPairs == 2)
        #expect(counter.finalExponentiations == 1)
    }
}
