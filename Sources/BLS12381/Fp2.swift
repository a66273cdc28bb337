import CBLS12381Field

/// Fp2 = Fp[u]/(u^2 + 1).
public struct Fp2: Sendable {
    public var c0: Fp
    public var c1: Fp

    @inlinable @inline(__always)
    public init(_ c0: Fp, _ c1: Fp) { self.c0 = c0; self.c1 = c1 }

    public static let zero = Fp2(.zero, .zero)
    public static let one = Fp2(.one, .zero)

    @inlinable @inline(__always)
    public static func + (a: Fp2, b: Fp2) -> Fp2 { Fp2(a.c0 + b.c0, a.c1 + b.c1) }
    @inlinable @inline(__always)
    public static func - (a: Fp2, b: Fp2) -> Fp2 { Fp2(a.c0 - b.c0, a.c1 - b.c1) }
    @inlinable @inline(__always)
    public static prefix func - (a: Fp2) -> Fp2 { Fp2(-a.c0, -a.c1) }

    @inlinable @inline(__always)
    public static func * (a: Fp2, b: Fp2) -> Fp2 {
        // Karatsuba (three Fp products) in C.
        var r = Fp2(.zeroLimbs, .zeroLimbs)
        withUnsafePointer(to: a) { a in
            withUnsafePointer(to: b) { b in
                withUnsafeMutablePointer(to: &r) { cbls_fp2_mul(limbs($0), limbs(a), limbs(b)) }
            }
        }
        return r
    }

    @inlinable @inline(__always)
    public static func * (a: Fp2, b: Fp) -> Fp2 { Fp2(a.c0 * b, a.c1 * b) }

    @inlinable @inline(__always)
    public static func += (a: inout Fp2, b: Fp2) { a = a + b }
    @inlinable @inline(__always)
    public static func -= (a: inout Fp2, b: Fp2) { a = a - b }
    @inlinable @inline(__always)
    public static func *= (a: inout Fp2, b: Fp2) { a = a * b }

    @inlinable @inline(__always)
    public func square() -> Fp2 {
        // (c0 + c1)(c0 - c1) + 2 c0 c1 u, in C.
        var r = Fp2(.zeroLimbs, .zeroLimbs)
        withUnsafePointer(to: self) { a in
            withUnsafeMutablePointer(to: &r) { cbls_fp2_sqr(limbs($0), limbs(a)) }
        }
        return r
    }

    @inlinable @inline(__always)
    public func doubled() -> Fp2 { self + self }

    /// Multiplication by the Fp6 non-residue xi = u + 1.
    @inlinable @inline(__always)
    public func mulByNonresidue() -> Fp2 { Fp2(c0 - c1, c0 + c1) }

    @inlinable @inline(__always)
    public func conjugate() -> Fp2 { Fp2(c0, -c1) }

    @inlinable @inline(__always)
    public var zeroMask: UInt64 { c0.zeroMask & c1.zeroMask }
    @inlinable @inline(__always)
    public var isZero: Bool { zeroMask != 0 }

    @inlinable @inline(__always)
    public func equalMask(_ o: Fp2) -> UInt64 { c0.equalMask(o.c0) & c1.equalMask(o.c1) }

    @inlinable @inline(__always)
    public static func select(_ a: Fp2, _ b: Fp2, mask: UInt64) -> Fp2 {
        Fp2(Fp.select(a.c0, b.c0, mask: mask), Fp.select(a.c1, b.c1, mask: mask))
    }

    /// 1/self (0 maps to 0).
    public func inverse() -> Fp2 {
        let t = (c0.square() + c1.square()).inverse()
        return Fp2(c0 * t, -(c1 * t))
    }

    /// self^e for a public exponent given as little-endian words.
    public func pow(_ e: [UInt64]) -> Fp2 {
        var r = Fp2.one
        for w in e.reversed() {
            for bit in stride(from: 63, through: 0, by: -1) {
                r = r.square()
                if (w >> UInt64(bit)) & 1 == 1 { r = r * self }
            }
        }
        return r
    }

