import Crypto
import Foundation

/// An HMAC key bound to its hash function.
public struct MACKey: Sendable {
    public let algorithm: SymmetricAlgorithm
    let key: SymmetricKey
    /// The key already padded and absorbed: `HMAC.init` would redo that (two hash
    /// blocks and four allocations) on every MAC, which the audit log computes twice
    /// per signature.
    private let keyed: Keyed

    private enum Keyed: Sendable {
        case sha256(HMAC<SHA256>)
        case sha512(HMAC<SHA512>)

        init(_ key: SymmetricKey, _ algorithm: SymmetricAlgorithm) {
            self = algorithm == .hmacSHA512 ? .sha512(HMAC(key: key)) : .sha256(HMAC(key: key))
        }
    }

    public init(generating algorithm: SymmetricAlgorithm) throws {
        guard algorithm != .aes256GCM else {
            throw CustosCryptoError.keyDoesNotMatchScheme(expected: "hmac-sha256 or hmac-sha512", found: algorithm.rawValue)
        }
        self.algorithm = algorithm
        key = SymmetricKey(size: .init(bitCount: algorithm.keyByteCount * 8))
        keyed = Keyed(key, algorithm)
    }

    public init(secretMaterial secret: SecretBytes, algorithm: SymmetricAlgorithm) throws {
        guard algorithm != .aes256GCM else {
            throw CustosCryptoError.keyDoesNotMatchScheme(expected: "hmac-sha256 or hmac-sha512", found: algorithm.rawValue)
        }
        guard secret.count >= 16 else { throw CustosCryptoError.invalidKeyLength(expected: algorithm.keyByteCount, actual: secret.count) }
        self.algorithm = algorithm
        key = secret.withUnsafeBytes { SymmetricKey(data: $0) }
        keyed = Keyed(key, algorithm)
    }

    public var secretMaterial: SecretBytes { key.withUnsafeBytes { SecretBytes($0) } }

    public func authenticationCode<D: DataProtocol>(for data: D) -> [UInt8] {
        switch keyed {
        case .sha512(var mac):
            mac.update(data: data)
            return Array(mac.finalize())
        case .sha256(var mac):
            mac.update(data: data)
            return Array(mac.finalize())
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
