import Crypto
import Foundation

/// An AES-256-GCM key. Every seal draws a fresh random 96-bit nonce, so callers cannot
/// reuse one; the sealed box is nonce‖ciphertext‖tag.
public struct AEADKey: Sendable {
    public static let nonceByteCount = 12
    public static let tagByteCount = 16
    let key: SymmetricKey

    public init() {
        key = SymmetricKey(size: .bits256)
    }

    public init(secretMaterial secret: SecretBytes) throws {
        guard secret.count == 32 else { throw CustosCryptoError.invalidKeyLength(expected: 32, actual: secret.count) }
        key = secret.withUnsafeBytes { SymmetricKey(data: $0) }
    }

    public var secretMaterial: SecretBytes {
        key.withUnsafeBytes { SecretBytes($0) }
    }

    public func seal<P: DataProtocol, A: DataProtocol>(_ plaintext: P, associatedData: A) throws -> [UInt8] {
        try seal(plaintext, nonce: AES.GCM.Nonce(), associatedData: associatedData)
    }

    /// Sealing with a chosen nonce exists only for known-answer tests.
    func seal<P: DataProtocol, A: DataProtocol>(_ plaintext: P, nonce: AES.GCM.Nonce, associatedData: A) throws -> [UInt8] {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: associatedData)
            guard let combined = box.combined else { throw CustosCryptoError.operationFailed("AES-GCM produced no combined form") }
            return Array(combined)
        } catch let error as CustosCryptoError {
            throw error
        } catch {
            throw CustosCryptoError.operationFailed("AES-256-GCM encryption failed")
        }
    }

    public func seal<P: DataProtocol>(_ plaintext: P) throws -> [UInt8] {
        try seal(plaintext, associatedData: [UInt8]())
    }

    /// Opens a nonce‖ciphertext‖tag box into secret storage.
    public func open<C: DataProtocol, A: DataProtocol>(_ sealed: C, associatedData: A) throws -> SecretBytes {
        guard sealed.count >= Self.nonceByteCount + Self.tagByteCount else {
            throw CustosCryptoError.invalidCiphertext("shorter than nonce and tag (\(sealed.count) bytes)")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return SecretBytes.consuming(try AES.GCM.open(box, using: key, authenticating: associatedData))
        } catch {
            throw CustosCryptoError.authenticationFailed
        }
    }

    public func open<C: DataProtocol>(_ sealed: C) throws -> SecretBytes {
        try open(sealed, associatedData: [UInt8]())
    }
}
