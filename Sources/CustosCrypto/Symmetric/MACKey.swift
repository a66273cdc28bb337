import Crypto
import Foundation

/// An HMAC key bound to its hash function.
public struct MACKey: Sendable {
    public let algorithm: SymmetricAlgorithm
    let key: SymmetricKey

    public init(generating algorithm: SymmetricAlgorithm) throws {
        guard algorithm != .aes256GCM else {
            throw CustosCryptoError.keyDoesNotMatchScheme(expected: "hmac-sha256 or hmac-sha512", found: algorithm.rawValue)
        }
        self.algorithm = algorithm
        key = SymmetricKey(size: .init(bitCount: algorithm.keyByteCount * 8))
    }

    public init(secretMaterial secret: SecretBytes, algorithm: SymmetricAlgorithm) throws {
        guard algorithm != .aes256GCM else {
            throw CustosCryptoError.keyDoesNotMatchScheme(expected: "hmac-sha256 or hmac-sha512", found: algorithm.rawValue)
        }
        guard secret.count >= 16 else { throw CustosCryptoError.invalidKeyLength(expected: algorithm.keyByteCount, actual: secret.count) }
        self.algorithm = algorithm
        key = secret.withUnsafeBytes { SymmetricKey(data: $0) }
    }

    public var secretMaterial: SecretBytes { key.withUnsafeBytes { SecretBytes($0) } }

    public func authenticationCode<D: DataProtocol>(for data: D) -> [UInt8] {
        switch algorithm {
        case .hmacSHA512: Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
        default: Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        }
    }

    /// Constant-time check of a MAC.
    public func isValidAuthenticationCode<M: DataProtocol, D: DataProtocol>(_ mac: M, for data: D) -> Bool {
        ConstantTime.equals(authenticationCode(for: data), Array(mac))
    }
}

/// HKDF (RFC 5869) over SHA-256 or SHA-512, output in secret storage.
public enum KeyDerivation {
    public static func hkdfSHA256(inputKeyMaterial: SecretBytes, salt: [UInt8], info: [UInt8], outputByteCount: Int) throws -> SecretBytes {
        try checkLength(outputByteCount, hashLength: 32)
        let ikm = inputKeyMaterial.withUnsafeBytes { SymmetricKey(data: $0) }
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: info, outputByteCount: outputByteCount)
        return key.withUnsafeBytes { SecretBytes($0) }
    }

    public static func hkdfSHA512(inputKeyMaterial: SecretBytes, salt: [UInt8], info: [UInt8], outputByteCount: Int) throws -> SecretBytes {
        try checkLength(outputByteCount, hashLength: 64)
        let ikm = inputKeyMaterial.withUnsafeBytes { SymmetricKey(data: $0) }
        let key = HKDF<SHA512>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: info, outputByteCount: outputByteCount)
        return key.withUnsafeBytes { SecretBytes($0) }
    }

    /// RFC 5869 allows at most 255 blocks of output.
    private static func checkLength(_ count: Int, hashLength: Int) throws {
        guard count >= 1, count <= 255 * hashLength else {
            throw CustosCryptoError.operationFailed("HKDF output must be 1…\(255 * hashLength) bytes, asked for \(count)")
        }
    }
}
