/// A point of G1 in homogeneous projective coordinates (X:Y:Z), affine (X/Z, Y/Z); identity is (0:1:0).
/// Addition and doubling use the complete, branch-free formulas of Renes-Costello-Batina (eprint 2015/1060, Alg. 7 and 9, a = 0).
public struct G1Projective: Sendable {
    public var x: Fp
    public var y: Fp
    public var z: Fp

    @inlinable @inline(__always)
    public init(x: Fp, y: Fp, z: Fp) { self.x = x; self.y = y; self.z = z }

    public static let identity = G1Projective(x: .zero, y: .one, z: .zero)

    public init(_ p: G1Affine) {
        self = p.isIdentity ? .identity : G1Projective(x: p.x, y: p.y, z: .one)
    }

    public var isIdentity: Bool { z.isZero }

    @inlinable
    public func doubled() -> G1Projective {
        var t0 = y.square()
        var z3 = t0 + t0
        z3 = z3 + z3
        z3 = z3 + z3
        var t1 = y * z
        var t2 = z.square()
        t2 = G1Projective.mulByB3(t2)
        var x3 = t2 * z3
        var y3 = t0 + t2
        z3 = t1 * z3
        t1 = t2 + t2
        t2 = t1 + t2
        t0 = t0 - t2
        y3 = t0 * y3
        y3 = x3 + y3
        t1 = x * y
        x3 = t0 * t1
        x3 = x3 + x3
        return G1Projective(x: x3, y: y3, z: z3)
    }

    @inlinable
    public static func + (p: G1Projective, q: G1Projective) -> G1Projective {
        var t0 = p.x * q.x
        var t1 = p.y * q.y
        var t2 = p.z * q.z
        var t3 = p.x + p.y
        var t4 = q.x + q.y
        t3 = t3 * t4
        t4 = t0 + t1
        t3 = t3 - t4
        t4 = p.y + p.z
        var x3 = q.y + q.z
        t4 = t4 * x3
        x3 = t1 + t2
        t4 = t4 - x3
        x3 = p.x + p.z
        var y3 = q.x + q.z
        x3 = x3 * y3
        y3 = t0 + t2
        y3 = x3 - y3
        x3 = t0 + t0
        t0 = x3 + t0
        t2 = mulByB3(t2)
        var z3 = t1 + t2
        t1 = t1 - t2
        y3 = mulByB3(y3)
        x3 = t4 * y3
        t2 = t3 * t1
        x3 = t2 - x3
        y3 = y3 * t0
        t1 = t1 * z3
        y3 = t1 + y3
        t0 = t0 * t3
        z3 = z3 * t4
        z3 = z3 + t0
        return G1Projective(x: x3, y: y3, z: z3)
    }

    /// Mixed addition with an affine point (Alg. 8); q must not be the identity.
    @inlinable
    public func adding(affine q: G1Affine) -> G1Projective {
        var t0 = x * q.x
        var t1 = y * q.y
        var t3 = q.x + q.y
        var t4 = x + y
        t3 = t3 * t4
        t4 = t0 + t1
        t3 = t3 - t4
        t4 = q.y * z
        t4 = t4 + y
        var y3 = q.x * z
        y3 = y3 + x
        var x3 = t0 + t0
        t0 = x3 + t0
        var t2 = G1Projective.mulByB3(z)
        var z3 = t1 + t2
        t1 = t1 - t2
        y3 = G1Projective.mulByB3(y3)
        x3 = t4 * y3
        t2 = t3 * t1
        x3 = t2 - x3
        y3 = y3 * t0
        t1 = t1 * z3
        y3 = t1 + y3
        t0 = t0 * t3
        z3 = z3 * t4
        z3 = z3 + t0
        return G1Projective(x: x3, y: y3, z: z3)
    }

    @inlinable
    public static prefix func - (p: G1Projective) -> G1Projective { G1Projective(x: p.x, y: -p.y, z: p.z) }

    @inlinable
    public static func - (p: G1Projective, q: G1Projective) -> G1Projective { p + (-q) }

    @inlinable
    public static func += (p: inout G1Projective, q: G1Projective) { p = p + q }

