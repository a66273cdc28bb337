extension G2Projective {
    /// b = 4(u + 1) for the twist E': y^2 = x^3 + 4(u + 1).
    @usableFromInline static let curveB = Fp2(Fp(4), Fp(4))

    /// 3b = 12(u + 1).
    @inlinable @inline(__always)
    static func mulByB3(_ t: Fp2) -> Fp2 {
        let t2 = t + t
        let t4 = t2 + t2
        let t8 = t4 + t4
        return (t8 + t4).mulByNonresidue()
    }

    public static let generator = G2Projective(G2Affine(
        x: Fp2(Fp(hex: "0x024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"),
               Fp(hex: "0x13e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e")),
        y: Fp2(Fp(hex: "0x0ce5d527727d6e118cc9cdc6da2e351aadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b82801"),
               Fp(hex: "0x0606c4a02ea734cc32acd2b02bc28b99cb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79be"))))

    /// The untwist-Frobenius-twist endomorphism psi.
    public func psi() -> G2Projective {
        G2Projective(x: x.conjugate() * Fp2.psiX, y: y.conjugate() * Fp2.psiY, z: z.conjugate())
    }

    /// Multiplication by the (negative) curve parameter x.
    public func multipliedByX() -> G2Projective { -multipliedVartime(by: blsXAbs) }

    /// Prime-order subgroup test: P is in G2 iff psi(P) = x P (Scott, eprint 2021/1130).
    public var isInSubgroup: Bool { psi() == multipliedByX() }

    /// RFC 9380 Appendix G.3 clear_cofactor via psi (Budroni-Pintore): h_eff P with
    /// h_eff P = [x^2 - x - 1]P + [x - 1]psi(P) + psi^2(2P).
    public func clearingCofactor() -> G2Projective {
        let t1 = multipliedByX()
        var t2 = psi()
        var t3 = doubled().psi().psi()
        t3 = t3 - t2
        t2 = t1 + t2
        t2 = t2.multipliedByX()
        t3 = t3 + t2
        t3 = t3 - t1
        return t3 - self
    }

    /// ZCash compressed encoding (96 bytes).
    public var compressed: [UInt8] { toAffine().compressed }

    /// Constant-time k*Q for Q in the prime-order subgroup, using psi(Q) = xQ (GLS):
    /// k = d0 + d1 z + d2 z^2 + d3 z^3 with z = |x| and digits < z < 2^64, so
    /// kQ = d0 Q + d1 (-psi Q) + d2 psi^2 Q + d3 (-psi^3 Q). The digits come from a branch-free
    /// long division; the 64 steps each do one doubling and one addition of a table entry read with
    /// masked selects over all 16 entries (complete formulas, so the identity needs no special case).
    /// The scalar is 32 big-endian bytes and must be < r.
    public func multipliedConstantTimeGLS(byBigEndian scalar: UnsafeRawBufferPointer) -> G2Projective {
        precondition(scalar.count == 32)
        var k: [UInt64] = [0, 0, 0, 0]
        for i in 0..<32 { k[3 - i / 8] = (k[3 - i / 8] << 8) | UInt64(scalar[i]) }
        let (q1, d0) = divideByXConstantTime(k)
        let (q2, d1) = divideByXConstantTime(q1)
        let (q3, d2) = divideByXConstantTime(q2)
        let d3 = q3[0]
        let p1 = psi(), p2 = p1.psi(), p3 = p2.psi()
        let bases = [self, -p1, p2, -p3]
        var table = [G2Projective](repeating: .identity, count: 16)
        for i in 1..<16 {
            let top = 63 - UInt64(i).leadingZeroBitCount
            table[i] = table[i ^ (1 << top)] + bases[top]
        }
        var acc = G2Projective.identity
        var bit = 63
        while bit >= 0 {
            let b = UInt64(bit)
            let index = ((d0 >> b) & 1) | (((d1 >> b) & 1) << 1) | (((d2 >> b) & 1) << 2) | (((d3 >> b) & 1) << 3)
            acc = acc.doubled()
            var chosen = G2Projective.identity
            for i in 0..<16 {
                chosen = G2Projective.select(chosen, table[i], mask: maskIfZero(UInt64(i) ^ index))
            }
            acc = acc + chosen
            bit -= 1
        }
        return acc
    }

    public func multipliedConstantTimeGLS(byBigEndian scalar: [UInt8]) -> G2Projective {
        scalar.withUnsafeBytes { multipliedConstantTimeGLS(byBigEndian: $0) }
    }
}

/// (floor(n / |x|), n mod |x|) for a 256-bit n (little-endian words), by restoring binary long
/// division with masked updates: the same instructions run for every input.
func divideByXConstantTime(_ n: [UInt64]) -> ([UInt64], UInt64) {
    var quotient: [UInt64] = [0, 0, 0, 0]
    var remainder: UInt64 = 0
    var bit = 255
    while bit >= 0 {
        let word = bit >> 6, shift = UInt64(bit & 63)
        // remainder < |x| < 2^64, so 2*remainder + 1 fits in 65 bits: carry holds bit 64.
        let carry = remainder >> 63
        remainder = (remainder << 1) | ((n[word] >> shift) & 1)
        let (difference, borrow) = remainder.subtractingReportingOverflow(blsXAbs)
        let atLeastX = carry | (1 &- borrow.asWord)
        let mask = 0 &- atLeastX
        remainder = (difference & mask) | (remainder & ~mask)
        quotient[word] |= atLeastX << shift
        bit -= 1
    }
    return (quotient, remainder)
}

extension G2Affine {
    public var compressed: [UInt8] {
        if isIdentity {
            var out = [UInt8](repeating: 0, count: 96)
            out[0] = 0xc0
            return out
        }
        var out = x.c1.bigEndianBytes + x.c0.bigEndianBytes
        out[0] |= 0x80
        if y.isLexicographicallyLargest { out[0] |= 0x20 }
        return out
    }

    /// Decodes a compressed point, checking length, flags, field range and curve membership
    /// (not subgroup membership; callers check that).
    public init(compressed bytes: [UInt8]) throws(BLS12381Error) {
        guard bytes.count == 96 else { throw .invalidLength(expected: 96, actual: bytes.count) }
        let flags = bytes[0] & 0xe0
        guard flags & 0x80 != 0 else { throw .invalidFlags }
        if flags & 0x40 != 0 {
            guard flags == 0xc0, bytes[0] & 0x1f == 0, bytes.dropFirst().allSatisfy({ $0 == 0 }) else { throw .invalidFlags }
            self = .identity
            return
        }
        var c1Bytes = Array(bytes[0..<48])
        c1Bytes[0] &= 0x1f
        guard let xc1 = Fp(bigEndian: c1Bytes), let xc0 = Fp(bigEndian: bytes[48..<96]) else { throw .coordinateNotInField }
        let x = Fp2(xc0, xc1)
        guard var y = (x.square() * x + G2Projective.curveB).sqrt() else { throw .pointNotOnCurve }
        if y.isLexicographicallyLargest != (flags & 0x20 != 0) { y = -y }
        self.init(x: x, y: y)
    }
}
