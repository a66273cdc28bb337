import BigInt
import Testing
@testable import BLS12381
import CBLS12381Field

private let modulus = BigUInt("1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab", radix: 16)!

private func big(_ a: Fp) -> BigUInt { BigUInt(Data(a.bigEndianBytes)) }

private func fp(_ b: BigUInt) -> Fp {
    let bytes = [UInt8](b.serialize())
    return Fp(bigEndian: [UInt8](repeating: 0, count: 48 - bytes.count) + bytes)!
}

private func randomFp<R: RandomNumberGenerator>(_ rng: inout R) -> Fp {
    var bytes = [UInt8](repeating: 0, count: 64)
    for i in 0..<64 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
    return fp(BigUInt(Data(bytes)) % modulus)
}

import Foundation

@Suite struct FieldTests {
    static let iterations = 300

    @Test func fpArithmeticMatchesBigInt() {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<Self.iterations {
            let a = randomFp(&rng), b = randomFp(&rng)
            let A = big(a), B = big(b)
            #expect(big(a * b) == (A * B) % modulus)
            #expect(big(a.square()) == (A * A) % modulus)
            #expect(big(a + b) == (A + B) % modulus)
            #expect(big(a - b) == (A + modulus - B) % modulus)
            #expect(big(-a) == (modulus - A) % modulus)
        }
    }

    /// The C functions take an Fp as six limbs, least significant first, and an Fp2 as c0 then c1.
    @Test func limbLayoutIsWhatTheCFunctionsTake() {
        #expect(MemoryLayout<Fp>.size == 48 && MemoryLayout<Fp>.stride == 48)
        #expect(MemoryLayout<Fp>.offset(of: \Fp.l0) == 0)
        #expect(MemoryLayout<Fp>.offset(of: \Fp.l5) == 40)
        #expect(MemoryLayout<Fp2>.size == 96)
        #expect(MemoryLayout<Fp2>.offset(of: \Fp2.c1) == 48)
    }

    /// The C field functions (CBLS12381Field) against the Swift Montgomery product, on random and
    /// edge values (0, 1, p-1, values with all-ones low limbs), and Fp2 against its definition; with
    /// the portable C code and, on a CPU with BMI2 and ADX, the MULX/ADCX/ADOX code. (Switching while
    /// other tests run is harmless: both give identical results; the two cases run one after the other.)
    @Test(.serialized, arguments: cbls_fp_cpu_has_adx() == 1 ? [false, true] : [false])
    func cFieldMatchesSwiftReference(adx: Bool) {
        cbls_fp_select_adx(adx ? 1 : 0)
        defer { cbls_fp_select_adx(cbls_fp_cpu_has_adx()) }
        #expect(cbls_fp_uses_adx() == (adx ? 1 : 0))
        var rng = SplitMix64(seed: 7)
        let pMinus1 = fp(modulus - 1), pMinus2 = fp(modulus - 2)
        let lowOnes = fp((BigUInt(1) << 320) - 1)
        var values = [Fp.zero, Fp.one, pMinus1, pMinus2, lowOnes, -Fp.one]
        for _ in 0..<300 { values.append(randomFp(&rng)) }
        for (i, a) in values.enumerated() {
            let b = values[(i * 7 + 3) % values.count]
            #expect(a * b == Fp.portableProduct(a, b))
            #expect(a.square() == Fp.portableProduct(a, a))
            let c = values[(i * 13 + 5) % values.count], d = values[(i * 5 + 1) % values.count]
            let x = Fp2(a, b), y = Fp2(c, d)
            let product = x * y
            #expect(product.c0 == Fp.portableProduct(a, c) - Fp.portableProduct(b, d))
            #expect(product.c1 == Fp.portableProduct(a, d) + Fp.portableProduct(b, c))
            let square = x.square()
            #expect(square.c0 == Fp.portableProduct(a, a) - Fp.portableProduct(b, b))
            #expect(square.c1 == Fp.portableProduct(a, b) + Fp.portableProduct(a, b))
        }
    }

