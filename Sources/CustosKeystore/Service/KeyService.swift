import CustosCrypto
import CustosEthereum
import CustosStore
import Foundation
import Logging
import Synchronization

/// The keystore: tenants, key records and versions, and every operation on them.
///
/// One context (store, keyring, caches, audit log, clock) shared by the concerns that
/// extend it, each in a file of its own: tenants and security levels (`Tenants.swift`,
/// `SecurityLevels.swift`), key lifecycle (`KeyLifecycle.swift`), reading keys
/// (`KeyQueries.swift`), operations with keys (`KeyOperations.swift`,
/// `BatchSigning.swift`) and the root guard (`RootGuard.swift`).
///
/// It is a `Sendable` class rather than an actor so that signing with cached keys
/// runs in parallel on all cores; state lives in the store and in locked caches.
/// Every public method takes the `Principal` it acts for: there is no default caller.
public final class KeyService: Sendable {
    public let store: any Store
    /// The root of trust in use (the new one as soon as a migration begins).
    public var root: any RootOfTrust { keyring.root }
    let keyring: WrappingKeyring
    let soft: SoftProtection
    let cache: KeyCache
    let records: RecordCache

    /// Forgets the key records read from the store (not the unlocked keys), so a change
    /// made by another process is seen at the next request, not after `recordTimeToLive`.
    public func forgetCachedRecords() {
        records.removeAll()
    }
    let clock: @Sendable () -> Date
    let logger: Logger
    /// The audit trail every sensitive operation writes to.
    public let audit: AuditLog
    let hsmPIN: @Sendable (String) throws -> SecretBytes
    let hsmConnections = Mutex<[String: HSMConnection]>([:])
    /// The floors of wrapping-key generations retired by destroys (nil for a store
    /// without a file).
    let shredLedger: ShredLedger?
    let encryptionBudget: EncryptionBudget
    /// Signings of one Ethereum account on one chain run one at a time, so nonces are
    /// handed out in order without retries (the store's compare-and-set covers other processes).
    let accountQueues = KeyedSerialQueue()
    /// Each account's latest state per chain ("<key id>/<chain>"), durable or on its way
    /// to the store, so the next signing need not wait for the previous one's commit.
    let accountStates = Mutex<[String: EthereumAccountStateRecord]>([:])
    let accountStateCommits: EthereumStateCommitter
    /// Each tenant's chain (nil: none) and each account's policy, MAC-checked when read.
    let ethereumChains: ExpiringCache<UInt64?>
    let ethereumPolicies: ExpiringCache<EthereumPolicy>
    /// Tenant → address → alias of the Ethereum accounts seen (an account's address
    /// never changes: its key cannot be rotated).
    let accountAddresses = Mutex<[String: [EthereumAddress: String]]>([:])
    /// Key id → address of the accounts that have signed.
    let accountAddressOfKey = Mutex<[String: EthereumAddress]>([:])

    static let rootKeyIDMetadata = "root_key_id"

    /// Binds a store to its root of trust. A store first used with another root key
    /// is refused, so a wrong root file cannot silently fail every unwrap later.
    ///
    /// - Parameters:
    ///   - cacheCapacity: unlocked key versions kept in memory (0 disables the cache).
    ///   - encryptionLimit: encryptions one AES-GCM key version may make (NIST's 2^32).
    ///   - recordTimeToLive: how long a resolved key record is reused without asking the
    ///     store. Changes through this service apply at once; changes by another process
    ///     on the same database (a disable, a rotation) apply within this time.
    public init(store: any Store, root: any RootOfTrust, cacheCapacity: Int = 4096,
                recordTimeToLive: Duration = .seconds(1), encryptionLimit: EncryptionLimit = .nist,
                clock: @escaping @Sendable () -> Date = { Date() },
                logger: Logger = Logger(label: "custos.keystore"),
                hsmPIN: @escaping @Sendable (String) throws -> SecretBytes = HSMPins.fromEnvironment) async throws {
        self.store = store
        self.keyring = WrappingKeyring(root: root, store: store)
        self.soft = SoftProtection(keyring: keyring)
        self.cache = KeyCache(capacity: cacheCapacity)
        self.records = RecordCache(timeToLive: recordTimeToLive, capacity: max(cacheCapacity, 1))
        self.clock = clock
        self.logger = logger
        self.hsmPIN = hsmPIN
        self.encryptionBudget = EncryptionBudget(limit: encryptionLimit)
        self.accountStateCommits = EthereumStateCommitter(store: store)
        self.ethereumChains = ExpiringCache(timeToLive: recordTimeToLive, capacity: 4096)
        self.ethereumPolicies = ExpiringCache(timeToLive: recordTimeToLive, capacity: max(cacheCapacity, 1))
        if let sqlite = store as? SQLiteStore, sqlite.path.hasPrefix("/") {
            shredLedger = ShredLedger(path: (sqlite.path as NSString).deletingLastPathComponent + "/" + ShredLedger.fileName)
        } else {
            shredLedger = nil
        }
        try await mappingErrors {
            if let recorded = try await store.metadata(Self.rootKeyIDMetadata) {
                guard recorded == Array(root.rootKeyID.utf8) else { throw KeystoreError.rootKeyMismatch }
            } else {
                try await store.setMetadata(Self.rootKeyIDMetadata, Array(root.rootKeyID.utf8))
            }
        }
        // The audit high-water mark lives beside the database file, outside it.
        let markPath = (store as? SQLiteStore).map { $0.path + AuditLog.markSuffix }
        self.audit = try await mappingErrors { try await AuditLog.open(store: store, root: root, markPath: markPath, clock: clock) }
        try await mappingErrors {
            try await macRowsWrittenBeforeRowMACs()
            try await shredLedger?.open(keyring: keyring, store: store)
        }
    }

