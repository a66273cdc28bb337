import CustosCrypto
import CustosStore
import Foundation

extension KeyService {
    // MARK: Creating keys

    /// Generates a key with its first version.
    public func generateKey(_ spec: KeySpec, by principal: Principal) async throws -> KeyInfo {
        try await generateKeys([spec], by: principal).first!
    }

    /// Generates many keys; they are stored in batches of `batchSize`, each batch one
    /// transaction. `progress` is called with the number stored so far.
    public func generateKeys(_ specs: [KeySpec], batchSize: Int = 256, by principal: Principal,
                             progress: @Sendable (Int) -> Void = { _ in }) async throws -> [KeyInfo] {
        try await audited(.generate, by: principal, tenant: specs.first?.tenant, alias: specs.count == 1 ? specs[0].alias : nil) {
            for spec in specs {
                try principal.authorize(.manageKeys, tenant: spec.tenant)
                try Names.validateLabels(spec.labels)
                try Names.validateExternalID(spec.externalID)
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
                    rows.append(try await macRows(makeRows(spec: spec, keyID: keyID, material: material, protection: protection.reference)))
                }
                let events = zip(batch, rows).map { spec, row in
                    event(.generate, by: principal, tenant: spec.tenant, keyID: row.0.id, version: 1,
                          details: ["alias": row.0.alias, "scheme": row.0.scheme, "fingerprint": row.1.fingerprint ?? ""])
                }
                try await store.insertKeys(rows, audit: events)
                created += try rows.map { info(try StoredKey($0.0), versions: [$0.1]) }
                start += batch.count
                progress(start)
            }
            for info in created {
                logger.info("key generated", metadata: ["tenant": "\(info.tenant)", "alias": "\(info.alias)", "scheme": "\(info.algorithm)"])
            }
            return created
        }
    }

    /// Imports a private key made elsewhere (PKCS#8 DER or PEM; SEC1 and PKCS#1 too).
    public func importKey(_ spec: KeySpec, privateKey encoded: SecretBytes, by principal: Principal) async throws -> KeyInfo {
        try await audited(.import, by: principal, tenant: spec.tenant, alias: spec.alias) {
            try principal.authorize(.manageKeys, tenant: spec.tenant)
            try Names.validateLabels(spec.labels)
            try Names.validateExternalID(spec.externalID)
            guard case .signing(let scheme) = spec.algorithm else {
                throw KeystoreError.invalidArgument("only signing keys can be imported; \(spec.algorithm) keys are generated inside Custos")
            }
            let key = try SigningPrivateKey(importing: encoded, scheme: scheme)
            let (keyID, context, protection) = try await prepareNewKey(spec)
            let material = try await protection.protect(.signing(key), context: context)
            let (record, version) = try await macRows(makeRows(spec: spec, keyID: keyID, material: material, protection: protection.reference))
            try await store.insertKey(record, version: version, audit: [
                event(.import, by: principal, tenant: spec.tenant, keyID: keyID, version: 1,
                      details: ["alias": spec.alias.rawValue, "scheme": record.scheme, "fingerprint": version.fingerprint ?? ""]),
            ])
            logger.info("key imported", metadata: ["tenant": "\(spec.tenant)", "alias": "\(spec.alias)", "scheme": "\(scheme)"])
            return info(try StoredKey(record), versions: [version])
        }
    }

    /// What every new key needs first: its tenant exists, its alias is free, an id, the
    /// binding context of version 1, and the protection its tenant and category use.
    func prepareNewKey(_ spec: KeySpec) async throws -> (keyID: String, context: MaterialContext, protection: any KeyProtection) {
        try await requireTenant(spec.tenant)
        if try await store.key(tenantID: spec.tenant.rawValue, alias: spec.alias.rawValue) != nil {
            throw KeystoreError.store(.duplicateAlias(tenant: spec.tenant.rawValue, alias: spec.alias.rawValue))
        }
        let keyID = UUID().uuidString.lowercased()
        let context = MaterialContext(tenant: spec.tenant.rawValue, keyID: keyID, alias: spec.alias.rawValue, version: 1, algorithm: spec.algorithm)
        return (keyID, context, try await protection(tenant: spec.tenant, category: spec.resolvedCategory))
    }

    func macRows(_ rows: (KeyRecord, KeyVersionRecord)) async throws -> (KeyRecord, KeyVersionRecord) {
        (try await withMAC(rows.0), try await withMAC(rows.1, tenant: rows.0.tenantID))
    }

    func makeRows(spec: KeySpec, keyID: String, material: ProtectedMaterial, protection: ProtectionReference) -> (KeyRecord, KeyVersionRecord) {
        let now = clock()
        let record = KeyRecord(id: keyID, tenantID: spec.tenant.rawValue, alias: spec.alias.rawValue, category: spec.resolvedCategory.rawValue,
                               scheme: spec.algorithm.identifier, status: .enabled, primaryVersion: 1,
                               externalID: spec.externalID, labels: spec.labels, protection: protection.description,
                               createdAt: now, updatedAt: now)
        let version = KeyVersionRecord(keyID: keyID, version: 1, material: material, createdAt: now)
        return (record, version)
    }

    // MARK: Lifecycle

    /// Makes a new primary version; earlier versions keep verifying and decrypting.
    public func rotate(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> KeyInfo {
        try await audited(.rotate, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias, fresh: true)
            let algorithm = record.algorithm
            // An Ethereum account's address is its public key: a new version would be another
            // account, and whatever the old address holds would be left behind.
            if record.category == .accounts, algorithm == .signing(Self.accountScheme) {
                throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: "an Ethereum account",
                                                 operation: "be rotated (its address is its key: create a new account and move what the old one holds)")
            }
            let versions = try await store.versions(keyID: record.id)
            let next = (versions.map(\.version).max() ?? 0) + 1
            var options = GenerationOptions()
            if case .signing(let scheme) = algorithm, scheme.isRSA,
               case .signing(let signer) = try await unlocked(record, version: record.primaryVersion),
               let size = (signer as? SigningPrivateKey)?.rsaKeySize ?? (signer as? HSMSigner)?.rsaKeySize {
                options.rsaKeySize = size
            }
            let context = MaterialContext(tenant: tenant.rawValue, keyID: record.id, alias: alias.rawValue, version: next, algorithm: algorithm)
            // A new version stays with the key's protection.
            let material = try await protection(for: record.protection).create(algorithm, options: options, context: context)
            let now = clock()
            let row = try await withMAC(KeyVersionRecord(keyID: record.id, version: next, material: material, createdAt: now), tenant: tenant.rawValue)
            var updated = record.row
            updated.primaryVersion = next
            try await store.addVersion(row, updatedAt: now, keyMAC: try await rowMAC(updated), audit: [
                event(.rotate, by: principal, tenant: tenant, keyID: record.id, version: next,
                      details: ["alias": alias.rawValue, "fingerprint": row.fingerprint ?? ""]),
            ])
            records.evict(tenant: tenant, alias: alias)
            logger.info("key rotated", metadata: ["tenant": "\(tenant)", "alias": "\(alias)", "version": "\(next)"])
            return try await key(tenant: tenant, alias: alias, by: principal)
        }
    }

    public func disable(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> KeyInfo {
        try await setStatus(tenant: tenant, alias: alias, to: .disabled, operation: .disable, by: principal)
    }

    public func enable(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> KeyInfo {
        try await setStatus(tenant: tenant, alias: alias, to: .enabled, operation: .enable, by: principal)
    }

    private func setStatus(tenant: TenantID, alias: KeyAlias, to status: KeyStatus, operation: AuditOperation, by principal: Principal) async throws -> KeyInfo {
        try await audited(operation, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await checkedRecord(tenant: tenant, alias: alias)
            guard record.status != .destroyed else { throw KeystoreError.keyDestroyed(tenant: tenant.rawValue, alias: alias.rawValue) }
            var updated = record.row
            updated.status = status
            try await store.setStatus(keyID: record.id, status: status, updatedAt: clock(), keyMAC: try await rowMAC(updated), audit: [
                event(operation, by: principal, tenant: tenant, keyID: record.id, details: ["alias": alias.rawValue]),
            ])
            cache.evict(keyID: record.id)
            records.evict(tenant: tenant, alias: alias)
            logger.info("key status changed", metadata: ["tenant": "\(tenant)", "alias": "\(alias)", "status": "\(status.rawValue)"])
            return try await key(tenant: tenant, alias: alias, by: principal)
        }
    }

    /// Crypto-shredding: the wrapped material of every version is erased and the
    /// tenant's wrapping key moves to a new generation (see `KeyShredding.swift`); the
    /// record, public keys and fingerprints stay as a tombstone.
    public func destroy(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> KeyInfo {
        try await audited(.destroy, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await checkedRecord(tenant: tenant, alias: alias)
            guard record.status != .destroyed else { throw KeystoreError.keyDestroyed(tenant: tenant.rawValue, alias: alias.rawValue) }
            try await shred([record]) { plan in
                [event(.destroy, by: principal, tenant: tenant, keyID: record.id,
                       details: ["alias": alias.rawValue, "wrapping_generation": String(plan.newWrappingKey.generation)])]
            }
            logger.info("key destroyed", metadata: ["tenant": "\(tenant)", "alias": "\(alias)"])
            return try await key(tenant: tenant, alias: alias, by: principal)
        }
    }
}

extension KeyVersionRecord {
    /// The row of a newly created version: its public key, fingerprint and wrapped material.
    init(keyID: String, version: Int, material: ProtectedMaterial, createdAt: Date) {
        self.init(keyID: keyID, version: version, publicKey: material.publicKeyDER, fingerprint: material.fingerprint?.description,
                  wrappedMaterial: material.stored, wrappingGeneration: material.wrappingGeneration, createdAt: createdAt)
    }
}
