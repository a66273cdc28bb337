/// |x| for the BLS parameter x = -0xd201000000010000.
@usableFromInline let blsXAbs: UInt64 = 0xd201000000010000

extension G1Projective {
    /// b = 4 for E: y^2 = x^3 + 4.
    @usableFromInline static let curveB = Fp(4)

    /// 3b = 12, as additions.
    @inlinable @inline(__always)
    static func mulByB3(_ t: Fp) -> Fp {
        let t2 = t + t
        let t4 = t2 + t2
        let t8 = t4 + t4
        return t8 + t4
    }

    public static let generator = G1Projective(G1Affine(
        x: Fp(hex: "0x17f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"),
        y: Fp(hex: "0x08b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1")))

    /// A primitive cube root of unity in Fp, the eigenvalue side of the GLV endomorphism phi(x, y) = (beta x, y).
    static let beta = Fp(hex: "0x5f19672fdf76ce51ba69c6076a0f77eaddb3a93be6f89688de17d813620a00022e01fffffffefffe")

    func endomorphism() -> G1Projective { G1Projective(x: x * G1Projective.beta, y: y, z: z) }

    /// Multiplication by the (negative) curve parameter x.
    public func multipliedByX() -> G1Projective { -multipliedVartime(by: blsXAbs) }

    /// Prime-order subgroup test: on BLS12-381, P is in G1 iff phi(P) = -x^2 P (Scott, eprint 2021/1130).
    public var isInSubgroup: Bool {
        endomorphism() == -(multipliedVartime(by: blsXAbs).multipliedVartime(by: blsXAbs))
    }

    /// Multiplication by h_eff = 1 - x = 0xd201000000010001 (RFC 9380 clear_cofactor for G1).
    public func clearingCofactor() -> G1Projective { multipliedVartime(by: 0xd201000000010001) }

    /// ZCash compressed encoding (48 bytes).
    public var compressed: [UInt8] { toAffine().compressed }
}

extension G1Affine {
    public var compressed: [UInt8] {
        if isIdentity {
            var out = [UInt8](repeating: 0, count: 48)
            out[0] = 0xc0
            return out
        }
        var out = x.bigEndianBytes
        out[0] |= 0x80
        if y.isLexicographicallyLargest { out[0] |= 0x20 }
        return out
    }

    /// Decodes a compressed point, checking length, flags, field range and curve membership
    /// (not subgroup membership; callers check that).
    public init(compressed bytes: [UInt8]) throws(BLS12381Error) {
        guard bytes.count == 48 else { throw .invalidLength(expected: 48, actual: bytes.count) }
        let flags = bytes[0] & 0xe0
        guard flags & 0x80 != 0 else { throw .invalidFlags }
        if flags & 0x40 != 0 {
            guard flags == 0xc0, bytes[0] & 0x1f == 0, bytes.dropFirst().allSatisfy({ $0 == 0 }) else { throw .invalidFlags }
            self = .identity
            return
        }
        var xBytes = bytes
        xBytes[0] &= 0x1f
        guard let x = Fp(bigEndian: xBytes) else { throw .coordinateNotInField }
        guard var y = (x.square() * x + G1Projective.curveB).sqrt() else { throw .pointNotOnCurve }
        if y.isLexicographicallyLargest != (flags & 0x20 != 0) { y = -y }
        self.init(x: x, y: y)
    }
}
