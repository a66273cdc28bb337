/// Every kind of key a key record can hold. A key knows its algorithm, and the
/// operations it permits follow from it: a signing key cannot encrypt, an AEAD key
/// cannot sign.
public enum KeyAlgorithm: Hashable, Sendable, CustomStringConvertible {
    case signing(SignatureScheme)
    case symmetric(SymmetricAlgorithm)
    case keyAgreement(KeyAgreementAlgorithm)

    public static let all: [KeyAlgorithm] =
        SignatureScheme.allCases.map { .signing($0) }
        + SymmetricAlgorithm.allCases.map { .symmetric($0) }
        + KeyAgreementAlgorithm.allCases.map { .keyAgreement($0) }

    public var identifier: String {
        switch self {
        case .signing(let scheme): scheme.rawValue
        case .symmetric(let algorithm): algorithm.rawValue
        case .keyAgreement(let algorithm): algorithm.rawValue
        }
    }

    public var description: String { identifier }

    public init(identifier: String) throws {
        if let scheme = SignatureScheme(rawValue: identifier) {
            self = .signing(scheme)
        } else if let algorithm = SymmetricAlgorithm(rawValue: identifier) {
            self = .symmetric(algorithm)
        } else if let algorithm = KeyAgreementAlgorithm(rawValue: identifier) {
            self = .keyAgreement(algorithm)
        } else {
            throw CustosCryptoError.unknownScheme(identifier)
        }
    }

    /// Whether the key has a public half that can be exported and fingerprinted.
    public var isAsymmetric: Bool {
        if case .symmetric = self { return false }
        return true
    }
}

/// Secret keys that never leave Custos: used for AEAD encryption and MACs.
public enum SymmetricAlgorithm: String, CaseIterable, Sendable, Codable {
    case aes256GCM = "aes-256-gcm"
    case hmacSHA256 = "hmac-sha256"
    case hmacSHA512 = "hmac-sha512"

    public var keyByteCount: Int {
        switch self {
        case .aes256GCM, .hmacSHA256: 32
        case .hmacSHA512: 64
        }
    }
}

/// Diffie-Hellman key agreement.
public enum KeyAgreementAlgorithm: String, CaseIterable, Sendable, Codable {
    case x25519 = "x25519"
    case ecdhP256 = "ecdh-p256"
    case ecdhP384 = "ecdh-p384"
}
