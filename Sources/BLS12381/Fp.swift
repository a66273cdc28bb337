// Base field Fp of BLS12-381, p = 0x1a0111ea...aaab (381 bits).
// Elements are kept in Montgomery form (a*R mod p, R = 2^384) in six 64-bit limbs, least significant first.
// Multiplication and squaring in Fp and Fp2 run in C (CBLS12381Field, clang -O3 with 128-bit products),
// about twice as fast as the same algorithm in Swift; the layout of Fp (six UInt64) and Fp2 (two Fp)
// is the limb array the C functions take.
import CBLS12381Field

/// a*b + c as (high, low). Never overflows 128 bits.
@inlinable @inline(__always)
func mulAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> (UInt64, UInt64) {
    let (h, l) = a.multipliedFullWidth(by: b)
    let (l1, o1) = l.addingReportingOverflow(c)
    return (h &+ o1.asWord, l1)
}

/// a*b + c + d as (high, low). Never overflows 128 bits.
@inlinable @inline(__always)
func mulAdd2(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) -> (UInt64, UInt64) {
    let (h, l) = a.multipliedFullWidth(by: b)
    let (l1, o1) = l.addingReportingOverflow(c)
    let (l2, o2) = l1.addingReportingOverflow(d)
    return (h &+ o1.asWord &+ o2.asWord, l2)
}

/// High word of a*b + c.
@inlinable @inline(__always)
func mulAddHi(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
    let (h, l) = a.multipliedFullWidth(by: b)
    let (_, o1) = l.addingReportingOverflow(c)
    return h &+ o1.asWord
}

extension Bool {
    /// 0 or 1 without a branch: a Bool is stored as one byte holding 0 or 1.
    @inlinable @inline(__always)
    var asWord: UInt64 { UInt64(unsafeBitCast(self, to: UInt8.self)) }
}

/// a - b - borrow, returning (difference, borrowOut in {0,1}).
@inlinable @inline(__always)
func subBorrow(_ a: UInt64, _ b: UInt64, _ borrow: UInt64) -> (UInt64, UInt64) {
    let (d1, o1) = a.subtractingReportingOverflow(b)
    let (d2, o2) = d1.subtractingReportingOverflow(borrow)
    return (d2, o1.asWord | o2.asWord)
}

/// a + b + carry, returning (sum, carryOut in {0,1}).
@inlinable @inline(__always)
func addCarry(_ a: UInt64, _ b: UInt64, _ carry: UInt64) -> (UInt64, UInt64) {
    let (s1, o1) = a.addingReportingOverflow(b)
    let (s2, o2) = s1.addingReportingOverflow(carry)
    return (s2, o1.asWord | o2.asWord)
}

/// All-ones if x == 0 else zero, computed without branches.
@inlinable @inline(__always)
func maskIfZero(_ x: UInt64) -> UInt64 {
    // (x | -x) has its top bit set exactly when x != 0.
    let nonzeroBit = (x | (0 &- x)) >> 63
    return optimizationBarrier(nonzeroBit &- 1)
}

/// Returns x unchanged, opaquely: the optimiser cannot see that a mask is 0 or all-ones, so it cannot
/// turn a masked select into a branch on secret data (it did so for the window-table scan, as
/// valgrind's memcheck showed). Unoptimised and never inlined; costs one call.
/// The limbs of an Fp or Fp2 value as the C functions take them.
@inlinable @inline(__always)
func limbs<T>(_ p: UnsafePointer<T>) -> UnsafePointer<UInt64> {
    UnsafeRawPointer(p).assumingMemoryBound(to: UInt64.self)
}

@inlinable @inline(__always)
func limbs<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<UInt64> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt64.self)
}

@usableFromInline @inline(never) @_optimize(none)
func optimizationBarrier(_ x: UInt64) -> UInt64 { x }

public struct Fp: Sendable {
    @usableFromInline var l0, l1, l2, l3, l4, l5: UInt64

    @inlinable @inline(__always)
    init(_ l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64, _ l4: UInt64, _ l5: UInt64) {
        self.l0 = l0; self.l1 = l1; self.l2 = l2; self.l3 = l3; self.l4 = l4; self.l5 = l5
    }

    public static let zero = Fp(0, 0, 0, 0, 0, 0)

