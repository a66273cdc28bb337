import CustosMacros
import Foundation

// Keys: creation, listing, public keys and proofs of possession.

/// A key record as the API shows it: everything a client may see, no secret.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct KeyResponse: Codable, Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var alias: String
    public var category: String
    public var scheme: String
    /// enabled, disabled or destroyed.
    public var status: String
    public var primaryVersion: Int
    public var fingerprint: String?
    public var shortID: String?
    /// The EIP-55 address, for an Ethereum account (category ACCOUNTS, scheme
    /// ecdsa-secp256k1-keccak256) only.
    public var address: String?
    public var externalID: String?
    public var labels: [String: String]
    /// soft, high:HSM or ultimate:HSM.
    public var protection: String
    public var createdAt: Date
    public var updatedAt: Date
    /// Present for one key, absent in listings.
    public var versions: [Version]?

    @PublicMemberwiseInit
    @SnakeCaseCodingKeys
    public struct Version: Codable, Sendable, Equatable {
        public var version: Int
        public var fingerprint: String?
        public var createdAt: Date
        public var destroyed: Bool
    }
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct GenerateKeyRequest: Codable, Sendable {
    public var alias: String
    public var scheme: String
    public var category: String? = nil
    public var labels: [String: String]? = nil
    public var externalID: String? = nil
    public var rsaBits: Int? = nil
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ImportKeyRequest: Codable, Sendable {
    public var alias: String
    public var scheme: String
    public var category: String? = nil
    public var labels: [String: String]? = nil
    public var externalID: String? = nil
    /// PKCS#8 (or SEC1/PKCS#1), PEM text or base64 DER.
    public var privateKey: String
}

@PublicMemberwiseInit
public struct KeyList: Codable, Sendable {
    public var keys: [KeyResponse]
    /// Pass as `after` for the next page; absent on the last page.
    public var next: String?
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct PublicKeyResponse: Codable, Sendable {
    public var alias: String
    public var version: Int
    public var scheme: String
    public var fingerprint: String
    public var format: String
    /// PEM text, base64 DER, or base64 raw/compressed point.
    public var publicKey: String?
    public var jwk: [String: String]?
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ProofOfPossessionResponse: Codable, Sendable {
    public var alias: String
    public var version: Int
    public var publicKey: String
    public var proofOfPossession: String
}

/// The changes of a key's state, each an endpoint that answers the key.
public enum KeyStateChange: String, Sendable, CaseIterable {
    case rotate, disable, enable, destroy

    public var endpoint: Endpoint {
        switch self {
        case .rotate: .rotateKey
        case .disable: .disableKey
        case .enable: .enableKey
        case .destroy: .destroyKey
        }
    }
}

/// The filters and page of a key listing, as query parameters.
@PublicMemberwiseInit
public struct KeyListQuery: Sendable, Equatable {
    public var limit: Int = 100
    public var after: String? = nil
    public var category: String? = nil
    public var scheme: String? = nil
    public var status: String? = nil
    public var aliasPrefix: String? = nil

    public var parameters: [String: String?] {
        ["limit": String(limit), "after": after, "category": category, "scheme": scheme, "status": status, "alias_prefix": aliasPrefix]
    }
}
