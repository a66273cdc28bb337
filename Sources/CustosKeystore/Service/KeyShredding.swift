import CustosCrypto
import CustosStore
import Foundation

/// Destroy as crypto-shredding. Erasing a key's wrapped material is not enough: an
/// older copy of the database still holds it, wrapped under a tenant wrapping key that
/// still exists. So a destroy also starts a new wrapping-key generation, re-wraps every
/// surviving soft version under it and deletes the generations nothing needs any more;
/// the shred ledger (outside the database) then refuses those generations for good.
extension KeyService {
    /// The plan of one destroy: every row it writes, computed before the transaction.
    func shreddingPlan(_ record: StoredKey, at now: Date) async throws -> KeyShredding {
        let tenant = record.tenant.rawValue
        let generations = try await store.wrappingKeys(tenantID: tenant).map(\.generation).filter { $0 != WrappingKeyring.recordKeyGeneration }
        guard let newest = generations.max() else { throw KeystoreError.store(.tenantNotFound(tenant)) }
        let (newRecord, newKey) = try await keyring.newWrappingKey(tenant: tenant, generation: newest + 1, at: now)
        var destroyed = record.row
        destroyed.status = .destroyed
        var versionMACs: [Int: [UInt8]] = [:]
        for var version in try await checkedVersions(of: record) {
            version.wrappedMaterial = nil
            version.destroyedAt = now
            versionMACs[version.version] = try await rowMAC(version, tenant: tenant)
        }
        var rewrapped: [KeyVersionRecord] = []
        // Generations still needed by material this destroy cannot move (HSM-wrapped).
        var kept = Set<Int>()
        var after: String?
        repeat {
            let page = try await store.listKeys(tenantID: tenant, filter: KeyFilter(), page: PageRequest(limit: PageRequest.maximumLimit, after: after))
            for row in page.keys where row.id != record.id && row.status != .destroyed {
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
        return KeyShredding(keyID: record.id, tenantID: tenant, keyMAC: try await rowMAC(destroyed), versionMACs: versionMACs,
                            newWrappingKey: newRecord, rewrapped: rewrapped, retiredGenerations: generations.filter { !kept.contains($0) })
    }
}
