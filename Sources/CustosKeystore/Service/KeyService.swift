import CustosCrypto
import CustosStore
import Foundation
import Logging
import Synchronization

/// The keystore: tenants, key records and versions, and every operation on them.
///
/// It is a `Sendable` class rather than an actor so that signing with cached keys
/// runs in parallel on all cores; state lives in the store and in locked caches.
public final class KeyService: Sendable {
    public let store: any Store
    /// The root of trust in use (the new one as soon as a migration begins).
    public var root: any RootOfTrust { keyring.root }
    let keyring: WrappingKeyring
    let soft: SoftProtection
    let cache: KeyCache
    let records: RecordCache
    let clock: @Sendable () -> Date
    let logger: Logger
    /// The audit trail every sensitive operation below writes to.
    public let audit: AuditLog
    let hsmPIN: @Sendable (String) throws -> SecretBytes
    let hsmConnections = Mutex<[String: HSMConnection]>([:])

    static let rootKeyIDMetadata = "root_key_id"

    /// Binds a store to its root of trust. A store first used with another root key
    /// is refused, so a wrong root file cannot silently fail every unwrap later.
    ///
    /// - Parameters:
    ///   - cacheCapacity: unlocked key versions kept in memory (0 disables the cache).
    ///   - recordTimeToLive: how long a resolved key record is reused without asking the
    ///     store. Changes through this service apply at once; changes by another process
    ///     on the same database (a disable, a rotation) apply within this time.
    public init(store: any Store, root: any RootOfTrust, cacheCapacity: Int = 4096,
                recordTimeToLive: Duration = .seconds(1),
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
        try await mappingErrors {
            if let recorded = try await store.metadata(Self.rootKeyIDMetadata) {
                guard recorded == Array(root.rootKeyID.utf8) else { throw KeystoreError.rootKeyMismatch }
            } else {
                try await store.setMetadata(Self.rootKeyIDMetadata, Array(root.rootKeyID.utf8))
            }
        }
        self.audit = try await mappingErrors { try await AuditLog.open(store: store, root: root, clock: clock) }
    }

    // MARK: Auditing

    func event(_ operation: String, by principal: Principal, tenant: String?, keyID: String? = nil, version: Int? = nil,
               outcome: String = "success", details: [String: String] = [:]) -> AuditEvent {
        AuditEvent(time: clock(), actor: principal.id, tenantID: tenant, operation: operation, keyID: keyID,
                   keyVersion: version, outcome: outcome, details: details)
    }

    /// Runs an operation; if it fails, a failure record naming the error code (never
    /// its values) is appended before the error reaches the caller.
    func audited<T>(_ operation: String, by principal: Principal, tenant: String?, alias: String? = nil,
                    _ body: () async throws -> T) async throws -> T {
        do {
            return try await mappingErrors(body)
        } catch let error as KeystoreError {
            var details = ["error": error.code]
            if let alias { details["alias"] = String(alias.prefix(128)) }
            let failure = event(operation, by: principal, tenant: tenant.map { String($0.prefix(128)) },
                                outcome: error.code == "forbidden" ? "denied" : "failure", details: details)
            do {
                try await audit.recordNow([failure])
            } catch {
                logger.error("audit record of a failed operation could not be written", metadata: ["operation": "\(operation)", "error": "\(error)"])
            }
            throw error
        }
    }

