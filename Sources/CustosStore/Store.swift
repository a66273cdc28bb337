import Foundation

/// Everything Custos persists, behind one protocol so SQLite (one node) and
/// PostgreSQL (a pool of workers) are interchangeable. Each method that changes more
/// than one row does so in a single transaction: it happens entirely or not at all.
public protocol Store: AuditScanning, ClusterStore {
    func close() async throws

    func metadata(_ name: String) async throws -> [UInt8]?
    func setMetadata(_ name: String, _ value: [UInt8]) async throws
    /// Stores `value` unless the name is already set; returns what is stored after.
    func setMetadataIfAbsent(_ name: String, _ value: [UInt8]) async throws -> [UInt8]

    /// Creates a tenant together with its first wrapping-key generation.
    func createTenant(_ tenant: TenantRecord, wrappingKey: WrappingKeyRecord, audit: [AuditEvent]) async throws
    func tenant(id: String) async throws -> TenantRecord?
    func tenants() async throws -> [TenantRecord]
    func wrappingKeys(tenantID: String) async throws -> [WrappingKeyRecord]

    /// Inserts many keys, each with its first version, in one transaction.
    func insertKeys(_ keys: [(KeyRecord, KeyVersionRecord)], audit: [AuditEvent]) async throws
    func key(tenantID: String, alias: String) async throws -> KeyRecord?
    func key(tenantID: String, id: String) async throws -> KeyRecord?
    func keys(tenantID: String, ids: [String]) async throws -> [KeyRecord]
    /// Keys any of whose versions has this public-key fingerprint.
    func keys(tenantID: String, fingerprint: String) async throws -> [KeyRecord]
    func listKeys(tenantID: String, filter: KeyFilter, page: PageRequest) async throws -> KeyPage

    func versions(keyID: String) async throws -> [KeyVersionRecord]
    func version(keyID: String, version: Int) async throws -> KeyVersionRecord?
    /// Adds a version and makes it primary; `keyMAC` is the key row's MAC after the change.
    func addVersion(_ version: KeyVersionRecord, updatedAt: Date, keyMAC: [UInt8]?, audit: [AuditEvent]) async throws
    func setStatus(keyID: String, status: KeyStatus, updatedAt: Date, keyMAC: [UInt8]?, audit: [AuditEvent]) async throws
    /// Crypto-shredding: erases the wrapped material of every version and leaves a
    /// tombstone (the record, its public keys and fingerprints stay for audit).
    func destroyKey(keyID: String, at date: Date, audit: [AuditEvent]) async throws
    /// Destroys a key and rotates its tenant's wrapping key, in one transaction.
    func shredKey(_ plan: KeyShredding, at date: Date, audit: [AuditEvent]) async throws
    /// Adds a wrapping-key row unless its generation exists; returns the stored row.
    func addWrappingKeyIfAbsent(_ key: WrappingKeyRecord) async throws -> WrappingKeyRecord
    /// Reserves up to `count` more encryptions of one version without passing `limit`
    /// in total; returns how many were granted (0 when the limit is reached).
    func reserveEncryptions(keyID: String, version: Int, count: Int64, limit: Int64) async throws -> Int64
    /// MACs rows that have none (written before row MACs existed), with an audit record.
    func setMissingRowMACs(keys: [String: [UInt8]], versions: [String: [Int: [UInt8]]], audit: [AuditEvent]) async throws

