import Crypto
import Foundation

/// AES key wrap (RFC 3394), for moving keys between systems that expect it (HSMs,
/// cloud KMS imports). The key-encryption key may be 128, 192 or 256 bits; the
/// wrapped key must be a multiple of 8 bytes and at least 16.
public enum KeyWrap {
    public static func wrap(_ key: SecretBytes, with keyEncryptionKey: SecretBytes) throws -> [UInt8] {
        try checkKEK(keyEncryptionKey)
        guard key.count >= 16, key.count % 8 == 0 else {
            throw CustosCryptoError.invalidKeyLength(expected: key.count < 16 ? 16 : (key.count / 8 + 1) * 8, actual: key.count)
        }
        do {
            let kek = keyEncryptionKey.withUnsafeBytes { SymmetricKey(data: $0) }
            let plain = key.withUnsafeBytes { SymmetricKey(data: $0) }
            return Array(try AES.KeyWrap.wrap(plain, using: kek))
        } catch {
            throw CustosCryptoError.operationFailed("AES key wrap failed")
        }
    }

    public static func unwrap<Bytes: DataProtocol>(_ wrapped: Bytes, with keyEncryptionKey: SecretBytes) throws -> SecretBytes {
        try checkKEK(keyEncryptionKey)
        guard wrapped.count >= 24, wrapped.count % 8 == 0 else {
            throw CustosCryptoError.invalidCiphertext("wrapped key must be a multiple of 8 bytes and at least 24, got \(wrapped.count)")
        }
        do {
            let kek = keyEncryptionKey.withUnsafeBytes { SymmetricKey(data: $0) }
            let key = try AES.KeyWrap.unwrap(wrapped, using: kek)
            return key.withUnsafeBytes { SecretBytes($0) }
        } catch {
            throw CustosCryptoError.authenticationFailed
        }
    }

    private static func checkKEK(_ kek: SecretBytes) throws {
        guard [16, 24, 32].contains(kek.count) else {
            throw CustosCryptoError.invalidKeyLength(expected: 32, actual: kek.count)
        }
    }
}