    @Test func fpInverseAndSqrt() {
        var rng = SplitMix64(seed: 2)
        for _ in 0..<200 {
            let a = randomFp(&rng)
            let A = big(a)
            #expect(big(a.inverse()) == A.power(modulus - 2, modulus: modulus))
            #expect((a * a.inverse()) == Fp.one)
            let legendre = A.power((modulus - 1) / 2, modulus: modulus)
            if let r = a.sqrt() {
                #expect(legendre == 1)
                #expect((big(r) * big(r)) % modulus == A)
            } else {
                #expect(legendre == modulus - 1)
            }
            let sq = a.square()
            #expect(sq.sqrt() != nil)
            #expect(sq.isSquare)
        }
        #expect(Fp.zero.inverse() == Fp.zero)
    }

    @Test func fpEdgeValues() {
        #expect(Fp(bigEndian: hexBytes("1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab")) == nil)
        let pMinus1 = fp(modulus - 1)
        #expect(pMinus1 + Fp.one == Fp.zero)
        #expect(pMinus1 * pMinus1 == Fp.one)
        #expect(big(pMinus1.square()) == 1)
    }

    @Test func fp2ArithmeticMatchesBigInt() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<Self.iterations {
            let a = Fp2(randomFp(&rng), randomFp(&rng)), b = Fp2(randomFp(&rng), randomFp(&rng))
            let (a0, a1, b0, b1) = (big(a.c0), big(a.c1), big(b.c0), big(b.c1))
            let p = a * b
            #expect(big(p.c0) == (a0 * b0 + modulus * modulus - a1 * b1) % modulus)
            #expect(big(p.c1) == (a0 * b1 + a1 * b0) % modulus)
            #expect(a.square() == a * a)
        }
        for _ in 0..<200 {
            let a = Fp2(randomFp(&rng), randomFp(&rng))
            let inv = a.inverse()
            #expect(a * inv == Fp2.one)
            let (a0, a1) = (big(a.c0), big(a.c1))
            let norm = (a0 * a0 + a1 * a1) % modulus
            let ninv = norm.power(modulus - 2, modulus: modulus)
            #expect(big(inv.c0) == (a0 * ninv) % modulus)
            #expect(big(inv.c1) == ((modulus - a1) * ninv) % modulus)
            let sq = a.square()
            let r = sq.sqrt()
            #expect(r != nil && r!.square() == sq)
            #expect(a.isSquare == (a.sqrt() != nil))
        }
    }

    @Test func towerInversesAndFrobenius() {
        var rng = SplitMix64(seed: 4)
        func r2() -> Fp2 { Fp2(randomFp(&rng), randomFp(&rng)) }
        for _ in 0..<5 {
            let a = Fp6(r2(), r2(), r2())
            #expect(a * a.inverse() == Fp6.one)
            #expect(a.square() == a * a)
            let f = Fp12(Fp6(r2(), r2(), r2()), Fp6(r2(), r2(), r2()))
            #expect(f * f.inverse() == Fp12.one)
            #expect(f.square() == f * f)
            // Frobenius is the p-power map.
            var fp12 = f
            for _ in 0..<12 { fp12 = fp12.frobenius() }
            #expect(fp12 == f)
            #expect(f.frobenius() == f.pow([0xb9feffffffffaaab, 0x1eabfffeb153ffff, 0x6730d2a0f6b0f624, 0x64774b84f38512bf, 0x4b1ba7b6434bacd7, 0x1a0111ea397fe69a]))
            let l0 = r2(), l1 = r2(), l4 = r2()
            let sparse = Fp12(Fp6(l0, l1, .zero), Fp6(.zero, l4, .zero))
            #expect(f.mulBy014(l0, l1, l4) == f * sparse)
        }
    }
}
