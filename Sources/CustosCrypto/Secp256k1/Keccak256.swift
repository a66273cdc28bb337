import Foundation

/// Keccak-256 as Ethereum uses it: the original Keccak submission's padding (domain byte
/// 0x01), not the FIPS 202 SHA3-256 padding (0x06). The two give different digests.
///
/// Incremental: `update(data:)` any number of times, then `finalize()` once.
public struct Keccak256: Sendable {
    /// Bytes absorbed per permutation: (1600 - 2 * 256) / 8.
    public static let rate = 136
    public static let digestCount = 32

    // Fixed-size tuples rather than arrays: a hasher needs no heap allocation.
    private typealias Lanes = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    private typealias Block = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    private var state: Lanes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private var buffer: Block = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private var bufferCount = 0

    public init() {}

    public static func hash(data: some DataProtocol) -> [UInt8] {
        var hasher = Keccak256()
        hasher.update(data: data)
        return hasher.finalize()
    }

    public mutating func update(data: some DataProtocol) {
        for region in data.regions {
            region.withUnsafeBytes { absorb($0) }
        }
    }

    /// The digest of everything passed to `update(data:)`. The hasher is spent afterwards;
    /// start a new one for another message.
    public mutating func finalize() -> [UInt8] {
        let rate = Keccak256.rate
        let pending = bufferCount
        withUnsafeMutableBytes(of: &buffer) { block in
            for index in pending..<rate { block[index] = 0 }
            block[pending] ^= 0x01
            block[rate - 1] ^= 0x80
        }
        absorbBuffer()
        bufferCount = 0
        return withUnsafeBytes(of: &state) { lanes in
            // Lanes are little-endian words; the digest is their first 32 bytes in that order.
            (0..<Keccak256.digestCount).map { index in
                UInt8(truncatingIfNeeded: lanes.load(fromByteOffset: index & ~7, as: UInt64.self) >> (8 * UInt64(index & 7)))
            }
        }
    }

    private mutating func absorbBuffer() {
        withUnsafeMutableBytes(of: &state) { lanes in
            withUnsafeBytes(of: &buffer) { block in
                Keccak256.absorbBlock(block.baseAddress!, into: lanes.baseAddress!.assumingMemoryBound(to: UInt64.self))
            }
        }
    }

    private mutating func absorb(_ input: UnsafeRawBufferPointer) {
        guard var pointer = input.baseAddress, input.count > 0 else { return }
        var remaining = input.count
        let rate = Keccak256.rate

        if bufferCount > 0 {
            let take = min(rate - bufferCount, remaining)
            let offset = bufferCount
            withUnsafeMutableBytes(of: &buffer) { block in
                (block.baseAddress! + offset).copyMemory(from: pointer, byteCount: take)
            }
            bufferCount += take
            pointer += take
            remaining -= take
            guard bufferCount == rate else { return }
            absorbBuffer()
            bufferCount = 0
        }

        // Whole blocks straight from the caller's memory, without going through the buffer.
        if remaining >= rate {
            withUnsafeMutableBytes(of: &state) { lanes in
                let words = lanes.baseAddress!.assumingMemoryBound(to: UInt64.self)
                while remaining >= rate {
                    Keccak256.absorbBlock(pointer, into: words)
                    pointer += rate
                    remaining -= rate
                }
            }
        }

        if remaining > 0 {
            withUnsafeMutableBytes(of: &buffer) { block in
                block.baseAddress!.copyMemory(from: pointer, byteCount: remaining)
            }
            bufferCount = remaining
        }
    }

