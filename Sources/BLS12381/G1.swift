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

    /// Fixed-base table for SkToPk: entry 16 w + d is d * 16^w * G for the generator G, windows
    /// w = 0..<64, digits d = 0..<16 (d = 0 is the identity). 1024 projective points, 144 KiB,
    /// computed on first use with 1024 additions.
    static let generatorTable: [G1Projective] = {
        var table = [G1Projective]()
        table.reserveCapacity(64 * 16)
        var base = G1Projective.generator
        for _ in 0..<64 {
            var entry = G1Projective.identity
            for _ in 0..<16 {
                table.append(entry)
                entry = entry + base
            }
            base = entry
        }
        return table
    }()

    /// SkToPk: k * G for a secret 256-bit big-endian scalar by the fixed-base comb: one complete
    /// addition per 4-bit window and no doublings. Each window reads all 16 of its table entries
    /// through masked selects, so the addresses read depend only on the window position.
    public static func generatorMultipliedConstantTime(byBigEndian scalar: UnsafeRawBufferPointer) -> G1Projective {
        precondition(scalar.count == 32)
        var acc = G1Projective.identity
        generatorTable.withUnsafeBufferPointer { table in
            for window in 0..<64 {
                // Window 0 is the least significant nibble (low half of the last byte).
                let byte = scalar[31 - (window >> 1)]
                let shift = UInt8(4 &* (window & 1))
                let nibble = UInt64((byte >> shift) & 0x0f)
                var chosen = G1Projective.identity
                for i in 0..<16 {
                    chosen = G1Projective.select(chosen, table[16 * window + i], mask: maskIfZero(UInt64(i) ^ nibble))
                }
                acc = acc + chosen
            }
        }
        return acc
    }

    public static func generatorMultipliedConstantTime(byBigEndian scalar: [UInt8]) -> G1Projective {
        scalar.withUnsafeBytes { generatorMultipliedConstantTime(byBigEndian: $0) }
    }

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
