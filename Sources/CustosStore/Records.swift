import Foundation

/// Persistence-level records. They hold public values and wrapped (encrypted) key
/// material only: nothing the store sees can be used without the root of trust.

public struct TenantRecord: Sendable, Equatable {
    public var id: String
    public var createdAt: Date

    public init(id: String, createdAt: Date) {
        self.id = id
        self.createdAt = createdAt
    }
}

/// A generation of a tenant's wrapping key, itself wrapped by the root of trust.
public struct WrappingKeyRecord: Sendable, Equatable {
    public var tenantID: String
    public var generation: Int
    public var wrappedKey: [UInt8]
    /// Which root-of-trust key wrapped it (lets a root migration find what is left).
    public var rootKeyID: String
    public var createdAt: Date

    public init(tenantID: String, generation: Int, wrappedKey: [UInt8], rootKeyID: String, createdAt: Date) {
        self.tenantID = tenantID
        self.generation = generation
        self.wrappedKey = wrappedKey
        self.rootKeyID = rootKeyID
        self.createdAt = createdAt
    }
}

public enum KeyStatus: String, Sendable, Codable, CaseIterable {
    case enabled, disabled, destroyed
}

public struct KeyRecord: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var alias: String
    public var category: String
    public var scheme: String
    public var status: KeyStatus
    public var primaryVersion: Int
    public var externalID: String?
    public var labels: [String: String]
    /// The protection backend holding the private halves ("soft", or an HSM's name).
    public var protection: String
    /// The fingerprint of the primary version's public key (read-only, filled on load).
    public var primaryFingerprint: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// HMAC of the row's meaning under the tenant's record key (nil in rows written
    /// before schema version 4, until the keystore MACs them).
    public var rowMAC: [UInt8]?

    public init(id: String, tenantID: String, alias: String, category: String, scheme: String, status: KeyStatus,
                primaryVersion: Int, externalID: String?, labels: [String: String], protection: String = "soft",
                createdAt: Date, updatedAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.alias = alias
        self.category = category
        self.scheme = scheme
        self.status = status
        self.primaryVersion = primaryVersion
        self.externalID = externalID
        self.labels = labels
        self.protection = protection
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct KeyVersionRecord: Sendable, Equatable {
    public var keyID: String
    public var version: Int
    /// DER SubjectPublicKeyInfo; nil for symmetric keys.
    public var publicKey: [UInt8]?
    public var fingerprint: String?
    /// AES-256-GCM box of the private material; nil once destroyed.
    public var wrappedMaterial: [UInt8]?
    public var wrappingGeneration: Int
    public var createdAt: Date
    public var destroyedAt: Date?
    /// HMAC of the row's meaning under the tenant's record key (see `KeyRecord.rowMAC`).
    public var rowMAC: [UInt8]?

    public init(keyID: String, version: Int, publicKey: [UInt8]?, fingerprint: String?, wrappedMaterial: [UInt8]?,
                wrappingGeneration: Int, createdAt: Date, destroyedAt: Date? = nil) {
        self.keyID = keyID
        self.version = version
        self.publicKey = publicKey
        self.fingerprint = fingerprint
        self.wrappedMaterial = wrappedMaterial
        self.wrappingGeneration = wrappingGeneration
        self.createdAt = createdAt
        self.destroyedAt = destroyedAt
    }
}

/// Filters for listing keys; nil means "any".
public struct KeyFilter: Sendable, Equatable {
    public var category: String?
    public var scheme: String?
    public var aliasPrefix: String?
    public var status: KeyStatus?

    public init(category: String? = nil, scheme: String? = nil, aliasPrefix: String? = nil, status: KeyStatus? = nil) {
        self.category = category
        self.scheme = scheme
        self.aliasPrefix = aliasPrefix
        self.status = status
    }
}

/// Keyset paging: `after` is the alias of the last row of the previous page, so pages
/// stay stable while keys are added.
public struct PageRequest: Sendable, Equatable {
    public static let maximumLimit = 1000
    public var limit: Int
    public var after: String?

    public init(limit: Int = 100, after: String? = nil) {
        self.limit = min(max(limit, 1), PageRequest.maximumLimit)
        self.after = after
    }
}

public struct KeyPage: Sendable, Equatable {
    public var keys: [KeyRecord]
    /// Pass as `after` to get the next page; nil on the last page.
    public var nextCursor: String?
}

/// Destroying a key so that no older copy of the database can bring it back: the key's
/// versions lose their material, the tenant gets a new wrapping-key generation, every
/// surviving version is re-wrapped under it, and the retired generations are deleted.
/// One key a destroy erases: its id and the MACs of its rows once destroyed.
public struct ShreddedKey: Sendable {
    public var keyID: String
    public var keyMAC: [UInt8]
    public var versionMACs: [Int: [UInt8]]

    public init(keyID: String, keyMAC: [UInt8], versionMACs: [Int: [UInt8]]) {
        self.keyID = keyID
        self.keyMAC = keyMAC
        self.versionMACs = versionMACs
    }
}

/// Every row one destroy writes: the destroyed keys (one, or the keys of a set destroyed
/// together), one new wrapping generation, the surviving keys re-wrapped under it.
public struct KeyShredding: Sendable {
    public var destroyed: [ShreddedKey]
    public var tenantID: String
    public var newWrappingKey: WrappingKeyRecord
    /// Surviving versions with their new material, generation and MAC.
    public var rewrapped: [KeyVersionRecord]
    /// Generations deleted; no surviving material may still need one of them.
    public var retiredGenerations: [Int]

    public init(destroyed: [ShreddedKey], tenantID: String, newWrappingKey: WrappingKeyRecord,
                rewrapped: [KeyVersionRecord], retiredGenerations: [Int]) {
        self.destroyed = destroyed
        self.tenantID = tenantID
        self.newWrappingKey = newWrappingKey
        self.rewrapped = rewrapped
        self.retiredGenerations = retiredGenerations
    }
}