    /// Subtracts p when self >= p; self must be < 2p.
    @inlinable @inline(__always)
    func subtractingModulusIfNeeded() -> Fp {
        var b: UInt64 = 0
        let (d0, b0) = subBorrow(l0, 0xb9feffffffffaaab, b); b = b0
        let (d1, b1) = subBorrow(l1, 0x1eabfffeb153ffff, b); b = b1
        let (d2, b2) = subBorrow(l2, 0x6730d2a0f6b0f624, b); b = b2
        let (d3, b3) = subBorrow(l3, 0x64774b84f38512bf, b); b = b3
        let (d4, b4) = subBorrow(l4, 0x4b1ba7b6434bacd7, b); b = b4
        let (d5, b5) = subBorrow(l5, 0x1a0111ea397fe69a, b); b = b5
        // keep = all-ones when the subtraction borrowed (self < p).
        let keep = 0 &- b
        let take = ~keep
        return Fp((l0 & keep) | (d0 & take), (l1 & keep) | (d1 & take), (l2 & keep) | (d2 & take),
                  (l3 & keep) | (d3 & take), (l4 & keep) | (d4 & take), (l5 & keep) | (d5 & take))
    }

    @inlinable @inline(__always)
    public static func + (a: Fp, b: Fp) -> Fp {
        // p < 2^382, so the sum of two reduced elements fits in 384 bits.
        var c: UInt64 = 0
        let (s0, c0) = addCarry(a.l0, b.l0, c); c = c0
        let (s1, c1) = addCarry(a.l1, b.l1, c); c = c1
        let (s2, c2) = addCarry(a.l2, b.l2, c); c = c2
        let (s3, c3) = addCarry(a.l3, b.l3, c); c = c3
        let (s4, c4) = addCarry(a.l4, b.l4, c); c = c4
        let (s5, _) = addCarry(a.l5, b.l5, c)
        return Fp(s0, s1, s2, s3, s4, s5).subtractingModulusIfNeeded()
    }

    @inlinable @inline(__always)
    public static func - (a: Fp, b: Fp) -> Fp {
        var br: UInt64 = 0
        let (d0, b0) = subBorrow(a.l0, b.l0, br); br = b0
        let (d1, b1) = subBorrow(a.l1, b.l1, br); br = b1
        let (d2, b2) = subBorrow(a.l2, b.l2, br); br = b2
        let (d3, b3) = subBorrow(a.l3, b.l3, br); br = b3
        let (d4, b4) = subBorrow(a.l4, b.l4, br); br = b4
        let (d5, b5) = subBorrow(a.l5, b.l5, br); br = b5
        let mask = 0 &- br
        var c: UInt64 = 0
        let (s0, c0) = addCarry(d0, 0xb9feffffffffaaab & mask, c); c = c0
        let (s1, c1) = addCarry(d1, 0x1eabfffeb153ffff & mask, c); c = c1
        let (s2, c2) = addCarry(d2, 0x6730d2a0f6b0f624 & mask, c); c = c2
        let (s3, c3) = addCarry(d3, 0x64774b84f38512bf & mask, c); c = c3
        let (s4, c4) = addCarry(d4, 0x4b1ba7b6434bacd7 & mask, c); c = c4
        let (s5, _) = addCarry(d5, 0x1a0111ea397fe69a & mask, c)
        return Fp(s0, s1, s2, s3, s4, s5)
    }

    @inlinable @inline(__always)
    public static prefix func - (a: Fp) -> Fp { Fp.zero - a }

    @inlinable @inline(__always)
    public static func += (a: inout Fp, b: Fp) { a = a + b }
    @inlinable @inline(__always)
    public static func -= (a: inout Fp, b: Fp) { a = a - b }
    @inlinable @inline(__always)
    public static func *= (a: inout Fp, b: Fp) { a = a * b }

    @inlinable @inline(__always)
    public func square() -> Fp {
        var r = Fp.zeroLimbs
        withUnsafePointer(to: self) { a in
            withUnsafeMutablePointer(to: &r) { cbls_fp_sqr(limbs($0), limbs(a)) }
        }
        return r
    }