    public func close() async throws {
        try await store.close()
    }

    // MARK: Auditing

    func event(_ operation: AuditOperation, by principal: Principal, tenant: TenantID?, keyID: String? = nil, version: Int? = nil,
               outcome: AuditOutcome = .success, details: [String: String] = [:]) -> AuditEvent {
        AuditEvent(time: clock(), actor: principal.id, tenantID: tenant?.rawValue, operation: operation, keyID: keyID,
                   keyVersion: version, outcome: outcome, details: details)
    }

    /// Runs an operation; if it fails, whatever the error's type (an HSM or KMS error, a
    /// cancelled request, audited as a timeout), a failure record naming the error code (never its values) is
    /// appended before the error reaches the caller.
    func audited<T>(_ operation: AuditOperation, by principal: Principal, tenant: TenantID?, alias: KeyAlias? = nil,
                    _ body: () async throws -> T) async throws -> T {
        do {
            return try await mappingErrors(body)
        } catch {
            let code = Self.auditCode(of: error)
            var details = ["error": code]
            if let alias { details["alias"] = alias.rawValue }
            if case .policyRefused(let refusal)? = error as? KeystoreError { details["rule"] = refusal.rule }
            let denied = code == "forbidden" || code == "policy-refused"
            let failure = event(operation, by: principal, tenant: tenant, outcome: denied ? .denied : .failure, details: details)
            do {
                try await audit.recordNow([failure])
            } catch {
                logger.error("audit record of a failed operation could not be written", metadata: ["operation": "\(operation.rawValue)", "error": "\(error)"])
            }
            throw error
        }
    }

    /// The code an audit record names: the keystore's own, else a fixed word (the
    /// description of a foreign error may carry values, so it is not recorded).
    static func auditCode(of error: any Error) -> String {
        switch error {
        case let error as KeystoreError: error.code
        case let error as any AuditCodedError: error.auditCode
        default: "internal-error"
        }
    }

    /// Checks a permission for a request that is not one keystore call (a batch),
    /// auditing a refusal like any other.
    public func requireAccess(_ permission: Permission, tenant: TenantID, operation: AuditOperation, by principal: Principal) async throws {
        try await audited(operation, by: principal, tenant: tenant) { try principal.authorize(permission, tenant: tenant) }
    }

    /// Reads the arguments of a request for `operation` (its names, scheme, sizes), so
    /// that a refused request is audited like a refused operation.
    public func auditedArguments<T>(_ operation: AuditOperation, tenant: TenantID, by principal: Principal,
                                    _ body: () throws -> T) async throws -> T {
        try await audited(operation, by: principal, tenant: tenant) { try body() }
    }

    /// Records an event on its own (group-committed); the caller's result is released
    /// only once the record is durable.
    func recordSuccess(_ event: AuditEvent) async throws {
        do {
            try await audit.record(event)
        } catch {
            throw KeystoreError.store(.database("the audit record could not be written: \(error)"))
        }
    }

    // MARK: The common preamble of an operation on a key

    /// An operation on one version of a usable key, in the order every such operation
    /// follows: audited under `operation` (a failure record names the error code),
    /// authorised for `permission`, on the enabled record, with the version `version`
    /// picks (the primary one by default) unlocked to the kind `kind` extracts (else
    /// `wrongKeyKind` naming `action`). `body` returns its result and the details of
    /// the success record, which is durable before the result is returned.
    func withUsableKey<Key, Result>(
        _ operation: AuditOperation, _ permission: Permission, tenant: TenantID, alias: KeyAlias, by principal: Principal,
        version: (StoredKey) throws -> Int = { $0.primaryVersion }, as kind: (UnlockedKey) -> Key?, toDo action: String,
        _ body: (_ record: StoredKey, _ version: Int, _ key: Key) async throws -> (Result, details: [String: String])
    ) async throws -> Result {
        try await audited(operation, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(permission, tenant: tenant)
            let (record, number, key) = try await usableKey(tenant: tenant, alias: alias, version: version, as: kind, toDo: action)
            let (result, details) = try await body(record, number, key)
            try await recordSuccess(event(operation, by: principal, tenant: tenant, keyID: record.id, version: number, details: details))
            return result
        }
    }

    /// The enabled record and one of its versions, unlocked to the kind `kind` extracts.
    func usableKey<Key>(tenant: TenantID, alias: KeyAlias, version: (StoredKey) throws -> Int = { $0.primaryVersion },
                        as kind: (UnlockedKey) -> Key?, toDo action: String) async throws -> (StoredKey, Int, Key) {
        let record = try await usableRecord(tenant: tenant, alias: alias)
        let number = try version(record)
        guard let key = kind(try await unlocked(record, version: number)) else {
            throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: record.algorithm.identifier, operation: action)
        }
        return (record, number, key)
    }
}
