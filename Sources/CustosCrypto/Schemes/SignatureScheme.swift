/// The signature schemes Custos signs and verifies with. The raw values are the
/// identifiers used in the API, the CLI and stored key records: never rename one.
public enum SignatureScheme: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case ed25519 = "ed25519"
    case ecdsaP256SHA256 = "ecdsa-p256-sha256"
    case ecdsaP384SHA384 = "ecdsa-p384-sha384"
    case ecdsaSecp256k1SHA256 = "ecdsa-secp256k1-sha256"
    /// Ethereum: Keccak-256 of the message, 65-byte r‖s‖v signature, low-s, recoverable.
    case ecdsaSecp256k1Keccak256 = "ecdsa-secp256k1-keccak256"
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    case rsaPSSSHA256 = "rsa-pss-sha256"
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    case rsaPKCS1SHA256 = "rsa-pkcs1-sha256"
    /// ML-DSA-65 (FIPS 204), empty context.
    case mlDSA65 = "ml-dsa-65"
    /// BLS12-381 minimal-pubkey-size signatures, ciphersuite
    /// `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_` (proof of possession).
    case bls12381Pop = "bls12381-pop"

    public var description: String { rawValue }

    /// Parses an identifier, naming the accepted ones when it is unknown.
    public init(identifier: String) throws {
        guard let scheme = SignatureScheme(rawValue: identifier) else {
            throw CustosCryptoError.unknownScheme(identifier)
        }
        self = scheme
    }

    public var isECDSA: Bool {
        switch self {
        case .ecdsaP256SHA256, .ecdsaP384SHA384, .ecdsaSecp256k1SHA256, .ecdsaSecp256k1Keccak256: true
        default: false
        }
    }

    public var isRSA: Bool { self == .rsaPSSSHA256 || self == .rsaPKCS1SHA256 }

    /// The algorithm family of the key, independent of padding or hash choice.
    public var keyType: KeyType {
        switch self {
        case .ed25519: .ed25519
        case .ecdsaP256SHA256: .p256
        case .ecdsaP384SHA384: .p384
        case .ecdsaSecp256k1SHA256, .ecdsaSecp256k1Keccak256: .secp256k1
        case .rsaPSSSHA256, .rsaPKCS1SHA256: .rsa
        case .mlDSA65: .mlDSA65
        case .bls12381Pop: .bls12381
        }
    }

    /// Whether public keys of this scheme have a registered SubjectPublicKeyInfo
    /// encoding. BLS12-381 has none: its keys travel as 48-byte compressed G1 points.
    public var hasSubjectPublicKeyInfo: Bool { self != .bls12381Pop }
}

/// The mathematical family of an asymmetric key. Two schemes can share one key type
/// (secp256k1 with SHA-256 or Keccak-256, RSA with PSS or PKCS#1 v1.5 padding), but
/// a key is always bound to exactly one scheme.
public enum KeyType: String, Sendable, Codable {
    case ed25519, p256, p384, secp256k1, rsa, mlDSA65 = "ml-dsa-65", bls12381
    case x25519
}

/// How an ECDSA signature is laid out on the wire.
public enum SignatureFormat: String, Codable, Sendable, CaseIterable {
    /// ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }` (the default, what OpenSSL emits).
    case der
    /// Fixed-width big-endian r‖s (IEEE P1363, JOSE).
    case raw
}

/// RSA modulus sizes Custos generates and accepts.
public enum RSAKeySize: Int, Sendable, Codable, CaseIterable {
    case bits2048 = 2048
    case bits3072 = 3072
    case bits4096 = 4096

    public init(bits: Int) throws {
        guard let size = RSAKeySize(rawValue: bits) else {
            throw CustosCryptoError.unsupportedKeySize(bits)
        }
        self = size
    }
}
