/// Arithmetic on secret scalars modulo the group order r, branch-free.
enum ScalarField {
    /// r = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001, little-endian words.
    static let order: (UInt64, UInt64, UInt64, UInt64) = (0xffffffff00000001, 0x53bda402fffe5bfe, 0x3339d80809a1d805, 0x73eda753299d7d48)

    /// OS2IP(bytes) mod r as 32 big-endian bytes, by constant-time shift-and-subtract over every bit.
    static func reduce(bigEndian bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var a0: UInt64 = 0, a1: UInt64 = 0, a2: UInt64 = 0, a3: UInt64 = 0
        for byte in bytes {
            for shift in stride(from: 7, through: 0, by: -1) {
                let bit = UInt64((byte >> UInt8(shift)) & 1)
                // acc = 2*acc + bit  (acc < r < 2^255, so no overflow)
                a3 = (a3 << 1) | (a2 >> 63)
                a2 = (a2 << 1) | (a1 >> 63)
                a1 = (a1 << 1) | (a0 >> 63)
                a0 = (a0 << 1) | bit
                // Subtract r unless that borrows.
                var b: UInt64 = 0
                let (d0, b0) = subBorrow(a0, order.0, b); b = b0
                let (d1, b1) = subBorrow(a1, order.1, b); b = b1
                let (d2, b2) = subBorrow(a2, order.2, b); b = b2
                let (d3, b3) = subBorrow(a3, order.3, b); b = b3
                let keep = 0 &- b
                a0 = (a0 & keep) | (d0 & ~keep)
                a1 = (a1 & keep) | (d1 & ~keep)
                a2 = (a2 & keep) | (d2 & ~keep)
                a3 = (a3 & keep) | (d3 & ~keep)
            }
        }
        var out = [UInt8](repeating: 0, count: 32)
        let words = [a3, a2, a1, a0]
        for (i, w) in words.enumerated() {
            for j in 0..<8 { out[i * 8 + j] = UInt8(truncatingIfNeeded: w >> UInt64(56 - 8 * j)) }
        }
        return out
    }

    /// All-ones when 0 < s < r for 32 big-endian bytes, without data-dependent branches.
    static func isValidNonzeroMask(bigEndian s: UnsafeRawBufferPointer) -> UInt64 {
        precondition(s.count == 32)
        var w = [UInt64](repeating: 0, count: 4)
        for i in 0..<32 { w[3 - i / 8] = (w[3 - i / 8] << 8) | UInt64(s[i]) }
        var b: UInt64 = 0
        (_, b) = subBorrow(w[0], order.0, b)
        (_, b) = subBorrow(w[1], order.1, b)
        (_, b) = subBorrow(w[2], order.2, b)
        (_, b) = subBorrow(w[3], order.3, b)
        let below = 0 &- b
        let nonzero = ~maskIfZero(w[0] | w[1] | w[2] | w[3])
        return below & nonzero
    }
}
