import CustosCrypto
import CustosStore
import Foundation

/// The public view of a key record: everything a client may see, no secret.
public struct KeyInfo: Sendable, Equatable {
    public var id: String
    public var tenant: TenantID
    public var alias: KeyAlias
    public var category: KeyCategory
    public var algorithm: KeyAlgorithm
    public var status: KeyStatus
    public var primaryVersion: Int
    public var fingerprint: String?
    public var shortID: String?
    /// The EIP-55 address of an Ethereum account (category ACCOUNTS, scheme
    /// ecdsa-secp256k1-keccak256); nil for every other key.
    public var ethereumAddress: String?
    public var externalID: String?
    public var labels: [String: String]
    public var protection: ProtectionReference
    public var createdAt: Date
    public var updatedAt: Date
    /// Filled by `key(tenant:alias:)`; nil in listings.
    public var versions: [VersionInfo]?
}

public struct VersionInfo: Sendable, Equatable {
    public var version: Int
    public var fingerprint: String?
    public var createdAt: Date
    public var destroyed: Bool
}

public struct TenantInfo: Sendable, Equatable {
    public var id: TenantID
    public var createdAt: Date
    public var wrappingGeneration: Int
}

public struct SignResult: Sendable, Equatable {
    public var signature: [UInt8]
    public var keyID: String
    public var alias: KeyAlias
    public var version: Int
    public var scheme: SignatureScheme
    public var format: SignatureFormat?
}

/// What a verification found: the version whose public key verifies the signature,
/// or that none does.
public enum VerifyResult: Sendable, Equatable {
    case verified(version: Int)
    case notVerified

    public var valid: Bool { version != nil }

    public var version: Int? {
        if case .verified(let version) = self { version } else { nil }
    }
}

/// A key to create: generated here, or imported from PKCS#8/PEM made elsewhere.
public struct KeySpec: Sendable {
    public var tenant: TenantID
    public var alias: KeyAlias
    public var algorithm: KeyAlgorithm
    public var category: KeyCategory?
    public var options: GenerationOptions
    public var labels: [String: String]
    public var externalID: String?

    public init(tenant: TenantID, alias: KeyAlias, algorithm: KeyAlgorithm, category: KeyCategory? = nil,
                options: GenerationOptions = GenerationOptions(), labels: [String: String] = [:], externalID: String? = nil) {
        self.tenant = tenant
        self.alias = alias
        self.algorithm = algorithm
        self.category = category
        self.options = options
        self.labels = labels
        self.externalID = externalID
    }

    var resolvedCategory: KeyCategory {
        if let category { return category }
        if case .signing = algorithm { return .ledger }
        return .encryption
    }
}

/// A public key of any asymmetric kind, for export.
public enum PublicKeyExport: Sendable {
    case signing(SigningPublicKey)
    case keyAgreement(KeyAgreementPublicKey)

    /// SPKI DER; nil for BLS12-381, which has no registered SPKI algorithm.
    public var derRepresentation: [UInt8]? {
        switch self {
        case .signing(let key): key.derRepresentation
        case .keyAgreement(let key): key.derRepresentation
        }
    }

    public var pemRepresentation: String? {
        switch self {
        case .signing(let key): key.pemRepresentation
        case .keyAgreement(let key): key.pemRepresentation
        }
    }

    /// What the store keeps and fingerprints.
    public var encodedRepresentation: [UInt8] {
        switch self {
        case .signing(let key): key.encodedRepresentation
        case .keyAgreement(let key): key.derRepresentation
        }
    }

    public var rawRepresentation: [UInt8]? {
        switch self {
        case .signing(let key): key.rawRepresentation
        case .keyAgreement(let key): key.rawRepresentation
        }
    }

    public var jwk: [String: String] {
        switch self {
        case .signing(let key): return key.jwk
        case .keyAgreement(let key):
            let raw = key.rawRepresentation
            var jwk = ["kid": key.fingerprint.description, "use": "enc"]
            switch key.algorithm {
            case .x25519:
                jwk["kty"] = "OKP"; jwk["crv"] = "X25519"; jwk["x"] = Base64URL.encode(raw)
            case .ecdhP256, .ecdhP384:
                let size = (raw.count - 1) / 2
                jwk["kty"] = "EC"; jwk["crv"] = key.algorithm == .ecdhP256 ? "P-256" : "P-384"
                jwk["x"] = Base64URL.encode(raw[1...size]); jwk["y"] = Base64URL.encode(raw[(size + 1)...])
            }
            return jwk
        }
    }
}
