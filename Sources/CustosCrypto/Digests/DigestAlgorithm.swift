import Crypto

/// The message digests Custos computes. Keccak-256 is Ethereum's hash and differs
/// from SHA3-256 in its padding; double SHA-256 is Bitcoin's.
public enum DigestAlgorithm: String, CaseIterable, Sendable, Codable {
    case sha256 = "sha256"
    case sha384 = "sha384"
    case sha512 = "sha512"
    case sha3_256 = "sha3-256"
    case sha3_512 = "sha3-512"
    case keccak256 = "keccak256"
    case doubleSHA256 = "double-sha256"

    public var byteCount: Int {
        switch self {
        case .sha256, .sha3_256, .keccak256, .doubleSHA256: 32
        case .sha384: 48
        case .sha512, .sha3_512: 64
        }
    }

    public func hash<D: DataProtocol>(_ data: D) -> [UInt8] {
        switch self {
        case .sha256: Array(SHA256.hash(data: data))
        case .sha384: Array(SHA384.hash(data: data))
        case .sha512: Array(SHA512.hash(data: data))
        case .sha3_256: Array(SHA3_256.hash(data: data))
        case .sha3_512: Array(SHA3_512.hash(data: data))
        case .keccak256: Keccak256.hash(data: data)
        case .doubleSHA256: Array(SHA256.hash(data: Array(SHA256.hash(data: data))))
        }
    }
}

import Foundation
