import Testing
@testable import BLS12381

private let modulusHex = "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab"

@Suite struct BadInputTests {
    let goodKey = BLS12381.PublicKey.testKey(1)

    @Test func publicKeyLengths() {
        let bytes = goodKey.compressedRepresentation
        #expect(throws: BLS12381Error.invalidLength(expected: 48, actual: 47)) { try BLS12381.PublicKey(compressedRepresentation: bytes.dropLast()) }
        #expect(throws: BLS12381Error.invalidLength(expected: 48, actual: 49)) { try BLS12381.PublicKey(compressedRepresentation: bytes + [0]) }
        #expect(throws: BLS12381Error.invalidLength(expected: 48, actual: 0)) { try BLS12381.PublicKey(compressedRepresentation: [UInt8]()) }
        #expect(throws: BLS12381Error.invalidLength(expected: 48, actual: 96)) { try BLS12381.PublicKey(compressedRepresentation: bytes + bytes) }
    }

    @Test func publicKeyFlags() {
        var uncompressed = goodKey.compressedRepresentation
        uncompressed[0] &= 0x7f
        #expect(throws: BLS12381Error.invalidFlags) { try BLS12381.PublicKey(compressedRepresentation: uncompressed) }
        var infinityWithSign = [UInt8](repeating: 0, count: 48)
        infinityWithSign[0] = 0xe0
        #expect(throws: BLS12381Error.invalidFlags) { try BLS12381.PublicKey(compressedRepresentation: infinityWithSign) }
        var infinityWithX = [UInt8](repeating: 0, count: 48)
        infinityWithX[0] = 0xc0
        infinityWithX[47] = 1
        #expect(throws: BLS12381Error.invalidFlags) { try BLS12381.PublicKey(compressedRepresentation: infinityWithX) }
        var infinityNoCompression = [UInt8](repeating: 0, count: 48)
        infinityNoCompression[0] = 0x40
        #expect(throws: BLS12381Error.invalidFlags) { try BLS12381.PublicKey(compressedRepresentation: infinityNoCompression) }
    }

    @Test func identityPublicKeyIsRejected() {
        var identity = [UInt8](repeating: 0, count: 48)
        identity[0] = 0xc0
        #expect(throws: BLS12381Error.identityPublicKey) { try BLS12381.PublicKey(compressedRepresentation: identity) }
    }

    @Test func coordinatesNotBelowModulus() {
        var xEqualsP = hexBytes(modulusHex)
        xEqualsP[0] |= 0x80
        #expect(throws: BLS12381Error.coordinateNotInField) { try BLS12381.PublicKey(compressedRepresentation: xEqualsP) }
        var allOnes = [UInt8](repeating: 0xff, count: 48)
        allOnes[0] = 0x9f
        #expect(throws: BLS12381Error.coordinateNotInField) { try BLS12381.PublicKey(compressedRepresentation: allOnes) }
        // G2: c1 = p, and c0 = p with a valid c1.
        var sig = BLS12381.Signature.testSignature().compressedRepresentation
        var c1Bad = sig
        c1Bad.replaceSubrange(0..<48, with: hexBytes(modulusHex))
        c1Bad[0] |= 0x80
        #expect(throws: BLS12381Error.coordinateNotInField) { try BLS12381.Signature(compressedRepresentation: c1Bad) }
        sig.replaceSubrange(48..<96, with: hexBytes(modulusHex))
        #expect(throws: BLS12381Error.coordinateNotInField) { try BLS12381.Signature(compressedRepresentation: sig) }
    }

    @Test func pointsOffTheCurve() {
        // x = 0: 0^3 + 4 = 4 is a square, so search for an x with x^3 + 4 a non-square.
        var x: UInt64 = 1
        while (Fp(x).square() * Fp(x) + Fp(4)).isSquare { x += 1 }
        var bytes = Fp(x).bigEndianBytes
        bytes[0] |= 0x80
        #expect(throws: BLS12381Error.pointNotOnCurve) { try BLS12381.PublicKey(compressedRepresentation: bytes) }
        var x2: UInt64 = 1
        let b2 = Fp2(Fp(4), Fp(4))
        while (Fp2(Fp(x2), .zero).square() * Fp2(Fp(x2), .zero) + b2).isSquare { x2 += 1 }
        var sigBytes = [UInt8](repeating: 0, count: 48) + Fp(x2).bigEndianBytes
        sigBytes[0] |= 0x80
        #expect(throws: BLS12381Error.pointNotOnCurve) { try BLS12381.Signature(compressedRepresentation: sigBytes) }
    }

    @Test func pointsOutsideTheSubgroup() {
        let p = HashToCurve.mapToG1(Fp(5)).toAffine()
        #expect(p.isOnCurve)
        #expect(throws: BLS12381Error.pointNotInSubgroup) { try BLS12381.PublicKey(compressedRepresentation: p.compressed) }
        let q = HashToCurve.mapToG2(Fp2(Fp(5), Fp(6))).toAffine()
        #expect(q.isOnCurve)
        #expect(throws: BLS12381Error.pointNotInSubgroup) { try BLS12381.Signature(compressedRepresentation: q.compressed) }
        #expect(throws: BLS12381Error.pointNotInSubgroup) { try BLS12381.ProofOfPossession(compressedRepresentation: q.compressed) }
    }

