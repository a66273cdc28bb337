/// Fp6 = Fp2[v]/(v^3 - xi), xi = u + 1.
public struct Fp6: Sendable, Equatable {
    public var c0, c1, c2: Fp2

    @inlinable @inline(__always)
    public init(_ c0: Fp2, _ c1: Fp2, _ c2: Fp2) { self.c0 = c0; self.c1 = c1; self.c2 = c2 }

    public static let zero = Fp6(.zero, .zero, .zero)
    public static let one = Fp6(.one, .zero, .zero)

    @inlinable @inline(__always)
    public static func + (a: Fp6, b: Fp6) -> Fp6 { Fp6(a.c0 + b.c0, a.c1 + b.c1, a.c2 + b.c2) }
    @inlinable @inline(__always)
    public static func - (a: Fp6, b: Fp6) -> Fp6 { Fp6(a.c0 - b.c0, a.c1 - b.c1, a.c2 - b.c2) }
    @inlinable @inline(__always)
    public static prefix func - (a: Fp6) -> Fp6 { Fp6(-a.c0, -a.c1, -a.c2) }

    @inlinable
    public static func * (a: Fp6, b: Fp6) -> Fp6 {
        let aa = a.c0 * b.c0
        let bb = a.c1 * b.c1
        let cc = a.c2 * b.c2
        let t1 = ((a.c1 + a.c2) * (b.c1 + b.c2) - bb - cc).mulByNonresidue() + aa
        let t2 = (a.c0 + a.c1) * (b.c0 + b.c1) - aa - bb + cc.mulByNonresidue()
        let t3 = (a.c0 + a.c2) * (b.c0 + b.c2) - aa - cc + bb
        return Fp6(t1, t2, t3)
    }

    @inlinable
    public func square() -> Fp6 {
        // Chung-Hasan SQR2.
        let s0 = c0.square()
        let ab = c0 * c1
        let s1 = ab + ab
        let s2 = (c0 - c1 + c2).square()
        let bc = c1 * c2
        let s3 = bc + bc
        let s4 = c2.square()
        return Fp6(s3.mulByNonresidue() + s0, s4.mulByNonresidue() + s1, s1 + s2 + s3 - s0 - s4)
    }

    /// Multiplication by v.
    @inlinable @inline(__always)
    public func mulByNonresidue() -> Fp6 { Fp6(c2.mulByNonresidue(), c0, c1) }

    /// self * (b0 + b1 v).
    @inlinable
    public func mulBy01(_ b0: Fp2, _ b1: Fp2) -> Fp6 {
        let aa = c0 * b0
        let bb = c1 * b1
        let t1 = (c2 * b1).mulByNonresidue() + aa
        let t2 = (b0 + b1) * (c0 + c1) - aa - bb
        let t3 = c2 * b0 + bb
        return Fp6(t1, t2, t3)
    }

    /// self * (b1 v).
    @inlinable
    public func mulBy1(_ b1: Fp2) -> Fp6 {
        Fp6((c2 * b1).mulByNonresidue(), c0 * b1, c1 * b1)
    }

    public func inverse() -> Fp6 {
        let t0 = c0.square() - (c1 * c2).mulByNonresidue()
        let t1 = c2.square().mulByNonresidue() - c0 * c1
        let t2 = c1.square() - c0 * c2
        let d = (c0 * t0 + (c2 * t1 + c1 * t2).mulByNonresidue()).inverse()
        return Fp6(t0 * d, t1 * d, t2 * d)
    }

    public func frobenius() -> Fp6 {
        Fp6(c0.conjugate(), c1.conjugate() * Fp2.frobV, c2.conjugate() * Fp2.frobV2)
    }

    public var isZero: Bool { c0.isZero && c1.isZero && c2.isZero }
}

/// Fp12 = Fp6[w]/(w^2 - v).
public struct Fp12: Sendable, Equatable {
    public var c0, c1: Fp6

    @inlinable @inline(__always)
    public init(_ c0: Fp6, _ c1: Fp6) { self.c0 = c0; self.c1 = c1 }

    public static let one = Fp12(.one, .zero)

    @inlinable
    public static func * (a: Fp12, b: Fp12) -> Fp12 {
        let aa = a.c0 * b.c0
        let bb = a.c1 * b.c1
        let c1 = (a.c0 + a.c1) * (b.c0 + b.c1) - aa - bb
        return Fp12(bb.mulByNonresidue() + aa, c1)
    }

    @inlinable
    public static func *= (a: inout Fp12, b: Fp12) { a = a * b }

    @inlinable
    public func square() -> Fp12 {
        let ab = c0 * c1
        let s = c0 + c1
        let t = c1.mulByNonresidue() + c0
        return Fp12(t * s - ab - ab.mulByNonresidue(), ab + ab)
    }

    /// Sparse product with a line value l0 + l1 w + l4 v w (coefficients of Fp12 basis 1, w, vw).
    @inlinable
    public func mulBy014(_ l0: Fp2, _ l1: Fp2, _ l4: Fp2) -> Fp12 {
        let aa = c0.mulBy01(l0, l1)
        let bb = c1.mulBy1(l4)
        let o = l1 + l4
        let t = (c1 + c0).mulBy01(l0, o) - aa - bb
        return Fp12(bb.mulByNonresidue() + aa, t)
    }

    @inlinable
    public func conjugate() -> Fp12 { Fp12(c0, -c1) }

    public func inverse() -> Fp12 {
        let t = (c0.square() - c1.square().mulByNonresidue()).inverse()
        return Fp12(c0 * t, -(c1 * t))
    }

    public func frobenius() -> Fp12 {
        let a = c0.frobenius()
        let b = c1.frobenius()
        let w = Fp2.frobW
        return Fp12(a, Fp6(b.c0 * w, b.c1 * w, b.c2 * w))
    }

    public var isOne: Bool { self == Fp12.one }
}