    /// Montgomery product a*b/R mod p.
    @inlinable @inline(__always)
    public static func * (a: Fp, b: Fp) -> Fp {
        var r = Fp.zeroLimbs
        withUnsafePointer(to: a) { a in
            withUnsafePointer(to: b) { b in
                withUnsafeMutablePointer(to: &r) { cbls_fp_mul(limbs($0), limbs(a), limbs(b)) }
            }
        }
        return r
    }

    @inlinable @inline(__always)
    static var zeroLimbs: Fp { Fp(0, 0, 0, 0, 0, 0) }

    @inlinable @inline(__always)
    public func doubled() -> Fp { self + self }

    /// All-ones when self == 0, else zero. Branch-free.
    @inlinable @inline(__always)
    public var zeroMask: UInt64 { maskIfZero(l0 | l1 | l2 | l3 | l4 | l5) }

    @inlinable @inline(__always)
    public var isZero: Bool { zeroMask != 0 }

    /// All-ones when equal. Branch-free.
    @inlinable @inline(__always)
    public func equalMask(_ o: Fp) -> UInt64 {
        maskIfZero((l0 ^ o.l0) | (l1 ^ o.l1) | (l2 ^ o.l2) | (l3 ^ o.l3) | (l4 ^ o.l4) | (l5 ^ o.l5))
    }

    /// Returns b where mask is all-ones, a where mask is zero.
    @inlinable @inline(__always)
    public static func select(_ a: Fp, _ b: Fp, mask: UInt64) -> Fp {
        Fp(a.l0 ^ ((a.l0 ^ b.l0) & mask), a.l1 ^ ((a.l1 ^ b.l1) & mask), a.l2 ^ ((a.l2 ^ b.l2) & mask),
           a.l3 ^ ((a.l3 ^ b.l3) & mask), a.l4 ^ ((a.l4 ^ b.l4) & mask), a.l5 ^ ((a.l5 ^ b.l5) & mask))
    }

    /// Converts a canonical integer (given as limbs, < p) into Montgomery form.
    @inlinable
    init(montgomeryFromCanonical x: Fp) { self = x * Fp.r2 }

    /// The canonical integer value as limbs (leaves Montgomery form).
    @inlinable
    var canonical: Fp { self * Fp(1, 0, 0, 0, 0, 0) }

    public init(_ small: UInt64) { self.init(montgomeryFromCanonical: Fp(small, 0, 0, 0, 0, 0)) }

    /// Parses 48 big-endian bytes; nil if the value is >= p.
    public init?<B: Collection>(bigEndian bytes: B) where B.Element == UInt8 {
        guard bytes.count == 48 else { return nil }
        var limbs = [UInt64](repeating: 0, count: 6)
        var idx = 0
        for byte in bytes {
            let limb = 5 - idx / 8
            limbs[limb] = (limbs[limb] << 8) | UInt64(byte)
            idx += 1
        }
        let raw = Fp(limbs[0], limbs[1], limbs[2], limbs[3], limbs[4], limbs[5])
        guard raw.isBelowModulusMask != 0 else { return nil }
        self.init(montgomeryFromCanonical: raw)
    }

    /// Parses a hex constant (must be < p). For compile-time-known constants only.
    init(hex: String) {
        var s = Substring(hex)
        if s.hasPrefix("0x") { s = s.dropFirst(2) }
        let padded = String(repeating: "0", count: 96 - s.count) + s
        var bytes = [UInt8]()
        var it = padded.makeIterator()
        while let h = it.next(), let l = it.next() {
            bytes.append(UInt8(String([h, l]), radix: 16)!)
        }
        self.init(bigEndian: bytes)!
    }

    /// All-ones when the raw limbs (not Montgomery) are < p.
    @inlinable
    var isBelowModulusMask: UInt64 {
        var b: UInt64 = 0
        (_, b) = subBorrow(l0, 0xb9feffffffffaaab, b)
        (_, b) = subBorrow(l1, 0x1eabfffeb153ffff, b)
        (_, b) = subBorrow(l2, 0x6730d2a0f6b0f624, b)
        (_, b) = subBorrow(l3, 0x64774b84f38512bf, b)
        (_, b) = subBorrow(l4, 0x4b1ba7b6434bacd7, b)
        (_, b) = subBorrow(l5, 0x1a0111ea397fe69a, b)
        return 0 &- b
    }