    /// Square root through base-field exponentiations only ("complex method"): with N = c0^2 + c1^2,
    /// x0^2 = (c0 +- sqrt(N))/2 and y0 = c1/(2 x0); r = t^((p-3)/4) gives both sqrt(t) = r t and 1/sqrt(t) = r.
    /// Returns nil for non-squares. Variable time: used on public data (hashing, decoding) only.
    public func sqrt() -> Fp2? {
        if c1.isZero {
            if let r = c0.sqrt() { return Fp2(r, .zero) }
            if let r = (-c0).sqrt() { return Fp2(.zero, r) }
            return nil
        }
        guard let s = (c0.square() + c1.square()).sqrt() else { return nil }
        let t = (c0 + s) * Fp2.inverseOfTwo
        let r = t.pow(Fp2.pMinus3Over4)
        let w = r * t
        let candidate: Fp2
        if w.square() == t {
            candidate = Fp2(w, c1 * r * Fp2.inverseOfTwo)
        } else {
            // t is a non-square, so the other root t' = (c0 - s)/2 = -c1^2/(4t) is a square. Reuse r:
            // w = sqrt(-t) and 1/t = -r^2, hence sqrt(t') = c1 w r^2 / 2 and the imaginary part is w.
            candidate = Fp2(c1 * w * r.square() * Fp2.inverseOfTwo, w)
        }
        return candidate.square() == self ? candidate : nil
    }

    static let inverseOfTwo = Fp(2).inverse()

    public var isSquare: Bool {
        // Norm is a square in Fp exactly when self is a square in Fp2.
        (c0.square() + c1.square()).isSquare
    }

    /// RFC 9380 sgn0 for m = 2.
    public var sgn0: UInt64 {
        let s0 = c0.sgn0
        let z0: UInt64 = c0.isZero ? 1 : 0
        return s0 | (z0 & c1.sgn0)
    }

    /// ZCash ordering: compare c1 first, then c0 when c1 == 0.
    public var isLexicographicallyLargest: Bool {
        c1.isZero ? c0.isLexicographicallyLargest : c1.isLexicographicallyLargest
    }

    static let pMinus3Over4: [UInt64] = [0xee7fbfffffffeaaa, 0x07aaffffac54ffff, 0xd9cc34a83dac3d89, 0xd91dd2e13ce144af, 0x92c6e9ed90d2eb35, 0x0680447a8e5ff9a6]
    static let pMinus1Over2: [UInt64] = [0xdcff7fffffffd555, 0x0f55ffff58a9ffff, 0xb39869507b587b12, 0xb23ba5c279c2895f, 0x258dd3db21a5d66b, 0x0d0088f51cbff34d]
    static let pMinus1Over3: [UInt64] = [0x9354ffffffffe38e, 0x0a395554e5c6aaaa, 0xcd104635a790520c, 0xcc27c3d6fbd7063f, 0x190937e76bc3e447, 0x08ab05f8bdd54cde]
    static let pMinus1Over6: [UInt64] = [0x49aa7ffffffff1c7, 0x051caaaa72e35555, 0xe688231ad3c82906, 0xe613e1eb7deb831f, 0x0c849bf3b5e1f223, 0x045582fc5eeaa66f]
    static let twoPMinus2Over3: [UInt64] = [0x26a9ffffffffc71c, 0x1472aaa9cb8d5555, 0x9a208c6b4f20a418, 0x984f87adf7ae0c7f, 0x32126fced787c88f, 0x11560bf17baa99bc]

    static let xi = Fp2(.one, .one)
    /// xi^((p-1)/3), xi^(2(p-1)/3), xi^((p-1)/6): Frobenius twists for Fp6/Fp12.
    static let frobV = xi.pow(pMinus1Over3)
    static let frobV2 = xi.pow(twoPMinus2Over3)
    static let frobW = xi.pow(pMinus1Over6)
    /// psi endomorphism constants: 1/xi^((p-1)/3) and 1/xi^((p-1)/2).
    static let psiX = xi.pow(pMinus1Over3).inverse()
    static let psiY = xi.pow(pMinus1Over2).inverse()
}

extension Fp2: Equatable {
    public static func == (a: Fp2, b: Fp2) -> Bool { a.equalMask(b) != 0 }
}