    /// Checks a permission for a request that is not one keystore call (a batch),
    /// auditing a refusal like any other.
    public func requireAccess(_ permission: Permission, tenant: String, operation: String, by principal: Principal) async throws {
        try await audited(operation, by: principal, tenant: tenant) { try principal.authorize(permission, tenant: tenant) }
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

    public func close() async throws {
        try await store.close()
    }

    // MARK: Root of trust status (readiness, kill switch)

    /// Where the root of trust stands; readiness is `rootStatus.isReady`.
    public var rootStatus: RootStatus { root.status }

    /// Asks the provider whether access still holds. When it refuses, every unlocked
    /// key and wrapping key is dropped from memory, so nothing more is decrypted or
    /// signed until access returns; then keys are unwrapped again on demand.
    @discardableResult
    public func refreshRoot() async -> RootStatus {
        let before = root.status
        let status = await root.refresh()
        if !status.isReady {
            cache.removeAll()
            keyring.removeAll()
        }
        if status != before {
            // The audit keys stay in memory, so the refusal itself is recorded.
            let system = Principal(id: "keystore", tenant: nil, role: .admin)
            var record: AuditEvent?
            switch status {
            case .refused(let provider, let reason):
                logger.error("root of trust refused: private keys dropped", metadata: ["provider": "\(provider)", "reason": "\(reason)"])
                record = event("unseal", by: system, tenant: nil, outcome: "failure",
                               details: ["provider": provider, "reason": String(reason.prefix(300))])
            case .unsealed(let provider, let id):
                logger.notice("root of trust unsealed again", metadata: ["provider": "\(provider)", "root_key_id": "\(id)"])
                record = event("unseal", by: system, tenant: nil, details: ["provider": provider, "root_key_id": id, "recovered": "true"])
            case .sealed: break
            }
            if let record {
                do {
                    try await audit.recordNow([record])
                } catch {
                    logger.error("audit record of a root status change could not be written", metadata: ["error": "\(error)"])
                }
            }
        }
        return status
    }

    /// Every change of the root's status, starting with the current one (for the
    /// readiness endpoint and the audit log).
    public func rootStatusChanges() -> AsyncStream<RootStatus> {
        if let sealed = root as? SealedRoot { return sealed.statusChanges() }
        let (stream, continuation) = AsyncStream<RootStatus>.makeStream()
        continuation.yield(root.status)
        continuation.finish()
        return stream
    }

    /// Checks the provider every `interval` until the task is cancelled.
    public func monitorRoot(every interval: Duration) -> Task<Void, Never> {
        Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                await self.refreshRoot()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func requireUnsealed() throws {
        switch root.status {
        case .unsealed: return
        case .refused(let provider, let reason):
            cache.removeAll()
            keyring.removeAll()
            throw KeystoreError.unsealFailed("\(provider) refuses access (\(reason)); no key can be decrypted")
        case .sealed(let provider):
            throw KeystoreError.unsealFailed("\(provider): the root of trust is sealed")
        }
    }

    public var cacheStatistics: (hits: Int, misses: Int) { cache.statistics }

    // MARK: Tenants

    public func createTenant(_ id: String, by principal: Principal = .local) async throws -> TenantInfo {
        try await audited("tenant.create", by: principal, tenant: id) {
            try principal.authorize(.manageTenants, tenant: nil)
            try Names.validateTenant(id)
            let now = clock()
            let wrapping = try await keyring.makeWrappingKey(tenant: id, generation: 1, at: now)
            try await store.createTenant(TenantRecord(id: id, createdAt: now), wrappingKey: wrapping,
                                         audit: [event("tenant.create", by: principal, tenant: id)])
            logger.info("tenant created", metadata: ["tenant": "\(id)"])
            return TenantInfo(id: id, createdAt: now, wrappingGeneration: 1)
        }
    }

    public func tenants(by principal: Principal = .local) async throws -> [TenantInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: principal.tenant)
            var result: [TenantInfo] = []
            for tenant in try await store.tenants() where principal.tenant == nil || principal.tenant == tenant.id {
                let generation = try await store.wrappingKeys(tenantID: tenant.id).last?.generation ?? 0
                result.append(TenantInfo(id: tenant.id, createdAt: tenant.createdAt, wrappingGeneration: generation))
            }
            return result
        }
    }

    func requireTenant(_ id: String) async throws {
        guard try await store.tenant(id: id) != nil else { throw KeystoreError.store(.tenantNotFound(id)) }
    }

    // MARK: Creating keys

    /// Generates a key with its first version.
    public func generateKey(_ spec: KeySpec, by principal: Principal = .local) async throws -> KeyInfo {
        try await generateKeys([spec], by: principal).first!
    }

