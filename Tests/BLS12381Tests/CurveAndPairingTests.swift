import Testing
@testable import BLS12381

/// r, the prime group order, little-endian words.
let groupOrder: [UInt64] = [0xffffffff00000001, 0x53bda402fffe5bfe, 0x3339d80809a1d805, 0x73eda753299d7d48]

@Suite struct CurveTests {
    @Test func generatorsAreOnCurveAndHaveOrderR() {
        let g1 = G1Projective.generator, g2 = G2Projective.generator
        #expect(g1.isOnCurve && g2.isOnCurve)
        #expect(g1.multipliedVartime(by: groupOrder).isIdentity)
        #expect(g2.multipliedVartime(by: groupOrder).isIdentity)
        #expect(g1.isInSubgroup)
        #expect(g2.isInSubgroup)
    }

    @Test func groupLawConsistency() {
        let g = G1Projective.generator
        #expect(g + g == g.doubled())
        #expect(g + G1Projective.identity == g)
        #expect((g - g).isIdentity)
        #expect(g.multipliedVartime(by: 5) == g.doubled().doubled() + g)
        #expect(g.doubled().adding(affine: g.toAffine()) == g.multipliedVartime(by: 3))
        let h = G2Projective.generator
        #expect(h + h == h.doubled())
        #expect(h.multipliedVartime(by: 7) == h.doubled().doubled().doubled() - h)
        #expect((h - h).isIdentity)
    }

    @Test func constantTimeMultiplicationMatchesVartime() {
        var rng = SplitMix64(seed: 9)
        for _ in 0..<2 {
            var scalar = [UInt8](repeating: 0, count: 32)
            for i in 1..<32 { scalar[i] = UInt8.random(in: 0...255, using: &rng) }
            var words = [UInt64](repeating: 0, count: 4)
            for i in 0..<32 { words[3 - i / 8] = (words[3 - i / 8] << 8) | UInt64(scalar[i]) }
            #expect(G1Projective.generator.multipliedConstantTime(byBigEndian: scalar) == G1Projective.generator.multipliedVartime(by: words))
            #expect(G2Projective.generator.multipliedConstantTime(byBigEndian: scalar) == G2Projective.generator.multipliedVartime(by: words))
        }
        let zero = [UInt8](repeating: 0, count: 32)
        #expect(G1Projective.generator.multipliedConstantTime(byBigEndian: zero).isIdentity)
    }

