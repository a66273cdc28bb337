/// Why a secp256k1 operation refused its input. Descriptions name the cause and never
/// carry key material.
public enum Secp256k1Error: Error, Equatable, CustomStringConvertible {
    /// Not 32 bytes, zero, or not below the group order n.
    case invalidPrivateKey
    case invalidPublicKey(reason: String)
    case invalidSignatureEncoding(reason: String)
    /// Recovery ids are 0...3 (Ethereum's v: 0, 1, 27, 28).
    case invalidRecoveryID(UInt8)
    /// s > n/2 where a low-s signature is required (Ethereum, EIP-2).
    case highS
    /// No public key is recoverable from this signature and digest.
    case recoveryFailed
    /// Digests must be exactly 32 bytes; the value is the length received.
    case digestLength(Int)
    /// libsecp256k1 refused to sign (practically unreachable with a valid key).
    case signingFailed

    public var description: String {
        switch self {
        case .invalidPrivateKey:
            return "invalid secp256k1 private key: must be 32 bytes with 0 < k < n"
        case .invalidPublicKey(let reason):
            return "invalid secp256k1 public key: \(reason)"
        case .invalidSignatureEncoding(let reason):
            return "invalid ECDSA signature encoding: \(reason)"
        case .invalidRecoveryID(let id):
            return "invalid recovery id \(id): expected 0...3 (or Ethereum v 27/28)"
        case .highS:
            return "signature has high s (s > n/2); only low-s signatures are accepted here"
        case .recoveryFailed:
            return "public key recovery failed"
        case .digestLength(let count):
            return "digest must be 32 bytes, got \(count)"
        case .signingFailed:
            return "secp256k1 signing failed"
        }
    }
}