    /// 48 big-endian bytes of the canonical value.
    public var bigEndianBytes: [UInt8] {
        let c = canonical
        let limbs = [c.l5, c.l4, c.l3, c.l2, c.l1, c.l0]
        var out = [UInt8]()
        out.reserveCapacity(48)
        for limb in limbs {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: limb >> UInt64(shift))) }
        }
        return out
    }

    /// self^e where e is given as little-endian 64-bit words: left-to-right sliding window of width 5
    /// over a public exponent.
    public func pow(_ e: [UInt64]) -> Fp {
        // Odd powers self^1, self^3, ..., self^31.
        var odd = [Fp](repeating: self, count: 16)
        let sq = square()
        for i in 1..<16 { odd[i] = odd[i - 1] * sq }
        var bits = e.count * 64 - 1
        while bits >= 0 && (e[bits >> 6] >> UInt64(bits & 63)) & 1 == 0 { bits -= 1 }
        var r = Fp.one
        var started = false
        var i = bits
        while i >= 0 {
            if (e[i >> 6] >> UInt64(i & 63)) & 1 == 0 {
                if started { r = r.square() }
                i -= 1
                continue
            }
            // Longest window [i .. j] of at most 5 bits ending in a set bit.
            var j = max(i - 4, 0)
            while (e[j >> 6] >> UInt64(j & 63)) & 1 == 0 { j += 1 }
            var value = 0
            for b in stride(from: i, through: j, by: -1) {
                value = (value << 1) | Int((e[b >> 6] >> UInt64(b & 63)) & 1)
                if started { r = r.square() }
            }
            r = started ? r * odd[value >> 1] : odd[value >> 1]
            started = true
            i = j - 1
        }
        return r
    }

    /// Inverse via Fermat (a^(p-2)); the exponent is public so timing does not depend on self. inverse(0) = 0.
    public func inverse() -> Fp { pow(Fp.pMinus2) }

    /// A square root when one exists (a^((p+1)/4), valid since p = 3 mod 4).
    public func sqrt() -> Fp? {
        let r = pow(Fp.pPlus1Over4)
        return r.square().equalMask(self) != 0 ? r : nil
    }

    /// Legendre-style test: true for 0 and non-zero squares.
    public var isSquare: Bool {
        let l = pow(Fp.pMinus1Over2)
        return l.isZero || l.equalMask(.one) != 0
    }

    /// RFC 9380 sgn0: parity of the canonical value.
    public var sgn0: UInt64 { canonical.l0 & 1 }

    /// True when the canonical value is > (p-1)/2 (the "lexicographically largest" of ±y).
    public var isLexicographicallyLargest: Bool {
        let c = canonical
        // c > (p-1)/2  <=>  (p-1)/2 - c borrows.
        var b: UInt64 = 0
        (_, b) = subBorrow(0xdcff7fffffffd555, c.l0, b)
        (_, b) = subBorrow(0x0f55ffff58a9ffff, c.l1, b)
        (_, b) = subBorrow(0xb39869507b587b12, c.l2, b)
        (_, b) = subBorrow(0xb23ba5c279c2895f, c.l3, b)
        (_, b) = subBorrow(0x258dd3db21a5d66b, c.l4, b)
        (_, b) = subBorrow(0x0d0088f51cbff34d, c.l5, b)
        return b == 1
    }

    static let pMinus2: [UInt64] = [0xb9feffffffffaaa9, 0x1eabfffeb153ffff, 0x6730d2a0f6b0f624, 0x64774b84f38512bf, 0x4b1ba7b6434bacd7, 0x1a0111ea397fe69a]
    static let pPlus1Over4: [UInt64] = [0xee7fbfffffffeaab, 0x07aaffffac54ffff, 0xd9cc34a83dac3d89, 0xd91dd2e13ce144af, 0x92c6e9ed90d2eb35, 0x0680447a8e5ff9a6]
    static let pMinus1Over2: [UInt64] = [0xdcff7fffffffd555, 0x0f55ffff58a9ffff, 0xb39869507b587b12, 0xb23ba5c279c2895f, 0x258dd3db21a5d66b, 0x0d0088f51cbff34d]
}

extension Fp: Equatable {
    @inlinable
    public static func == (a: Fp, b: Fp) -> Bool { a.equalMask(b) != 0 }
}