    /// Generates many keys; they are stored in batches of `batchSize`, each batch one
    /// transaction. `progress` is called with the number stored so far.
    public func generateKeys(_ specs: [KeySpec], batchSize: Int = 256, by principal: Principal = .local,
                             progress: @Sendable (Int) -> Void = { _ in }) async throws -> [KeyInfo] {
        try await audited("generate", by: principal, tenant: specs.first?.tenant, alias: specs.count == 1 ? specs[0].alias : nil) {
            for spec in specs {
                try principal.authorize(.manageKeys, tenant: spec.tenant)
                try Names.validateTenant(spec.tenant)
                try Names.validateAlias(spec.alias)
                try Names.validateLabels(spec.labels)
            }
            guard Set(specs.map { "\($0.tenant)/\($0.alias)" }).count == specs.count else {
                throw KeystoreError.invalidArgument("the same alias appears twice in one request")
            }
            var created: [KeyInfo] = []
            var start = 0
            while start < specs.count {
                let batch = specs[start..<min(start + batchSize, specs.count)]
                var rows: [(KeyRecord, KeyVersionRecord)] = []
                for spec in batch {
                    let (keyID, context, protection) = try await prepareNewKey(spec)
                    let material = try await protection.create(spec.algorithm, options: spec.options, context: context)
                    rows.append(makeRows(spec: spec, keyID: keyID, material: material, protection: protection.name))
                }
                let events = rows.map { row in
                    event("generate", by: principal, tenant: row.0.tenantID, keyID: row.0.id, version: 1,
                          details: ["alias": row.0.alias, "scheme": row.0.scheme, "fingerprint": row.1.fingerprint ?? ""])
                }
                try await store.insertKeys(rows, audit: events)
                created += rows.map { info(record: $0.0, versions: [$0.1]) }
                start += batch.count
                progress(start)
            }
            for info in created {
                logger.info("key generated", metadata: ["tenant": "\(info.tenant)", "alias": "\(info.alias)", "scheme": "\(info.scheme)"])
            }
            return created
        }
    }

    /// Imports a private key made elsewhere (PKCS#8 DER or PEM; SEC1 and PKCS#1 too).
    public func importKey(_ spec: KeySpec, privateKey encoded: SecretBytes, by principal: Principal = .local) async throws -> KeyInfo {
        try await audited("import", by: principal, tenant: spec.tenant, alias: spec.alias) {
            try principal.authorize(.manageKeys, tenant: spec.tenant)
            try Names.validateTenant(spec.tenant)
            try Names.validateAlias(spec.alias)
            try Names.validateLabels(spec.labels)
            guard case .signing(let scheme) = spec.algorithm else {
                throw KeystoreError.invalidArgument("only signing keys can be imported; \(spec.algorithm) keys are generated inside Custos")
            }
            let key = try SigningPrivateKey(importing: encoded, scheme: scheme)
            let (keyID, context, protection) = try await prepareNewKey(spec)
            let material = try await protection.protect(.signing(key), context: context)
            let (record, version) = makeRows(spec: spec, keyID: keyID, material: material, protection: protection.name)
            try await store.insertKey(record, version: version, audit: [
                event("import", by: principal, tenant: spec.tenant, keyID: keyID, version: 1,
                      details: ["alias": spec.alias, "scheme": record.scheme, "fingerprint": version.fingerprint ?? ""]),
            ])
            logger.info("key imported", metadata: ["tenant": "\(spec.tenant)", "alias": "\(spec.alias)", "scheme": "\(scheme)"])
            return info(record: record, versions: [version])
        }
    }

    /// What every new key needs first: its tenant exists, its alias is free, an id, the
    /// binding context of version 1, and the protection its tenant and category use.
    private func prepareNewKey(_ spec: KeySpec) async throws -> (keyID: String, context: MaterialContext, protection: any KeyProtection) {
        try await requireTenant(spec.tenant)
        if try await store.key(tenantID: spec.tenant, alias: spec.alias) != nil {
            throw KeystoreError.store(.duplicateAlias(tenant: spec.tenant, alias: spec.alias))
        }
        let keyID = UUID().uuidString.lowercased()
        let context = MaterialContext(tenant: spec.tenant, keyID: keyID, alias: spec.alias, version: 1, algorithm: spec.algorithm)
        return (keyID, context, try await protection(tenant: spec.tenant, category: spec.resolvedCategory))
    }

    private func makeRows(spec: KeySpec, keyID: String, material: ProtectedMaterial, protection: String) -> (KeyRecord, KeyVersionRecord) {
        let now = clock()
        let record = KeyRecord(id: keyID, tenantID: spec.tenant, alias: spec.alias, category: spec.resolvedCategory.rawValue,
                               scheme: spec.algorithm.identifier, status: .enabled, primaryVersion: 1,
                               externalID: spec.externalID, labels: spec.labels, protection: protection,
                               createdAt: now, updatedAt: now)
        let version = KeyVersionRecord(keyID: keyID, version: 1, publicKey: material.publicKeyDER,
                                       fingerprint: material.fingerprint?.description, wrappedMaterial: material.stored,
                                       wrappingGeneration: material.wrappingGeneration, createdAt: now)
        return (record, version)
    }

    // MARK: Reading