    private static func absorbBlock(_ block: UnsafeRawPointer, into lanes: UnsafeMutablePointer<UInt64>) {
        for lane in 0..<(rate / 8) {
            lanes[lane] ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: lane * 8, as: UInt64.self))
        }
        permute(lanes)
    }

    private static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]

    /// Keccak-f[1600], fully unrolled within a round so the 25 lanes stay in registers.
    /// Lane a(x + 5y) holds A[x, y].
    private static func permute(_ s: UnsafeMutablePointer<UInt64>) {
        var a0 = s[0]
        var a1 = s[1]
        var a2 = s[2]
        var a3 = s[3]
        var a4 = s[4]
        var a5 = s[5]
        var a6 = s[6]
        var a7 = s[7]
        var a8 = s[8]
        var a9 = s[9]
        var a10 = s[10]
        var a11 = s[11]
        var a12 = s[12]
        var a13 = s[13]
        var a14 = s[14]
        var a15 = s[15]
        var a16 = s[16]
        var a17 = s[17]
        var a18 = s[18]
        var a19 = s[19]
        var a20 = s[20]
        var a21 = s[21]
        var a22 = s[22]
        var a23 = s[23]
        var a24 = s[24]
        let constants = Keccak256.roundConstants
        for round in 0..<24 {
            // θ
            let c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20
            let c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21
            let c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22
            let c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23
            let c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24
            let d0 = c4 ^ c1.rotl(1)
            let d1 = c0 ^ c2.rotl(1)
            let d2 = c1 ^ c3.rotl(1)
            let d3 = c2 ^ c4.rotl(1)
            let d4 = c3 ^ c0.rotl(1)
            a0 ^= d0
            a1 ^= d1
            a2 ^= d2
            a3 ^= d3
            a4 ^= d4
            a5 ^= d0
            a6 ^= d1
            a7 ^= d2
            a8 ^= d3
            a9 ^= d4
            a10 ^= d0
            a11 ^= d1
            a12 ^= d2
            a13 ^= d3
            a14 ^= d4
            a15 ^= d0
            a16 ^= d1
            a17 ^= d2
            a18 ^= d3
            a19 ^= d4
            a20 ^= d0
            a21 ^= d1
            a22 ^= d2
            a23 ^= d3
            a24 ^= d4
            // ρ and π: B[y, 2x+3y] = rot(A[x, y], r[x, y])
            let b0 = a0
            let b16 = a5.rotl(36)
            let b7 = a10.rotl(3)
            let b23 = a15.rotl(41)
            let b14 = a20.rotl(18)
            let b10 = a1.rotl(1)
            let b1 = a6.rotl(44)
            let b17 = a11.rotl(10)
            let b8 = a16.rotl(45)
            let b24 = a21.rotl(2)
            let b20 = a2.rotl(62)
            let b11 = a7.rotl(6)
            let b2 = a12.rotl(43)
            let b18 = a17.rotl(15)
            let b9 = a22.rotl(61)
            let b5 = a3.rotl(28)
            let b21 = a8.rotl(55)
            let b12 = a13.rotl(25)
            let b3 = a18.rotl(21)
            let b19 = a23.rotl(56)
            let b15 = a4.rotl(27)
            let b6 = a9.rotl(20)
            let b22 = a14.rotl(39)
            let b13 = a19.rotl(8)
            let b4 = a24.rotl(14)
            // χ and ι
            a0 = b0 ^ (~b1 & b2)
            a1 = b1 ^ (~b2 & b3)
            a2 = b2 ^ (~b3 & b4)
            a3 = b3 ^ (~b4 & b0)
            a4 = b4 ^ (~b0 & b1)
            a5 = b5 ^ (~b6 & b7)
            a6 = b6 ^ (~b7 & b8)
            a7 = b7 ^ (~b8 & b9)
            a8 = b8 ^ (~b9 & b5)
            a9 = b9 ^ (~b5 & b6)
            a10 = b10 ^ (~b11 & b12)
            a11 = b11 ^ (~b12 & b13)
            a12 = b12 ^ (~b13 & b14)
            a13 = b13 ^ (~b14 & b10)
            a14 = b14 ^ (~b10 & b11)
            a15 = b15 ^ (~b16 & b17)
            a16 = b16 ^ (~b17 & b18)
            a17 = b17 ^ (~b18 & b19)
            a18 = b18 ^ (~b19 & b15)
            a19 = b19 ^ (~b15 & b16)
            a20 = b20 ^ (~b21 & b22)
            a21 = b21 ^ (~b22 & b23)
            a22 = b22 ^ (~b23 & b24)
            a23 = b23 ^ (~b24 & b20)
            a24 = b24 ^ (~b20 & b21)
            a0 ^= constants[round]
        }

        s[0] = a0
        s[1] = a1
        s[2] = a2
        s[3] = a3
        s[4] = a4
        s[5] = a5
        s[6] = a6
        s[7] = a7
        s[8] = a8
        s[9] = a9
        s[10] = a10
        s[11] = a11
        s[12] = a12
        s[13] = a13
        s[14] = a14
        s[15] = a15
        s[16] = a16
        s[17] = a17
        s[18] = a18
        s[19] = a19
        s[20] = a20
        s[21] = a21
        s[22] = a22
        s[23] = a23
        s[24] = a24
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotl(_ count: UInt64) -> UInt64 {
        (self &<< count) | (self &>> (64 &- count))
    }
}