    // Audit log. Every mutating method above appends its `audit` events in the same
    // transaction as its change; nothing is written unless both are.
    func setAuditSealer(_ sealer: any AuditSealer) async
    /// Appends events on their own (operations that change nothing else, like signing).
    /// Many events go in one transaction: one durable commit for all of them.
    @discardableResult
    func appendAudit(_ events: [AuditEvent]) async throws -> [AuditRecord]
    func auditHead() async throws -> (sequence: Int64, hash: [UInt8])?
    func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord]
    func addCheckpoint(_ checkpoint: AuditCheckpoint) async throws
    func checkpoints(after sequence: Int64, limit: Int) async throws -> [AuditCheckpoint]
    func latestCheckpoint() async throws -> AuditCheckpoint?

    // API tokens (only hashes of their secrets).
    func insertToken(_ token: TokenRecord, audit: [AuditEvent]) async throws
    func token(id: String) async throws -> TokenRecord?
    /// A tenant's tokens, or every token when `tenantID` is nil.
    func tokens(tenantID: String?) async throws -> [TokenRecord]
    func revokeToken(id: String, at date: Date, audit: [AuditEvent]) async throws


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

    // TLS certificates and the client trust set (schema version 5). Every change below
    // also bumps the TLS change counter in its transaction.

    /// Stores a certificate (its `id` is assigned) with the key change it goes with;
    /// returns the stored row.
    func insertCertificate(_ certificate: CertificateRecord, with change: CertificateKeyChange, audit: [AuditEvent]) async throws -> CertificateRecord
    /// A tenant's certificates, or those of one key, oldest first.
    func certificates(tenantID: String, keyID: String?) async throws -> [CertificateRecord]
    func certificate(tenantID: String, serial: String) async throws -> CertificateRecord?
    /// Every certificate of every tenant (the trust set reads revocations from them).
    func allCertificates() async throws -> [CertificateRecord]
    /// Marks a certificate revoked; `rowMAC` is its MAC after the change.
    func revokeCertificate(id: Int64, at date: Date, rowMAC: [UInt8]?, audit: [AuditEvent]) async throws
    func insertTrust(_ entry: TLSTrustRecord, audit: [AuditEvent]) async throws -> TLSTrustRecord
    func deleteTrust(id: Int64, audit: [AuditEvent]) async throws
    func trustEntries() async throws -> [TLSTrustRecord]
    /// Bumped by every change to certificates or trust: one cheap value to poll.
    func tlsChangeCounter() async throws -> Int64

    // Ethereum accounts (schema version 8).

    func ethereumChain(tenantID: String) async throws -> EthereumChainRecord?
    /// Sets the tenant's chain, or clears it with nil.
    func setEthereumChain(_ record: EthereumChainRecord?, tenantID: String, audit: [AuditEvent]) async throws
    func ethereumPolicy(keyID: String) async throws -> EthereumPolicyRecord?
    /// Sets the account's policy, or clears it with nil.
    func setEthereumPolicy(_ record: EthereumPolicyRecord?, keyID: String, audit: [AuditEvent]) async throws
    /// The account's state on every chain it has signed for.
    func ethereumAccountStates(keyID: String) async throws -> [EthereumAccountStateRecord]
    func ethereumAccountState(keyID: String, chain: String) async throws -> EthereumAccountStateRecord?
    /// Applies the changes in order, in one transaction (one durable commit): each
    /// writes its state and its audit records if the row is then still its `expected`
    /// (nil: absent), else writes nothing. Returns, per change, whether it was written.
    func replaceEthereumAccountStates(_ changes: [EthereumAccountStateChange]) async throws -> [Bool]
}

extension Store {
    public func createTenant(_ tenant: TenantRecord, wrappingKey: WrappingKeyRecord) async throws {
        try await createTenant(tenant, wrappingKey: wrappingKey, audit: [])
    }
    public func insertKey(_ key: KeyRecord, version: KeyVersionRecord, audit: [AuditEvent] = []) async throws {
        try await insertKeys([(key, version)], audit: audit)
    }
    public func insertKeys(_ keys: [(KeyRecord, KeyVersionRecord)]) async throws {
        try await insertKeys(keys, audit: [])
    }
    public func addVersion(_ version: KeyVersionRecord, updatedAt: Date) async throws {
        try await addVersion(version, updatedAt: updatedAt, keyMAC: nil, audit: [])
    }
    public func setStatus(keyID: String, status: KeyStatus, updatedAt: Date) async throws {
        try await setStatus(keyID: keyID, status: status, updatedAt: updatedAt, keyMAC: nil, audit: [])
    }
    public func destroyKey(keyID: String, at date: Date) async throws {
        try await destroyKey(keyID: keyID, at: date, audit: [])
    }
}
