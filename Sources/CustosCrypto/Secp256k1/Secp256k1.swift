import CSecp256k1
import Foundation

/// ECDSA over secp256k1 (Bitcoin, Ethereum), backed by the system libsecp256k1.
///
/// All digests are 32 bytes that the caller has already hashed (SHA-256, Keccak-256, …).
public enum Secp256k1 {
    public struct PrivateKey: Sendable {
        private let scalar: SecretBytes

        /// A uniformly random scalar 0 < k < n from the system CSPRNG.
        public init() {
            while true {
                let candidate = SecretBytes(randomCount: 32)
                if Secp256k1.isValidScalar(candidate) {
                    scalar = candidate
                    return
                }
            }
        }

        /// 32 big-endian bytes with 0 < k < n.
        public init(rawRepresentation: some DataProtocol) throws {
            guard rawRepresentation.count == 32 else { throw Secp256k1Error.invalidPrivateKey }
            let candidate = SecretBytes(rawRepresentation)
            guard Secp256k1.isValidScalar(candidate) else { throw Secp256k1Error.invalidPrivateKey }
            scalar = candidate
        }

        /// The scalar, still in zeroize-on-free storage.
        public var rawRepresentation: SecretBytes { scalar }

        public var publicKey: PublicKey {
            var pubkey = secp256k1_pubkey()
            let created = scalar.withUnsafeBytes { seckey in
                secp256k1_ec_pubkey_create(Secp256k1.context, &pubkey, seckey.bindMemory(to: UInt8.self).baseAddress!)
            }
            // The scalar was checked at construction, so creation cannot fail.
            precondition(created == 1, "secp256k1_ec_pubkey_create failed on a verified key")
            return PublicKey(uncheckedPoint: pubkey)
        }

        /// ECDSA with the RFC 6979 deterministic nonce; the result is always low-s.
        public func signature(forDigest digest: some DataProtocol) throws -> ECDSASignature {
            let message = try Secp256k1.digestBytes(digest)
            var signature = secp256k1_ecdsa_signature()
            let signed = scalar.withUnsafeBytes { seckey in
                secp256k1_ecdsa_sign(
                    Secp256k1.context, &signature, message,
                    seckey.bindMemory(to: UInt8.self).baseAddress!, nil, nil)
            }
            guard signed == 1 else { throw Secp256k1Error.signingFailed }
            var raw = [UInt8](repeating: 0, count: 64)
            _ = secp256k1_ecdsa_signature_serialize_compact(Secp256k1.context, &raw, &signature)
            return ECDSASignature(uncheckedRaw: raw)
        }

        /// Like `signature(forDigest:)`, plus the recovery id (Ethereum's v - 27).
        public func recoverableSignature(forDigest digest: some DataProtocol) throws -> RecoverableSignature {
            let message = try Secp256k1.digestBytes(digest)
            var signature = secp256k1_ecdsa_recoverable_signature()
            let signed = scalar.withUnsafeBytes { seckey in
                secp256k1_ecdsa_sign_recoverable(
                    Secp256k1.context, &signature, message,
                    seckey.bindMemory(to: UInt8.self).baseAddress!, nil, nil)
            }
            guard signed == 1 else { throw Secp256k1Error.signingFailed }
            var raw = [UInt8](repeating: 0, count: 64)
            var recoveryID: Int32 = 0
            _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(Secp256k1.context, &raw, &recoveryID, &signature)
            return RecoverableSignature(uncheckedRaw: raw, recoveryID: UInt8(recoveryID))
        }
    }
}

// MARK: - libsecp256k1 plumbing

extension Secp256k1 {
    /// Wraps the context pointer so it can live in a `static let`. After creation and
    /// randomization it is only read, which libsecp256k1 allows from any thread.
    private final class Context: @unchecked Sendable {
        let pointer: OpaquePointer

        init() {
            guard let created = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
                fatalError("secp256k1_context_create failed")
            }
            // Blinding for side-channel resistance of signing and key generation.
            let seed = SecretBytes(randomCount: 32)
            let randomized = seed.withUnsafeBytes { bytes in
                secp256k1_context_randomize(created, bytes.bindMemory(to: UInt8.self).baseAddress!)
            }
            precondition(randomized == 1, "secp256k1_context_randomize failed")
            pointer = created
        }
    }

    private static let sharedContext = Context()

    static var context: OpaquePointer { sharedContext.pointer }

    fileprivate static func isValidScalar(_ scalar: SecretBytes) -> Bool {
        scalar.count == 32 && scalar.withUnsafeBytes { bytes in
            secp256k1_ec_seckey_verify(context, bytes.bindMemory(to: UInt8.self).baseAddress!) == 1
        }
    }

    static func digestBytes(_ digest: some DataProtocol) throws -> [UInt8] {
        guard digest.count == 32 else { throw Secp256k1Error.digestLength(digest.count) }
        return Array(digest)
    }

    static func parsePoint(_ bytes: [UInt8]) throws -> secp256k1_pubkey {
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_parse(context, &point, bytes, bytes.count) == 1 else {
            throw Secp256k1Error.invalidPublicKey(reason: "not a point on secp256k1")
        }
        return point
    }

    static func serialize(_ point: secp256k1_pubkey, compressed: Bool) -> [UInt8] {
        var point = point
        var output = [UInt8](repeating: 0, count: compressed ? 33 : 65)
        var length = output.count
        let flags = UInt32(compressed ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED)
        _ = secp256k1_ec_pubkey_serialize(context, &output, &length, &point, flags)
        return output
    }
}