    @Test func signatureLengthsAndFlags() {
        let sig = BLS12381.Signature.testSignature().compressedRepresentation
        #expect(throws: BLS12381Error.invalidLength(expected: 96, actual: 95)) { try BLS12381.Signature(compressedRepresentation: sig.dropLast()) }
        #expect(throws: BLS12381Error.invalidLength(expected: 96, actual: 48)) { try BLS12381.Signature(compressedRepresentation: Array(sig[0..<48])) }
        var uncompressed = sig
        uncompressed[0] &= 0x7f
        #expect(throws: BLS12381Error.invalidFlags) { try BLS12381.Signature(compressedRepresentation: uncompressed) }
        var identity = [UInt8](repeating: 0, count: 96)
        identity[0] = 0xc0
        let idSig = try? BLS12381.Signature(compressedRepresentation: identity)
        #expect(idSig != nil)
        #expect(!goodKey.isValidSignature(idSig!, for: [1, 2, 3]))
        identity[95] = 1
        #expect(throws: BLS12381Error.invalidFlags) { try BLS12381.Signature(compressedRepresentation: identity) }
    }

    @Test func privateKeyRange() {
        #expect(throws: BLS12381Error.invalidPrivateKey) { try BLS12381.PrivateKey(rawRepresentation: [UInt8](repeating: 0, count: 32)) }
        let r = hexBytes("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001")
        #expect(throws: BLS12381Error.invalidPrivateKey) { try BLS12381.PrivateKey(rawRepresentation: r) }
        #expect(throws: BLS12381Error.invalidPrivateKey) { try BLS12381.PrivateKey(rawRepresentation: [UInt8](repeating: 0xff, count: 32)) }
        var rMinus1 = r
        rMinus1[31] = 0
        #expect((try? BLS12381.PrivateKey(rawRepresentation: rMinus1)) != nil)
        #expect(throws: BLS12381Error.invalidLength(expected: 32, actual: 31)) { try BLS12381.PrivateKey(rawRepresentation: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: BLS12381Error.inputKeyMaterialTooShort(minimum: 32, actual: 31)) { try BLS12381.PrivateKey(ikm: [UInt8](repeating: 1, count: 31)) }
    }

    @Test func aggregateEdgeCases() {
        #expect(throws: BLS12381Error.emptyAggregate) { try BLS12381.aggregate([]) }
        let sig = BLS12381.Signature.testSignature()
        #expect(!BLS12381.fastAggregateVerify(sig, for: [1], publicKeys: []))
        #expect(!BLS12381.aggregateVerify(sig, messages: [[UInt8]](), publicKeys: []))
        #expect(!BLS12381.aggregateVerify(sig, messages: [[1], [2]], publicKeys: [goodKey]))
    }

    @Test func randomKeysWork() throws {
        let sk = BLS12381.PrivateKey()
        let sk2 = BLS12381.PrivateKey()
        #expect(sk.rawRepresentation != sk2.rawRepresentation)
        let msg: [UInt8] = Array("custos".utf8)
        let sig = sk.signature(for: msg)
        #expect(sk.publicKey.isValidSignature(sig, for: msg))
        #expect(!sk2.publicKey.isValidSignature(sig, for: msg))
        #expect(sk.publicKey.isValidProofOfPossession(sk.proofOfPossession()))
        #expect(!sk2.publicKey.isValidProofOfPossession(sk.proofOfPossession()))
        let copy = try BLS12381.PrivateKey(rawRepresentation: sk.rawRepresentation)
        #expect(copy.publicKey == sk.publicKey)
    }
}

extension BLS12381.PublicKey {
    /// Public key of the scalar `k` (test use only).
    static func testKey(_ k: UInt64) -> BLS12381.PublicKey {
        try! BLS12381.PublicKey(compressedRepresentation: G1Projective.generator.multipliedVartime(by: k).compressed)
    }
}

extension BLS12381.Signature {
    static func testSignature() -> BLS12381.Signature {
        try! BLS12381.Signature(compressedRepresentation: G2Projective.generator.multipliedVartime(by: 77).compressed)
    }
}

extension BLS12381.PrivateKey {
    static func testKey(_ k: UInt64) -> BLS12381.PrivateKey {
        var raw = [UInt8](repeating: 0, count: 32)
        for i in 0..<8 { raw[31 - i] = UInt8(truncatingIfNeeded: k >> UInt64(8 * i)) }
        return try! BLS12381.PrivateKey(rawRepresentation: raw)
    }
}

@Suite struct AggregateVerifyPolicyTests {
    /// Draft-05 section 3.3: under the POP ciphersuite AggregateVerify is CoreAggregateVerify, which
    /// (unlike the basic scheme) does not require distinct messages; py_ecc, which generated the
    /// vectors in `vectors/bls`, behaves the same way.
    @Test func repeatedMessagesAreAllowedUnderPOP() throws {
        let a = BLS12381.PrivateKey.testKey(11), b = BLS12381.PrivateKey.testKey(12)
        let m: [UInt8] = [1, 2, 3]
        let agg = try BLS12381.aggregate([a.signature(for: m), b.signature(for: m)])
        #expect(BLS12381.aggregateVerify(agg, messages: [m, m], publicKeys: [a.publicKey, b.publicKey]))
        #expect(!BLS12381.aggregateVerify(agg, messages: [m, [4]], publicKeys: [a.publicKey, b.publicKey]))
    }
}

@Suite struct SecretHygieneTests {
    @Test func descriptionsDoNotRevealTheSecret() throws {
        let sk = BLS12381.PrivateKey.testKey(0x1234_5678)
        let hex = hexString(sk.rawRepresentation)
        for text in [sk.description, sk.debugDescription, "\(sk)", String(reflecting: sk)] {
            #expect(!text.contains(hex))
            #expect(!text.contains(String(hex.suffix(8))))
        }
        var dumped = ""
        dump(sk, to: &dumped)
        #expect(!dumped.contains(String(hex.suffix(8))))
    }
}
