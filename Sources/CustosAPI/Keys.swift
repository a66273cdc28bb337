import Foundation

// Keys: creation, listing, public keys and proofs of possession.

/// A key record as the API shows it: everything a client may see, no secret.
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
    public var externalID: String?
    public var labels: [String: String]
    /// soft, high:HSM or ultimate:HSM.
    public var protection: String
    public var createdAt: Date
    public var updatedAt: Date
    /// Present for one key, absent in listings.
    public var versions: [Version]?

    public struct Version: Codable, Sendable, Equatable {
        public var version: Int
        public var fingerprint: String?
        public var createdAt: Date
        public var destroyed: Bool

        public init(version: Int, fingerprint: String?, createdAt: Date, destroyed: Bool) {
            self.version = version
            self.fingerprint = fingerprint
            self.createdAt = createdAt
            self.destroyed = destroyed
        }

        enum CodingKeys: String, CodingKey {
            case version, fingerprint, destroyed
            case createdAt = "created_at"
        }
    }

    public init(id: String, tenant: String, alias: String, category: String, scheme: String, status: String, primaryVersion: Int,
                fingerprint: String?, shortID: String?, externalID: String?, labels: [String: String], protection: String,
                createdAt: Date, updatedAt: Date, versions: [Version]?) {
        self.id = id
        self.tenant = tenant
        self.alias = alias
        self.category = category
        self.scheme = scheme
        self.status = status
        self.primaryVersion = primaryVersion
        self.fingerprint = fingerprint
        self.shortID = shortID
        self.externalID = externalID
        self.labels = labels
        self.protection = protection
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.versions = versions
    }

    enum CodingKeys: String, CodingKey {
        case id, tenant, alias, category, scheme, status, fingerprint, labels, protection, versions
        case primaryVersion = "primary_version"
        case shortID = "short_id"
        case externalID = "external_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

public struct GenerateKeyRequest: Codable, Sendable {
    public var alias: String
    public var scheme: String
    public var category: String?
    public var labels: [String: String]?
    public var externalID: String?
    public var rsaBits: Int?

    public init(alias: String, scheme: String, category: String? = nil, labels: [String: String]? = nil,
                externalID: String? = nil, rsaBits: Int? = nil) {
        self.alias = alias
        self.scheme = scheme
        self.category = category
        self.labels = labels
        self.externalID = externalID
        self.rsaBits = rsaBits
    }

    enum CodingKeys: String, CodingKey {
        case alias, scheme, category, labels
        case externalID = "external_id"
        case rsaBits = "rsa_bits"
    }
}

public struct ImportKeyRequest: Codable, Sendable {
    public var alias: String
    public var scheme: String
    public var category: String?
    public var labels: [String: String]?
    public var externalID: String?
    /// PKCS#8 (or SEC1/PKCS#1), PEM text or base64 DER.
    public var privateKey: String

    public init(alias: String, scheme: String, category: String? = nil, labels: [String: String]? = nil,
                externalID: String? = nil, privateKey: String) {
        self.alias = alias
        self.scheme = scheme
        self.category = category
        self.labels = labels
        self.externalID = externalID
        self.privateKey = privateKey
    }

    enum CodingKeys: String, CodingKey {
        case alias, scheme, category, labels
        case externalID = "external_id"
        case privateKey = "private_key"
    }
}

public struct KeyList: Codable, Sendable {
    public var keys: [KeyResponse]
    /// Pass as `after` for the next page; absent on the last page.
    public var next: String?
    public init(keys: [KeyResponse], next: String?) {
        self.keys = keys
        self.next = next
    }
}

public struct PublicKeyResponse: Codable, Sendable {
    public var alias: String
    public var version: Int
    public var scheme: String
    public var fingerprint: String
    public var format: String
    /// PEM text, base64 DER, or base64 raw/compressed point.
    public var publicKey: String?
    public var jwk: [String: String]?

    public init(alias: String, version: Int, scheme: String, fingerprint: String, format: String,
                publicKey: String?, jwk: [String: String]?) {
        self.alias = alias
        self.version = version
        self.scheme = scheme
        self.fingerprint = fingerprint
        self.format = format
        self.publicKey = publicKey
        self.jwk = jwk
    }

    enum CodingKeys: String, CodingKey {
        case alias, version, scheme, fingerprint, format, jwk
        case publicKey = "public_key"
    }
}

public struct ProofOfPossessionResponse: Codable, Sendable {
    public var alias: String
    public var version: Int
    public var publicKey: String
    public var proofOfPossession: String

    public init(alias: String, version: Int, publicKey: String, proofOfPossession: String) {
        self.alias = alias
        self.version = version
        self.publicKey = publicKey
        self.proofOfPossession = proofOfPossession
    }

    enum CodingKeys: String, CodingKey {
        case alias, version
        case publicKey = "public_key"
        case proofOfPossession = "proof_of_possession"
    }
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
public struct KeyListQuery: Sendable, Equatable {
    public var limit: Int
    public var after: String?
    public var category: String?
    public var scheme: String?
    public var status: String?
    public var aliasPrefix: String?

    public init(limit: Int = 100, after: String? = nil, category: String? = nil, scheme: String? = nil,
                status: String? = nil, aliasPrefix: String? = nil) {
        self.limit = limit
        self.after = after
        self.category = category
        self.scheme = scheme
        self.status = status
        self.aliasPrefix = aliasPrefix
    }

    public var parameters: [String: String?] {
        ["limit": String(limit), "after": after, "category": category, "scheme": scheme, "status": status, "alias_prefix": aliasPrefix]
    }
}
