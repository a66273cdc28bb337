@_exported import CSecp256k1Raw

/// The raw baseline: libsecp256k1 called directly, on a context this file creates and
/// randomizes exactly as Custos does (SECP256K1_CONTEXT_NONE + secp256k1_context_randomize).
///
/// Each operation goes from the same input bytes to the same output bytes as its Custos
/// twin, with the minimum of library calls:
/// - sign: secp256k1_ecdsa_sign + serialize_compact (64 bytes r ‖ s)
/// - verify: signature_parse_compact + secp256k1_ecdsa_verify against a public key
///   parsed once up front (what a direct caller would keep)
/// - recover: recoverable_signature_parse_compact + secp256k1_ecdsa_recover +
///   ec_pubkey_serialize (65-byte uncompressed point)
public final class RawSecp256k1: @unchecked Sendable {
    public let context: OpaquePointer

    public init() {
        context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE))!
        var seed = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in seed.indices { seed[index] = generator.next() }
        precondition(secp256k1_context_randomize(context, seed) == 1)
    }

    deinit { secp256k1_context_destroy(context) }

    public func makeSecretKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        while true {
            let candidate = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            if secp256k1_ec_seckey_verify(context, candidate) == 1 { return candidate }
        }
    }

    public func publicKey(seckey: [UInt8]) -> secp256k1_pubkey {
        var pubkey = secp256k1_pubkey()
        precondition(secp256k1_ec_pubkey_create(context, &pubkey, seckey) == 1)
        return pubkey
    }

    public func serializedPublicKey(seckey: [UInt8]) -> [UInt8] {
        var pubkey = publicKey(seckey: seckey)
        var output = [UInt8](repeating: 0, count: 65)
        var length = 65
        _ = secp256k1_ec_pubkey_serialize(context, &output, &length, &pubkey, UInt32(SECP256K1_EC_UNCOMPRESSED))
        return output
    }

    @inlinable
    public func sign(digest: [UInt8], seckey: [UInt8], into output: inout [UInt8]) {
        var signature = secp256k1_ecdsa_signature()
        let signed = secp256k1_ecdsa_sign(context, &signature, digest, seckey, nil, nil)
        precondition(signed == 1)
        _ = secp256k1_ecdsa_signature_serialize_compact(context, &output, &signature)
    }

    @inlinable
    public func verify(signature: [UInt8], digest: [UInt8], pubkey: inout secp256k1_pubkey) -> Bool {
        var parsed = secp256k1_ecdsa_signature()
        guard secp256k1_ecdsa_signature_parse_compact(context, &parsed, signature) == 1 else { return false }
        return secp256k1_ecdsa_verify(context, &parsed, digest, &pubkey) == 1
    }

    public func signRecoverable(digest: [UInt8], seckey: [UInt8]) -> ([UInt8], Int32) {
        var signature = secp256k1_ecdsa_recoverable_signature()
        precondition(secp256k1_ecdsa_sign_recoverable(context, &signature, digest, seckey, nil, nil) == 1)
        var output = [UInt8](repeating: 0, count: 64)
        var recoveryID: Int32 = 0
        _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(context, &output, &recoveryID, &signature)
        return (output, recoveryID)
    }

    @inlinable
    public func recover(signature: [UInt8], recoveryID: Int32, digest: [UInt8], into output: inout [UInt8]) {
        var parsed = secp256k1_ecdsa_recoverable_signature()
        precondition(secp256k1_ecdsa_recoverable_signature_parse_compact(context, &parsed, signature, recoveryID) == 1)
        var point = secp256k1_pubkey()
        precondition(secp256k1_ecdsa_recover(context, &point, &parsed, digest) == 1)
        var length = 65
        _ = secp256k1_ec_pubkey_serialize(context, &output, &length, &point, UInt32(SECP256K1_EC_UNCOMPRESSED))
    }
}
