import CustosCrypto

/// Where a key version's private half is kept and how private operations reach it.
///
/// The soft protection keeps an AES-256-GCM box in the database and unlocks it into
/// memory. An HSM protection keeps the key inside the token, stores only a handle,
/// and returns an `UnlockedKey` whose signer calls the token: the keystore does not
/// need to know which.
public protocol KeyProtection: Sendable {
    /// Recorded with each key ("soft", "high:HSM", "ultimate:HSM").
    var reference: ProtectionReference { get }
    /// Creates a new key of `algorithm` and returns what to persist.
    func create(_ algorithm: KeyAlgorithm, options: GenerationOptions, context: MaterialContext) async throws -> ProtectedMaterial
    /// Takes over a key made elsewhere (already parsed, so its type is checked).
    func protect(_ key: UnlockedKey, context: MaterialContext) async throws -> ProtectedMaterial
    /// Gives access to the private operations of a stored version.
    func unlock(_ stored: [UInt8], wrappingGeneration: Int, context: MaterialContext) async throws -> UnlockedKey
}

public struct GenerationOptions: Sendable {
    public var rsaKeySize: RSAKeySize
    public init(rsaKeySize: RSAKeySize = .bits3072) {
        self.rsaKeySize = rsaKeySize
    }
}

/// Identifies the version whose material is being created or opened; it becomes the
/// associated data of the wrap.
public struct MaterialContext: Sendable {
    public var tenant: String
    public var keyID: String
    public var alias: String
    public var version: Int
    public var algorithm: KeyAlgorithm
}

public struct ProtectedMaterial: Sendable {
    public var stored: [UInt8]
    public var wrappingGeneration: Int
    /// The encoded public half (SPKI DER; the compressed point for BLS12-381); nil
    /// for symmetric keys.
    public var publicKeyDER: [UInt8]?
    public var fingerprint: Fingerprint?
}

/// Something that signs under one scheme. Soft keys sign in memory; HSM keys in the token.
public protocol KeySigner: Sendable {
    var scheme: SignatureScheme { get }
    var publicKey: SigningPublicKey { get }
    func sign(_ message: [UInt8], format: SignatureFormat?) async throws -> Signature
}

extension SigningPrivateKey: KeySigner {
    public func sign(_ message: [UInt8], format: SignatureFormat?) async throws -> Signature {
        try signature(for: message, format: format)
    }
}

/// A key ready for private operations, typed by what it can do.
public enum UnlockedKey: Sendable {
    case signing(any KeySigner)
    case aead(AEADKey)
    case mac(MACKey)
    case keyAgreement(KeyAgreementPrivateKey)

    /// Creates a fresh soft key of `algorithm`.
    static func generate(_ algorithm: KeyAlgorithm, options: GenerationOptions) throws -> UnlockedKey {
        switch algorithm {
        case .signing(let scheme): .signing(try SigningPrivateKey(generating: scheme, rsaKeySize: options.rsaKeySize))
        case .symmetric(.aes256GCM): .aead(AEADKey())
        case .symmetric(let algorithm): .mac(try MACKey(generating: algorithm))
        case .keyAgreement(let algorithm): .keyAgreement(KeyAgreementPrivateKey(generating: algorithm))
        }
    }

    /// Rebuilds a soft key from its canonical secret material.
    static func restore(_ material: SecretBytes, algorithm: KeyAlgorithm) throws -> UnlockedKey {
        switch algorithm {
        case .signing(let scheme): .signing(try SigningPrivateKey(secretMaterial: material, scheme: scheme))
        case .symmetric(.aes256GCM): .aead(try AEADKey(secretMaterial: material))
        case .symmetric(let algorithm): .mac(try MACKey(secretMaterial: material, algorithm: algorithm))
        case .keyAgreement(let algorithm): .keyAgreement(try KeyAgreementPrivateKey(secretMaterial: material, algorithm: algorithm))
        }
    }

    /// The canonical secret material of a soft key, nil when it lives elsewhere.
    var softMaterial: SecretBytes? {
        switch self {
        case .signing(let signer): (signer as? SigningPrivateKey)?.secretMaterial
        case .aead(let key): key.secretMaterial
        case .mac(let key): key.secretMaterial
        case .keyAgreement(let key): key.secretMaterial
        }
    }

    var publicKeyDER: [UInt8]? {
        switch self {
        case .signing(let signer): signer.publicKey.encodedRepresentation
        case .keyAgreement(let key): key.publicKey.derRepresentation
        case .aead, .mac: nil
        }
    }
}
