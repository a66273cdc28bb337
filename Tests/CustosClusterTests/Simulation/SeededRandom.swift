import BLS12381
import CustosCrypto

/// Deterministic key material for the simulation: SplitMix64 from a seed, so every run
/// generates the same keys and the same records.
struct SeededRandom: Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform enough below `n` for choosing mutations.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count {
            withUnsafeBytes(of: next().littleEndian) { out.append(contentsOf: $0) }
        }
        return Array(out.prefix(count))
    }

    mutating func blsKey() -> BLS12381.PrivateKey {
        // KeyGen only fails for IKM shorter than 32 bytes.
        try! BLS12381.PrivateKey(ikm: bytes(32))
    }

    mutating func ed25519Key() -> SigningPrivateKey {
        try! SigningPrivateKey(secretMaterial: SecretBytes(bytes(32)), scheme: .ed25519)
    }
}