    public func key(tenant: String, alias: String, by principal: Principal = .local) async throws -> KeyInfo {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            return info(record: record, versions: try await store.versions(keyID: record.id))
        }
    }

    public func keys(tenant: String, ids: [String], by principal: Principal = .local) async throws -> [KeyInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            return try await store.keys(tenantID: tenant, ids: ids).map { info(record: $0, versions: nil) }
        }
    }

    /// Keys of `tenant` any of whose versions has this public key (its encoded form:
    /// SPKI DER, or the compressed point for BLS12-381).
    public func keys(tenant: String, encodedPublicKey: [UInt8], by principal: Principal = .local) async throws -> [KeyInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let fingerprint = Fingerprint(subjectPublicKeyInfo: encodedPublicKey).description
            return try await store.keys(tenantID: tenant, fingerprint: fingerprint).map { info(record: $0, versions: nil) }
        }
    }

    public func listKeys(tenant: String, filter: KeyFilter = KeyFilter(), page: PageRequest = PageRequest(),
                         by principal: Principal = .local) async throws -> (keys: [KeyInfo], nextCursor: String?) {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            try await requireTenant(tenant)
            let result = try await store.listKeys(tenantID: tenant, filter: filter, page: page)
            return (result.keys.map { info(record: $0, versions: nil) }, result.nextCursor)
        }
    }

    /// The public key of a version (the primary one by default).
    public func publicKey(tenant: String, alias: String, version: Int? = nil, by principal: Principal = .local) async throws -> PublicKeyExport {
        try await audited("export", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            let algorithm = try KeyAlgorithm(identifier: record.scheme)
            let number = version ?? record.primaryVersion
            guard let row = try await store.version(keyID: record.id, version: number), let der = row.publicKey else {
                if algorithm.isAsymmetric { throw KeystoreError.versionUnavailable(alias: alias, version: number) }
                throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "export a public key (it is symmetric)")
            }
            let export = try Self.publicKey(der: der, algorithm: algorithm)
            try await recordSuccess(event("export", by: principal, tenant: tenant, keyID: record.id, version: number,
                                          details: ["alias": alias, "fingerprint": row.fingerprint ?? ""]))
            return export
        }
    }

    public static func publicKey(der: [UInt8], algorithm: KeyAlgorithm) throws -> PublicKeyExport {
        switch algorithm {
        case .signing(let scheme): .signing(try SigningPublicKey(encodedRepresentation: der, scheme: scheme))
        case .keyAgreement(let agreement): .keyAgreement(try KeyAgreementPublicKey(derRepresentation: der, algorithm: agreement))
        case .symmetric: throw KeystoreError.invalidArgument("symmetric keys have no public key")
        }
    }

    private func record(tenant: String, alias: String) async throws -> KeyRecord {
        try Names.validateTenant(tenant)
        guard let record = try await store.key(tenantID: tenant, alias: alias) else {
            try await requireTenant(tenant)
            throw KeystoreError.keyNotFound(tenant: tenant, alias: alias)
        }
        return record
    }

    func info(record: KeyRecord, versions: [KeyVersionRecord]?) -> KeyInfo {
        let fingerprint = versions?.first { $0.version == record.primaryVersion }?.fingerprint ?? record.primaryFingerprint
        return KeyInfo(
            id: record.id, tenant: record.tenantID, alias: record.alias, category: record.category, scheme: record.scheme,
            status: record.status.rawValue, primaryVersion: record.primaryVersion, fingerprint: fingerprint,
            shortID: fingerprint.flatMap { Fingerprint(string: $0)?.shortID }, externalID: record.externalID,
            labels: record.labels, protection: record.protection, createdAt: record.createdAt, updatedAt: record.updatedAt,
            versions: versions?.map { VersionInfo(version: $0.version, fingerprint: $0.fingerprint, createdAt: $0.createdAt, destroyed: $0.wrappedMaterial == nil) })
    }

    // MARK: Private operations

    /// Loads (from cache, else by unwrapping) the private half of one version.
    func unlocked(_ record: KeyRecord, version: Int) async throws -> UnlockedKey {
        try requireUnsealed()
        if let cached = cache.get(keyID: record.id, version: version) { return cached }
        guard let row = try await store.version(keyID: record.id, version: version) else {
            throw KeystoreError.versionUnavailable(alias: record.alias, version: version)
        }
        guard let stored = row.wrappedMaterial else { throw KeystoreError.keyDestroyed(tenant: record.tenantID, alias: record.alias) }
        let algorithm = try KeyAlgorithm(identifier: record.scheme)
        let context = MaterialContext(tenant: record.tenantID, keyID: record.id, alias: record.alias, version: version, algorithm: algorithm)
        let key = try await protection(named: record.protection).unlock(stored, wrappingGeneration: row.wrappingGeneration, context: context)
        // The public key in the row must be the one the material produces; a swapped
        // public key would otherwise make verification lie.
        if let der = row.publicKey, key.publicKeyDER != der {
            throw KeystoreError.keyMaterialCorrupted(alias: record.alias, version: version)
        }
        cache.put(key, keyID: record.id, version: version)
        return key
    }

    /// A record usable for private operations: exists, enabled, not destroyed. Served
    /// from the record cache when fresh, so a cached-key sign does not touch the store.
    func usableRecord(tenant: String, alias: String) async throws -> KeyRecord {
        let record: KeyRecord
        if let cached = records.get(tenant: tenant, alias: alias) {
            record = cached
        } else {
            record = try await self.record(tenant: tenant, alias: alias)
            records.put(record)
        }
        switch record.status {
        case .enabled: return record
        case .disabled: throw KeystoreError.keyDisabled(tenant: tenant, alias: alias)
        case .destroyed: throw KeystoreError.keyDestroyed(tenant: tenant, alias: alias)
        }
    }

    /// Signs with the primary version.
    public func sign(tenant: String, alias: String, message: [UInt8], format: SignatureFormat? = nil,
                     by principal: Principal = .local) async throws -> SignResult {
        try await audited("sign", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.useKeys, tenant: tenant)
            let (result, record) = try await signDescribed(tenant: tenant, alias: alias, message: message, format: format, by: principal)
            try await recordSuccess(record)
            return result
        }
    }

    /// The enabled key's record and its primary version, unlocked; refuses keys that
    /// cannot sign.
    func primarySigner(tenant: String, alias: String) async throws -> (record: KeyRecord, signer: any KeySigner) {
        let record = try await usableRecord(tenant: tenant, alias: alias)
        guard case .signing(let signer) = try await unlocked(record, version: record.primaryVersion) else {
            throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "sign")
        }
        return (record, signer)
    }

    /// Signs with the primary version and describes it for the audit log; the caller
    /// writes the record.
    func signDescribed(tenant: String, alias: String, message: [UInt8], format: SignatureFormat?,
                       by principal: Principal) async throws -> (SignResult, AuditEvent) {
        let (record, signer) = try await primarySigner(tenant: tenant, alias: alias)
        let signature = try await signer.sign(message, format: format)
        let result = SignResult(signature: signature.bytes, keyID: record.id, alias: record.alias, version: record.primaryVersion,
                                scheme: record.scheme, format: signature.format?.rawValue)
        return (result, event("sign", by: principal, tenant: tenant, keyID: record.id, version: record.primaryVersion,
                              details: ["scheme": record.scheme, "message_hmac": audit.digest(message)]))
    }

    /// The BLS proof of possession of the primary version (PopProve), which others
    /// check before admitting this key to a multi-signature.
    public func proofOfPossession(tenant: String, alias: String, by principal: Principal = .local) async throws -> (proof: [UInt8], version: Int) {
        try await audited("export", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias)
            guard case .signing(let signer) = try await unlocked(record, version: record.primaryVersion),
                  let key = signer as? SigningPrivateKey, key.scheme == .bls12381Pop else {
                throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "prove possession (BLS keys only)")
            }
            let proof = try key.proofOfPossession()
            try await recordSuccess(event("export", by: principal, tenant: tenant, keyID: record.id, version: record.primaryVersion,
                                          details: ["alias": alias, "what": "proof-of-possession"]))
            return (proof, record.primaryVersion)
        }
    }

    /// Verifies against one version, or against every version whose material still
    /// exists when `version` is nil (so signatures made before a rotation verify).
    public func verify(tenant: String, alias: String, message: [UInt8], signature: [UInt8],
                       format: SignatureFormat? = nil, version: Int? = nil, by principal: Principal = .local) async throws -> VerifyResult {
        try await mappingErrors {
            try principal.authorize(.verify, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            guard record.status != .destroyed else { throw KeystoreError.keyDestroyed(tenant: tenant, alias: alias) }
            guard case .signing(let scheme) = try KeyAlgorithm(identifier: record.scheme) else {
                throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "verify signatures")
            }
            var candidates = try await store.versions(keyID: record.id).filter { $0.wrappedMaterial != nil }
            if let version {
                candidates = candidates.filter { $0.version == version }
                guard !candidates.isEmpty else { throw KeystoreError.versionUnavailable(alias: alias, version: version) }
            }
            for row in candidates.reversed() {
                guard let der = row.publicKey else { continue }
                let key = try SigningPublicKey(encodedRepresentation: der, scheme: scheme)
                if try key.isValidSignature(signature, for: message, format: format) {
                    return VerifyResult(valid: true, version: row.version)
                }
            }
            return VerifyResult(valid: false, version: nil)
        }
    }

    /// Encrypts with the primary version of an AES-256-GCM key. The result carries
    /// the version, so decryption keeps working after rotation:
    /// 0x01 ‖ version (UInt32 BE) ‖ nonce ‖ ciphertext ‖ tag.
    public func encrypt(tenant: String, alias: String, plaintext: [UInt8], associatedData: [UInt8] = [],
                        by principal: Principal = .local) async throws -> [UInt8] {
        try await audited("encrypt", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.useKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias)
            guard case .aead(let key) = try await unlocked(record, version: record.primaryVersion) else {
                throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "encrypt")
            }
            let aad = BindingContext.ciphertext(tenant: tenant, keyID: record.id, version: record.primaryVersion, associatedData: associatedData)
            let version = UInt32(record.primaryVersion)
            let sealed = [0x01, UInt8(version >> 24), UInt8(version >> 16 & 0xff), UInt8(version >> 8 & 0xff), UInt8(version & 0xff)]
                + (try key.seal(plaintext, associatedData: aad))
            try await recordSuccess(event("encrypt", by: principal, tenant: tenant, keyID: record.id, version: record.primaryVersion,
                                          details: ["ciphertext_hmac": audit.digest(sealed)]))
            return sealed
        }
    }

    public func decrypt(tenant: String, alias: String, ciphertext: [UInt8], associatedData: [UInt8] = [],
                        by principal: Principal = .local) async throws -> SecretBytes {
        try await audited("decrypt", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.useKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias)
            guard ciphertext.count >= 5 + AEADKey.nonceByteCount + AEADKey.tagByteCount, ciphertext[0] == 0x01 else {
                throw KeystoreError.invalidCiphertext("not a Custos ciphertext (wrong header or too short)")
            }
            let version = Int(ciphertext[1]) << 24 | Int(ciphertext[2]) << 16 | Int(ciphertext[3]) << 8 | Int(ciphertext[4])
            guard case .aead(let key) = try await unlocked(record, version: version) else {
                throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "decrypt")
            }
            let aad = BindingContext.ciphertext(tenant: tenant, keyID: record.id, version: version, associatedData: associatedData)
            let plaintext: SecretBytes
            do {
                plaintext = try key.open(ciphertext[5...], associatedData: aad)
            } catch {
                throw KeystoreError.invalidCiphertext("authentication failed: wrong key, altered ciphertext or different associated data")
            }
            try await recordSuccess(event("decrypt", by: principal, tenant: tenant, keyID: record.id, version: version,
                                          details: ["ciphertext_hmac": audit.digest(ciphertext)]))
            return plaintext
        }
    }

    /// HMAC with the primary version of an HMAC key.
    public func mac(tenant: String, alias: String, message: [UInt8], by principal: Principal = .local) async throws -> (mac: [UInt8], version: Int) {
        try await audited("hmac", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.useKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias)
            guard case .mac(let key) = try await unlocked(record, version: record.primaryVersion) else {
                throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "compute an HMAC")
            }
            let code = key.authenticationCode(for: message)
            try await recordSuccess(event("hmac", by: principal, tenant: tenant, keyID: record.id, version: record.primaryVersion,
                                          details: ["message_hmac": audit.digest(message)]))
            return (code, record.primaryVersion)
        }
    }

    /// Constant-time HMAC check against any version whose material still exists.
    public func verifyMAC(tenant: String, alias: String, message: [UInt8], mac: [UInt8], by principal: Principal = .local) async throws -> Bool {
        try await mappingErrors {
            try principal.authorize(.useKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias)
            for row in try await store.versions(keyID: record.id).reversed() where row.wrappedMaterial != nil {
                guard case .mac(let key) = try await unlocked(record, version: row.version) else {
                    throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "verify an HMAC")
                }
                if key.isValidAuthenticationCode(mac, for: message) { return true }
            }
            return false
        }
    }

    // MARK: Lifecycle

    /// Makes a new primary version; earlier versions keep verifying and decrypting.
    public func rotate(tenant: String, alias: String, by principal: Principal = .local) async throws -> KeyInfo {
        try await audited("rotate", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias)
            let algorithm = try KeyAlgorithm(identifier: record.scheme)
            let versions = try await store.versions(keyID: record.id)
            let next = (versions.map(\.version).max() ?? 0) + 1
            var options = GenerationOptions()
            if case .signing(let scheme) = algorithm, scheme.isRSA,
               case .signing(let signer) = try await unlocked(record, version: record.primaryVersion),
               let size = (signer as? SigningPrivateKey)?.rsaKeySize ?? (signer as? HSMSigner)?.rsaKeySize {
                options.rsaKeySize = size
            }
            let context = MaterialContext(tenant: tenant, keyID: record.id, alias: alias, version: next, algorithm: algorithm)
            // A new version stays with the key's protection.
            let material = try await protection(named: record.protection).create(algorithm, options: options, context: context)
            let now = clock()
            let row = KeyVersionRecord(keyID: record.id, version: next, publicKey: material.publicKeyDER,
                                       fingerprint: material.fingerprint?.description, wrappedMaterial: material.stored,
                                       wrappingGeneration: material.wrappingGeneration, createdAt: now)
            try await store.addVersion(row, updatedAt: now, audit: [
                event("rotate", by: principal, tenant: tenant, keyID: record.id, version: next,
                      details: ["alias": alias, "fingerprint": row.fingerprint ?? ""]),
            ])
            records.evict(tenant: tenant, alias: alias)
            logger.info("key rotated", metadata: ["tenant": "\(tenant)", "alias": "\(alias)", "version": "\(next)"])
            return try await key(tenant: tenant, alias: alias, by: principal)
        }
    }

    public func disable(tenant: String, alias: String, by principal: Principal = .local) async throws -> KeyInfo {
        try await setStatus(tenant: tenant, alias: alias, to: .disabled, operation: "disable", by: principal)
    }

    public func enable(tenant: String, alias: String, by principal: Principal = .local) async throws -> KeyInfo {
        try await setStatus(tenant: tenant, alias: alias, to: .enabled, operation: "enable", by: principal)
    }

    private func setStatus(tenant: String, alias: String, to status: KeyStatus, operation: String, by principal: Principal) async throws -> KeyInfo {
        try await audited(operation, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            guard record.status != .destroyed else { throw KeystoreError.keyDestroyed(tenant: tenant, alias: alias) }
            try await store.setStatus(keyID: record.id, status: status, updatedAt: clock(), audit: [
                event(operation, by: principal, tenant: tenant, keyID: record.id, details: ["alias": alias]),
            ])
            cache.evict(keyID: record.id)
            records.evict(tenant: tenant, alias: alias)
            logger.info("key status changed", metadata: ["tenant": "\(tenant)", "alias": "\(alias)", "status": "\(status.rawValue)"])
            return try await key(tenant: tenant, alias: alias, by: principal)
        }
    }

    /// Crypto-shredding: the wrapped material of every version is erased; the record,
    /// public keys and fingerprints stay as a tombstone.
    public func destroy(tenant: String, alias: String, by principal: Principal = .local) async throws -> KeyInfo {
        try await audited("destroy", by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            guard record.status != .destroyed else { throw KeystoreError.keyDestroyed(tenant: tenant, alias: alias) }
            if case let ultimate as UltimateProtection = try await protection(named: record.protection) {
                // The token objects go first: a failure leaves the record intact.
                for version in try await store.versions(keyID: record.id) {
                    if let stored = version.wrappedMaterial { try ultimate.destroy(label: String(decoding: stored, as: UTF8.self)) }
                }
            }
            try await store.destroyKey(keyID: record.id, at: clock(), audit: [
                event("destroy", by: principal, tenant: tenant, keyID: record.id, details: ["alias": alias]),
            ])
            cache.evict(keyID: record.id)
            records.evict(tenant: tenant, alias: alias)
            logger.info("key destroyed", metadata: ["tenant": "\(tenant)", "alias": "\(alias)"])
            return try await key(tenant: tenant, alias: alias, by: principal)
        }
    }
}
