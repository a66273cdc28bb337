import Foundation

/// Everything Custos persists, behind one protocol so SQLite (one node) and
/// PostgreSQL (a pool of workers) are interchangeable. Each method that changes more
/// than one row does so in a single transaction: it happens entirely or not at all.
public protocol Store: Sendable {
    func close() async throws

    func metadata(_ name: String) async throws -> [UInt8]?
    func setMetadata(_ name: String, _ value: [UInt8]) async throws

    /// Creates a tenant together with its first wrapping-key generation.
    func createTenant(_ tenant: TenantRecord, wrappingKey: WrappingKeyRecord) async throws
    func tenant(id: String) async throws -> TenantRecord?
    func tenants() async throws -> [TenantRecord]
    func wrappingKeys(tenantID: String) async throws -> [WrappingKeyRecord]

    /// Inserts a key and its first version.
    func insertKey(_ key: KeyRecord, version: KeyVersionRecord) async throws
    /// Inserts many keys in one transaction (bulk generation).
    func insertKeys(_ keys: [(KeyRecord, KeyVersionRecord)]) async throws
    func key(tenantID: String, alias: String) async throws -> KeyRecord?
    func key(tenantID: String, id: String) async throws -> KeyRecord?
    func keys(tenantID: String, ids: [String]) async throws -> [KeyRecord]
    /// Keys any of whose versions has this public-key fingerprint.
    func keys(tenantID: String, fingerprint: String) async throws -> [KeyRecord]
    func listKeys(tenantID: String, filter: KeyFilter, page: PageRequest) async throws -> KeyPage

    func versions(keyID: String) async throws -> [KeyVersionRecord]
    func version(keyID: String, version: Int) async throws -> KeyVersionRecord?
    /// Adds a version and makes it primary.
    func addVersion(_ version: KeyVersionRecord, updatedAt: Date) async throws
    func setStatus(keyID: String, status: KeyStatus, updatedAt: Date) async throws
    /// Crypto-shredding: erases the wrapped material of every version and leaves a
    /// tombstone (the record, its public keys and fingerprints stay for audit).
    func destroyKey(keyID: String, at date: Date) async throws

    // Security levels (schema version 3).

    /// Registers an HSM; a name already taken is `StoreError.duplicateName`.
    func addHSM(_ hsm: HSMRecord) async throws
    func hsm(name: String) async throws -> HSMRecord?
    func hsms() async throws -> [HSMRecord]
    /// Deprecates the tenant's current association for the category (if any) and adds
    /// this one, in one transaction.
    func assignSecurityLevel(_ record: SecurityLevelRecord) async throws
    /// Every association of the tenant, current and deprecated, oldest first.
    func securityLevels(tenantID: String) async throws -> [SecurityLevelRecord]

    // Root-of-trust migration.

    /// Every wrapping key of every tenant.
    func allWrappingKeys() async throws -> [WrappingKeyRecord]
    /// Replaces one wrapping key's wrapped form if it is still wrapped by
    /// `expectedRootKeyID`; returns false (and changes nothing) otherwise.
    func rewrapWrappingKey(tenantID: String, generation: Int, wrappedKey: [UInt8], rootKeyID: String,
                           expectedRootKeyID: String) async throws -> Bool
}