    @inlinable @inline(__always)
    public static func select(_ a: G1Projective, _ b: G1Projective, mask: UInt64) -> G1Projective {
        G1Projective(x: Fp.select(a.x, b.x, mask: mask), y: Fp.select(a.y, b.y, mask: mask), z: Fp.select(a.z, b.z, mask: mask))
    }

    /// Affine form without branching on the coordinates (the inverse of 0 is 0, so the identity
    /// comes out as (0, 1) with the flag set), so results of secret-scalar products can be normalised safely.
    public func toAffine() -> G1Affine {
        let zi = z.inverse()
        let identityMask = z.zeroMask
        return G1Affine(x: x * zi, y: Fp.select(y * zi, Fp.one, mask: identityMask), isIdentity: identityMask != 0)
    }

    /// Multiplication by a public scalar (little-endian words), double-and-add in Jacobian coordinates.
    public func multipliedVartime(by scalar: [UInt64]) -> G1Projective {
        let base = G1Jacobian(self)
        var acc = G1Jacobian.identity
        for w in scalar.reversed() {
            for bit in stride(from: 63, through: 0, by: -1) {
                acc = acc.doubled()
                if (w >> UInt64(bit)) & 1 == 1 { acc = acc.adding(base) }
            }
        }
        return acc.projective
    }

    /// Multiplication by a public 64-bit scalar (Jacobian double-and-add; doubling is cheaper there).
    public func multipliedVartime(by k: UInt64) -> G1Projective {
        if k == 0 { return .identity }
        let base = G1Jacobian(self)
        var acc = base
        var bit = 63 - k.leadingZeroBitCount
        while bit > 0 {
            bit -= 1
            acc = acc.doubled()
            if (k >> UInt64(bit)) & 1 == 1 { acc = acc.adding(base) }
        }
        return acc.projective
    }

    /// Constant-time multiplication by a secret 256-bit big-endian scalar: fixed 4-bit windows, every
    /// table entry read through a masked select, 64 windows of 4 doublings and one addition each.
    public func multipliedConstantTime(byBigEndian scalar: [UInt8]) -> G1Projective {
        scalar.withUnsafeBytes { multipliedConstantTime(byBigEndian: $0) }
    }

    /// Same as above, reading the secret scalar in place (32 big-endian bytes).
    public func multipliedConstantTime(byBigEndian scalar: UnsafeRawBufferPointer) -> G1Projective {
        precondition(scalar.count == 32)
        var table = [G1Projective](repeating: .identity, count: 16)
        table[1] = self
        for i in 2..<16 { table[i] = table[i - 1] + self }
        var acc = G1Projective.identity
        for window in 0..<64 {
            // High nibble first; the shift depends only on the public window position.
            let byte = scalar[window >> 1]
            let shift = UInt8(4 &- 4 &* (window & 1))
            let nibble = UInt64((byte >> shift) & 0x0f)
            acc = acc.doubled().doubled().doubled().doubled()
            var chosen = G1Projective.identity
            for i in 0..<16 {
                chosen = G1Projective.select(chosen, table[i], mask: maskIfZero(UInt64(i) ^ nibble))
            }
            acc = acc + chosen
        }
        return acc
    }

    public static func == (a: G1Projective, b: G1Projective) -> Bool {
        // Cross-multiplied comparison; both identities have z = 0 and x = 0.
        let ai = a.isIdentity, bi = b.isIdentity
        if ai || bi { return ai && bi }
        return a.x * b.z == b.x * a.z && a.y * b.z == b.y * a.z
    }

    public var isOnCurve: Bool {
        // Y^2 Z = X^3 + b Z^3
        if isIdentity { return true }
        let lhs = y.square() * z
        let rhs = x.square() * x + G1Projective.curveB * z.square() * z
        return lhs == rhs
    }
}

extension G1Projective: Equatable {}

/// An affine point of G1 (or the identity).
public struct G1Affine: Sendable, Equatable {
    public var x: Fp
    public var y: Fp
    public var isIdentity: Bool

    public init(x: Fp, y: Fp, isIdentity: Bool = false) { self.x = x; self.y = y; self.isIdentity = isIdentity }

