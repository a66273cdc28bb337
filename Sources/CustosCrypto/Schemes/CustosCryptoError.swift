/// Errors of the cryptography layer. Each case names what is wrong; none carries
/// secret material, so every description is safe to log and to return to a client.
public enum CustosCryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownScheme(String)
    case unsupportedKeySize(Int)
    case invalidPrivateKey(String)
    case invalidPublicKey(String)
    case malformedPEM(String)
    case malformedDER(String)
    case keyDoesNotMatchScheme(expected: String, found: String)
    case malformedSignature(String)
    case signatureFormatNotApplicable(SignatureScheme)
    case invalidKeyLength(expected: Int, actual: Int)
    case authenticationFailed
    case invalidCiphertext(String)
    case operationFailed(String)

    public var description: String {
        switch self {
        case .unknownScheme(let identifier):
            let known = KeyAlgorithm.all.map(\.identifier).joined(separator: ", ")
            return "unknown scheme '\(identifier.prefix(64))'; known schemes: \(known)"
        case .unsupportedKeySize(let bits):
            return "unsupported RSA key size \(bits); use 2048, 3072 or 4096"
        case .invalidPrivateKey(let reason): return "invalid private key: \(reason)"
        case .invalidPublicKey(let reason): return "invalid public key: \(reason)"
        case .malformedPEM(let reason): return "malformed PEM: \(reason)"
        case .malformedDER(let reason): return "malformed DER: \(reason)"
        case .keyDoesNotMatchScheme(let expected, let found):
            return "the key is \(found) but the scheme needs \(expected)"
        case .malformedSignature(let reason): return "malformed signature: \(reason)"
        case .signatureFormatNotApplicable(let scheme):
            return "signature format der/raw applies to ECDSA only, not \(scheme)"
        case .invalidKeyLength(let expected, let actual):
            return "key must be \(expected) bytes, got \(actual)"
        case .authenticationFailed:
            return "authentication failed: the ciphertext, nonce, tag or associated data does not match"
        case .invalidCiphertext(let reason): return "invalid ciphertext: \(reason)"
        case .operationFailed(let reason): return "cryptographic operation failed: \(reason)"
        }
    }
}
