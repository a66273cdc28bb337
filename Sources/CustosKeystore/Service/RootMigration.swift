import CustosCrypto
import CustosStore
import Foundation

/// Moving the keystore to a new root of trust, online and resumably: every tenant
/// wrapping key is unwrapped by the old root and wrapped by the new one, one row per
/// transaction, each guarded by the root id it expects. A migration cut short at any
/// point resumes by running again: rows already moved are skipped, and the database
/// names the new root only once every row is moved.
extension KeyService {
    public struct RootMigrationResult: Sendable, Equatable {
        /// Wrapping keys moved by this run.
        public var rewrapped: Int
        /// Wrapping keys found already under the new root (moved by an earlier, interrupted run).
        public var alreadyMoved: Int
    }

    /// Re-wraps every wrapping key under `newRoot` while the service keeps serving,
    /// then records `newRoot` as this store's root. `progress(done, total)` follows it.
    public func migrateRoot(to newRoot: any RootOfTrust,
                            progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> RootMigrationResult {
        let oldRoot = root
        guard newRoot.rootKeyID != oldRoot.rootKeyID else {
            throw KeystoreError.invalidArgument("the new root of trust is the current one (root key \(oldRoot.rootKeyID))")
        }
        keyring.beginMigration(to: newRoot)
        let result = try await mappingErrors {
            try await Self.rewrap(store: store, from: oldRoot, to: newRoot, progress: progress)
        }
        keyring.endMigration()
        logger.info("root of trust migrated", metadata: ["from": "\(oldRoot.rootKeyID)", "to": "\(newRoot.rootKeyID)",
                                                         "provider": "\(newRoot.provider)", "rewrapped": "\(result.rewrapped)"])
        return result
    }

    /// Completes (or performs) a migration without a running service, e.g. at start
    /// after an interruption. `from` may be nil when the old root is gone: that is
    /// accepted only if nothing is left under it.
    public static func completeRootMigration(store: any Store, from oldRoot: (any RootOfTrust)?, to newRoot: any RootOfTrust,
                                             progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> RootMigrationResult {
        try await mappingErrors {
            if let recorded = try await store.metadata(rootKeyIDMetadata), let oldRoot,
               recorded != Array(oldRoot.rootKeyID.utf8), recorded != Array(newRoot.rootKeyID.utf8) {
                throw KeystoreError.rootKeyMismatch
            }
            guard let oldRoot else {
                // The old root file goes only after the database names the new root.
                guard try await store.metadata(rootKeyIDMetadata) == Array(newRoot.rootKeyID.utf8) else {
                    throw KeystoreError.unsealFailed("a root migration is pending but the old root of trust is missing and the database does not name the new root \(newRoot.rootKeyID)")
                }
                let left = try await store.allWrappingKeys().filter { $0.rootKeyID != newRoot.rootKeyID }
                guard left.isEmpty else {
                    throw KeystoreError.unsealFailed("a root migration is pending but the old root of trust is missing and \(left.count) wrapping keys still need it")
                }
                try await store.setMetadata(rootKeyIDMetadata, Array(newRoot.rootKeyID.utf8))
                return RootMigrationResult(rewrapped: 0, alreadyMoved: 0)
            }
            return try await rewrap(store: store, from: oldRoot, to: newRoot, progress: progress)
        }
    }

    static func rewrap(store: any Store, from oldRoot: any RootOfTrust, to newRoot: any RootOfTrust,
                       progress: @Sendable (Int, Int) -> Void) async throws -> RootMigrationResult {
        let records = try await store.allWrappingKeys()
        var result = RootMigrationResult(rewrapped: 0, alreadyMoved: 0)
        for (index, record) in records.enumerated() {
            if record.rootKeyID == newRoot.rootKeyID {
                result.alreadyMoved += 1
            } else {
                guard record.rootKeyID == oldRoot.rootKeyID else {
                    throw KeystoreError.unsealFailed("wrapping key generation \(record.generation) of tenant '\(record.tenantID)' is wrapped by an unknown root key \(record.rootKeyID)")
                }
                let context = BindingContext.wrappingKey(tenant: record.tenantID, generation: record.generation)
                let material: SecretBytes
                do {
                    material = try await oldRoot.unwrap(record.wrappedKey, context: context)
                } catch let error as KeystoreError {
                    throw error
                } catch {
                    throw KeystoreError.wrappingKeyUnavailable(tenant: record.tenantID, generation: record.generation)
                }
                let wrapped = try await newRoot.wrap(material, context: context)
                if try await store.rewrapWrappingKey(tenantID: record.tenantID, generation: record.generation, wrappedKey: wrapped,
                                                     rootKeyID: newRoot.rootKeyID, expectedRootKeyID: oldRoot.rootKeyID) {
                    result.rewrapped += 1
                } else {
                    result.alreadyMoved += 1
                }
            }
            progress(index + 1, records.count)
        }
        try await AuditLog.rewrapKeys(store: store, from: oldRoot, to: newRoot)
        // Only now does the database name the new root.
        try await store.setMetadata(rootKeyIDMetadata, Array(newRoot.rootKeyID.utf8))
        return result
    }

    /// One step of a root migration in the audit log ("started", "completed", "resumed").
    func recordRootMigration(step: String, from: String?, to newRoot: any RootOfTrust, rewrapped: Int?, by principal: Principal) async throws {
        var details = ["step": step, "to": newRoot.rootKeyID, "provider": newRoot.provider]
        if let from { details["from"] = from }
        if let rewrapped { details["rewrapped"] = String(rewrapped) }
        try await audit.recordNow([event(.rootMigrate, by: principal, tenant: nil, details: details)])
    }

    // MARK: Checking every key

    public struct KeyCheckResult: Sendable {
        public var checked: Int
        public var failures: [(tenant: String, alias: String, version: Int, error: String)]
    }

    /// Opens the primary version of every usable key of every tenant (and signs a test
    /// message with signing keys): after a root migration, proof that nothing was lost.
    /// Node-wide admins only; audited as `root.check` with the counts.
    public func checkAllKeys(by principal: Principal) async throws -> KeyCheckResult {
        try await audited(.rootCheck, by: principal, tenant: nil) {
            try principal.authorize(.manageProtection, tenant: nil)
            var result = KeyCheckResult(checked: 0, failures: [])
            for tenant in try await store.tenants() {
                var after: String?
                repeat {
                    let page = try await store.listKeys(tenantID: tenant.id, filter: KeyFilter(status: .enabled), page: PageRequest(limit: 1000, after: after))
                    for row in page.keys {
                        result.checked += 1
                        do {
                            let record = try StoredKey(row)
                            if case .signing(let signer) = try await unlocked(record, version: record.primaryVersion) {
                                let message = Array("custos key check".utf8)
                                let signature = try await signer.sign(message, format: nil)
                                guard try signer.publicKey.isValidSignature(signature.bytes, for: message, format: signature.format) else {
                                    throw KeystoreError.keyMaterialCorrupted(alias: row.alias, version: row.primaryVersion)
                                }
                            }
                        } catch {
                            result.failures.append((tenant.id, row.alias, row.primaryVersion, "\(error)"))
                        }
                    }
                    after = page.nextCursor
                } while after != nil
            }
            try await audit.recordNow([event(.rootCheck, by: principal, tenant: nil, outcome: result.failures.isEmpty ? .success : .failure,
                                             details: ["checked": String(result.checked), "failed": String(result.failures.count)])])
            return result
        }
    }
}
