import CustosCrypto
import CustosStore
import Foundation

/// Destroy as crypto-shredding. Erasing a key's wrapped material is not enough: an
/// older copy of the database still holds it, wrapped under a tenant wrapping key that
/// still exists. So a destroy also starts a new wrapping-key generation, re-wraps every
/// surviving soft version under it and deletes the generations nothing needs any more;
/// the shred ledger (outside the database) then refuses those generations for good.
extension KeyService {
    /// Destroys `records` (of one tenant) together: HSM objects first (a failure leaves the
    /// records intact), then one transaction with the records `audit` makes from the plan,
    /// then the retired generations are forgotten and refused for good.
    func shred(_ records: [StoredKey], audit: (KeyShredding) -> [AuditEvent]) async throws {
        let now = clock()
        let plan = try await shreddingPlan(records, at: now)
        for record in records {
            if case let ultimate as UltimateProtection = try await protection(for: record.protection) {
                for version in try await store.versions(keyID: record.id) {
                    if let stored = version.wrappedMaterial { try ultimate.destroy(label: String(decoding: stored, as: UTF8.self)) }
                }
            }
        }
        try await store.shredKey(plan, at: now, audit: audit(plan))
        keyring.forget(tenant: plan.tenantID, generations: plan.retiredGenerations)
        try await shredLedger?.raise(tenant: plan.tenantID, to: plan.newWrappingKey.generation, keyring: keyring)
        for record in records {
            cache.evict(keyID: record.id)
            self.records.evict(tenant: record.tenant, alias: record.alias)
        }
    }

    /// The plan of one destroy: every row it writes, computed before the transaction.
    /// `records` (one key, or the keys of a set destroyed together) share one tenant.
    func shreddingPlan(_ records: [StoredKey], at now: Date) async throws -> KeyShredding {
        guard let tenant = records.first?.tenant.rawValue, records.allSatisfy({ $0.tenant.rawValue == tenant }) else {
            throw KeystoreError.invalidArgument("keys destroyed together must belong to one tenant")
        }
        let generations = try await store.wrappingKeys(tenantID: tenant).map(\.generation).filter { $0 != WrappingKeyring.recordKeyGeneration }
        guard let newest = generations.max() else { throw KeystoreError.store(.tenantNotFound(tenant)) }
        let (newRecord, newKey) = try await keyring.newWrappingKey(tenant: tenant, generation: newest + 1, at: now)
        var shredded: [ShreddedKey] = []
        for record in records {
            var destroyed = record.row
            destroyed.status = .destroyed
            var versionMACs: [Int: [UInt8]] = [:]
            for var version in try await checkedVersions(of: record) {
                version.wrappedMaterial = nil
                version.destroyedAt = now
                versionMACs[version.version] = try await rowMAC(version, tenant: tenant)
            }
            shredded.append(ShreddedKey(keyID: record.id, keyMAC: try await rowMAC(destroyed), versionMACs: versionMACs))
        }
        let destroyedIDs = Set(records.map(\.id))
        var rewrapped: [KeyVersionRecord] = []
        // Generations still needed by material this destroy cannot move (HSM-wrapped).
        var kept = Set<Int>()
        var after: String?
        repeat {
            let page = try await store.listKeys(tenantID: tenant, filter: KeyFilter(), page: PageRequest(limit: PageRequest.maximumLimit, after: after))
            for row in page.keys where !destroyedIDs.contains(row.id) && row.status != .destroyed {
                let key = try StoredKey(row)
                for version in try await checkedVersions(of: key) {
                    guard let stored = version.wrappedMaterial else { continue }
                    var moved = version
                    switch key.protection {
                    case .soft:
                        let context = MaterialContext(tenant: tenant, keyID: key.id, alias: key.alias.rawValue, version: version.version, algorithm: key.algorithm)
                        moved.wrappedMaterial = try await soft.rewrap(stored, from: version.wrappingGeneration, to: (newest + 1, newKey), context: context)
                    case .ultimate:
                        // A handle to a key inside the HSM: no tenant wrapping key involved.
                        break
                    case .high:
                        kept.insert(version.wrappingGeneration)
                        continue
                    }
                    moved.wrappingGeneration = newest + 1
                    rewrapped.append(try await withMAC(moved, tenant: tenant))
                }
            }
            after = page.nextCursor
        } while after != nil
        return KeyShredding(destroyed: shredded, tenantID: tenant, newWrappingKey: newRecord, rewrapped: rewrapped,
                            retiredGenerations: generations.filter { !kept.contains($0) })
    }
}