    public static let identity = G1Affine(x: .zero, y: .one, isIdentity: true)

    public var isOnCurve: Bool { isIdentity || y.square() == x.square() * x + G1Projective.curveB }

    public static prefix func - (p: G1Affine) -> G1Affine { G1Affine(x: p.x, y: -p.y, isIdentity: p.isIdentity) }
}

extension G1Projective {
    /// Sum of public affine points, using Jacobian mixed additions.
    static func sum(ofAffine points: [G1Affine]) -> G1Projective {
        var acc = G1Jacobian.identity
        for p in points { acc = acc.adding(affine: p) }
        return acc.projective
    }
}

/// Jacobian coordinates (x = X/Z^2, y = Y/Z^3) for variable-time arithmetic on public points, where
/// doubling is cheaper than with the complete projective formulas. Exceptional cases branch.
struct G1Jacobian {
    var x: Fp, y: Fp, z: Fp

    static let identity = G1Jacobian(x: .one, y: .one, z: .zero)

    init(x: Fp, y: Fp, z: Fp) { self.x = x; self.y = y; self.z = z }

    /// From homogeneous (X:Y:Z): (XZ, YZ^2, Z).
    init(_ p: G1Projective) {
        if p.isIdentity { self = .identity; return }
        let zz = p.z.square()
        self.init(x: p.x * p.z, y: p.y * zz, z: p.z)
    }

    var isIdentity: Bool { z.isZero }

    /// To homogeneous: (XZ, Y, Z^3).
    var projective: G1Projective {
        if isIdentity { return .identity }
        return G1Projective(x: x * z, y: y, z: z.square() * z)
    }

    /// dbl-2009-l (a = 0): 2M + 5S.
    func doubled() -> G1Jacobian {
        if isIdentity { return self }
        let a = x.square()
        let b = y.square()
        let c = b.square()
        var d = (x + b).square() - a - c
        d = d + d
        let e = a + a + a
        let f = e.square()
        let x3 = f - d - d
        var c8 = c + c
        c8 = c8 + c8
        c8 = c8 + c8
        let y3 = e * (d - x3) - c8
        let yz = y * z
        return G1Jacobian(x: x3, y: y3, z: yz + yz)
    }

    /// madd-2007-bl (Z2 = 1): 7M + 4S, with identity and equal-x cases handled explicitly.
    func adding(affine q: G1Affine) -> G1Jacobian {
        if q.isIdentity { return self }
        if isIdentity { return G1Jacobian(x: q.x, y: q.y, z: .one) }
        let z1z1 = z.square()
        let u2 = q.x * z1z1
        let s2 = q.y * z * z1z1
        let h = u2 - x
        var r = s2 - y
        if h.isZero {
            return r.isZero ? doubled() : .identity
        }
        let hh = h.square()
        var i = hh + hh
        i = i + i
        let j = h * i
        r = r + r
        let v = x * i
        let x3 = r.square() - j - v - v
        let yj = y * j
        let y3 = r * (v - x3) - yj - yj
        let z3 = (z + h).square() - z1z1 - hh
        return G1Jacobian(x: x3, y: y3, z: z3)
    }

    /// add-2007-bl, with the equal-x cases handled explicitly.
    func adding(_ q: G1Jacobian) -> G1Jacobian {
        if isIdentity { return q }
        if q.isIdentity { return self }
        let z1z1 = z.square()
        let z2z2 = q.z.square()
        let u1 = x * z2z2
        let u2 = q.x * z1z1
        let s1 = y * q.z * z2z2
        let s2 = q.y * z * z1z1
        let h = u2 - u1
        var r = s2 - s1
        if h.isZero {
            return r.isZero ? doubled() : .identity
        }
        let i = (h + h).square()
        let j = h * i
        r = r + r
        let v = u1 * i
        let x3 = r.square() - j - v - v
        let s1j = s1 * j
        let y3 = r * (v - x3) - s1j - s1j
        let z3 = ((z + q.z).square() - z1z1 - z2z2) * h
        return G1Jacobian(x: x3, y: y3, z: z3)
    }
}