    /// The fixed-base comb used by SkToPk against the variable-time double-and-add, on random
    /// scalars and edge values (0, 1, one bit per window, r - 1, all ones).
    @Test func generatorCombMatchesVartime() {
        var rng = SplitMix64(seed: 21)
        var scalars: [[UInt8]] = [
            [UInt8](repeating: 0, count: 32),
            [UInt8](repeating: 0, count: 31) + [1],
            [UInt8](repeating: 0x11, count: 32),
            [UInt8](repeating: 0xff, count: 32),
            [0x73, 0xed, 0xa7, 0x53, 0x29, 0x9d, 0x7d, 0x48, 0x33, 0x39, 0xd8, 0x08, 0x09, 0xa1, 0xd8, 0x05,
             0x53, 0xbd, 0xa4, 0x02, 0xff, 0xfe, 0x5b, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00], // r - 1
        ]
        for _ in 0..<12 { scalars.append((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
        for scalar in scalars {
            var words = [UInt64](repeating: 0, count: 4)
            for i in 0..<32 { words[3 - i / 8] = (words[3 - i / 8] << 8) | UInt64(scalar[i]) }
            #expect(G1Projective.generatorMultipliedConstantTime(byBigEndian: scalar) == G1Projective.generator.multipliedVartime(by: words))
        }
        #expect(G1Projective.generatorMultipliedConstantTime(byBigEndian: scalars[0]).isIdentity)
    }

    @Test func compressionRoundTrip() throws {
        let p = G1Projective.generator.multipliedVartime(by: 123456789).toAffine()
        #expect(try G1Affine(compressed: p.compressed) == p)
        #expect(try G1Affine(compressed: (-p).compressed) == -p)
        let q = G2Projective.generator.multipliedVartime(by: 987654321).toAffine()
        #expect(try G2Affine(compressed: q.compressed) == q)
        #expect(try G2Affine(compressed: (-q).compressed) == -q)
        #expect(hexString(G1Projective.generator.compressed) == "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb")
    }

    @Test func pointsOutsideTheSubgroupAreDetected() {
        // Map a field element to the curve without clearing the cofactor: almost surely not in G1/G2.
        let p = HashToCurve.mapToG1(Fp(7))
        #expect(p.isOnCurve)
        #expect(!p.isInSubgroup)
        #expect(p.clearingCofactor().isInSubgroup)
        let q = HashToCurve.mapToG2(Fp2(Fp(7), Fp(3)))
        #expect(q.isOnCurve)
        #expect(!q.isInSubgroup)
        #expect(q.clearingCofactor().isInSubgroup)
    }
}

@Suite struct PairingTests {
    @Test func bilinearity() {
        let a: UInt64 = 0x1234_5678_9abc, b: UInt64 = 0xfedc_ba98_7654
        let p = G1Projective.generator.toAffine(), q = G2Projective.generator.toAffine()
        let e = pairing(p, q)
        #expect(!e.isOne)
        let ap = G1Projective.generator.multipliedVartime(by: a).toAffine()
        let bq = G2Projective.generator.multipliedVartime(by: b).toAffine()
        let lhs = pairing(ap, bq)
        let ab = a.multipliedFullWidth(by: b)
        #expect(lhs == e.pow([ab.low, ab.high]))
        // e(P, Q)^r == 1
        #expect(e.pow(groupOrder).isOne)
        // e(aP, Q) == e(P, aQ)
        #expect(pairing(ap, q) == pairing(p, G2Projective.generator.multipliedVartime(by: a).toAffine()))
    }

    @Test func multiPairingEqualsProductOfPairings() {
        let p1 = G1Projective.generator.multipliedVartime(by: 3).toAffine()
        let p2 = G1Projective.generator.multipliedVartime(by: 11).toAffine()
        let q1 = G2Projective.generator.multipliedVartime(by: 5).toAffine()
        let q2 = G2Projective.generator.multipliedVartime(by: 13).toAffine()
        let multi = multiMillerLoop([(p1, q1), (p2, q2)]).finalExponentiation()
        #expect(multi == pairing(p1, q1) * pairing(p2, q2))
        // e(P, Q) * e(-P, Q) == 1, and identities contribute 1.
        #expect(pairingProductIsOne([(p1, q1), (-p1, q1)]))
        #expect(pairingProductIsOne([(G1Affine.identity, q1)]))
        #expect(!pairingProductIsOne([(p1, q1), (p2, q2)]))
    }
}

@Suite struct EndomorphismMultiplicationTests {
    private func words(_ scalar: [UInt8]) -> [UInt64] {
        var w = [UInt64](repeating: 0, count: 4)
        for i in 0..<32 { w[3 - i / 8] = (w[3 - i / 8] << 8) | UInt64(scalar[i]) }
        return w
    }

    @Test func glsMultiplicationMatchesVartime() {
        let q = HashToCurve.hashToG2(Array("gls".utf8), dst: BLS12381.signatureDST)
        var rng = SplitMix64(seed: 77)
        var scalars: [[UInt8]] = [
            [UInt8](repeating: 0, count: 32),
            [UInt8](repeating: 0, count: 31) + [1],
            hexBytes("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000000"), // r - 1
            hexBytes("000000000000000000000000000000000000000000000000d201000000010000"), // |x|
            hexBytes("000000000000000000000000000000000000000000000000d20100000000ffff"), // |x| - 1
        ]
        for _ in 0..<4 {
            var s = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            s[0] &= 0x3f
            scalars.append(s)
        }
        for s in scalars {
            #expect(q.multipliedConstantTimeGLS(byBigEndian: s) == q.multipliedVartime(by: words(s)))
        }
    }

    @Test func divisionByX() {
        let n: [UInt64] = [0x0123456789abcdef, 0xfedcba9876543210, 0x0f1e2d3c4b5a6978, 0x3355779911224466]
        let (q, r) = divideByXConstantTime(n)
        // Check q * |x| + r == n with 128-bit limb arithmetic.
        var carry: UInt64 = r
        for i in 0..<4 {
            let (hi, lo) = q[i].multipliedFullWidth(by: blsXAbs)
            let (sum, o) = lo.addingReportingOverflow(carry)
            #expect(sum == n[i])
            carry = hi &+ (o ? 1 : 0)
        }
        #expect(carry == 0)
        #expect(r < blsXAbs)
    }

    @Test func jacobianAggregationMatchesProjective() {
        let g = G2Projective.generator
        let pts = [g, g, g.doubled(), -g, g.multipliedVartime(by: 5)].map { $0.toAffine() } + [G2Affine.identity]
        var expected = G2Projective.identity
        for p in pts { expected = expected + G2Projective(p) }
        #expect(G2Projective.sum(ofAffine: pts) == expected)
        #expect(G2Projective.sum(ofAffine: [g.toAffine(), (-g).toAffine()]).isIdentity)
        let h = G1Projective.generator
        let qs = [h, h, -h, h.doubled()].map { $0.toAffine() }
        #expect(G1Projective.sum(ofAffine: qs) == h.doubled().doubled() - h)
    }
}
