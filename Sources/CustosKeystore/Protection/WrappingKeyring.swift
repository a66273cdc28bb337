import CustosCrypto
import CustosStore
import Foundation
import Synchronization

/// Per-tenant wrapping keys (AES-256, versioned generations), stored wrapped by the
/// root of trust and kept unwrapped in memory once used.
///
/// During a root migration two roots are known: new wrapping keys go under the new
/// one, and each record is opened by the root whose id it records.
public final class WrappingKeyring: Sendable {
    let store: any Store
    private let cache = Mutex<[String: [Int: AEADKey]]>([:])
    private let recordKeys = Mutex<[String: MACKey]>([:])
    /// Per tenant, the oldest generation the shred ledger still allows.
    private let floors = Mutex<[String: Int]>([:])

    func setFloor(tenant: String, generation: Int) {
        floors.withLock { $0[tenant] = max($0[tenant] ?? 0, generation) }
    }
    private let roots: Mutex<(current: any RootOfTrust, previous: (any RootOfTrust)?)>

    init(root: any RootOfTrust, store: any Store) {
        self.roots = Mutex((root, nil))
        self.store = store
    }

    /// The root that wraps new wrapping keys.
    var root: any RootOfTrust { roots.withLock { $0.current } }

    /// Makes `root` current and keeps the old one for records not yet re-wrapped.
    func beginMigration(to root: any RootOfTrust) {
        roots.withLock { $0 = (root, $0.current) }
    }

    func endMigration() {
        roots.withLock { $0.previous = nil }
    }

    func root(for record: WrappingKeyRecord) throws -> any RootOfTrust {
        try roots.withLock { roots in
            if record.rootKeyID == roots.current.rootKeyID { return roots.current }
            if let previous = roots.previous, record.rootKeyID == previous.rootKeyID { return previous }
            throw KeystoreError.unsealFailed("wrapping key generation \(record.generation) of tenant '\(record.tenantID)' is wrapped by root key \(record.rootKeyID), which is not loaded")
        }
    }

    /// A new wrapping key for `tenant`, generation `generation`, wrapped by the root.
    /// It is not cached here: the store may still refuse it (a tenant that already
    /// exists), and a cached loser would shadow the stored key. The first use unwraps
    /// the stored one.
    func makeWrappingKey(tenant: String, generation: Int, at date: Date) async throws -> WrappingKeyRecord {
        try await newWrappingKey(tenant: tenant, generation: generation, at: date).record
    }

    /// A new wrapping key and its record (wrapped by the root).
    func newWrappingKey(tenant: String, generation: Int, at date: Date) async throws -> (record: WrappingKeyRecord, key: AEADKey) {
        let key = AEADKey()
        let root = self.root
        let wrapped = try await root.wrap(key.secretMaterial, context: BindingContext.wrappingKey(tenant: tenant, generation: generation))
        return (WrappingKeyRecord(tenantID: tenant, generation: generation, wrappedKey: wrapped, rootKeyID: root.rootKeyID, createdAt: date), key)
    }

    /// Drops every unwrapped wrapping key (the root of trust was refused).
    func removeAll() {
        cache.withLock { $0 = [:] }
        recordKeys.withLock { $0 = [:] }
    }

    /// Forgets the unwrapped keys of generations that no longer exist.
    func forget(tenant: String, generations: [Int]) {
        cache.withLock { cache in for generation in generations { cache[tenant]?[generation] = nil } }
    }

    /// Generation 0 of a tenant's wrapping keys is its record key: it wraps no material,
    /// is never retired, and only keys the MACs of the tenant's key and version rows.
    static let recordKeyGeneration = 0

    /// The HMAC key of the tenant's row MACs, derived from its record key (made, wrapped
    /// by the root, on first need).
    func rowMACKey(tenant: String) async throws -> MACKey {
        if let cached = recordKeys.withLock({ $0[tenant] }) { return cached }
        var records = try await store.wrappingKeys(tenantID: tenant)
        if !records.contains(where: { $0.generation == Self.recordKeyGeneration }) {
            let made = try await makeWrappingKey(tenant: tenant, generation: Self.recordKeyGeneration, at: Date())
            records.append(try await store.addWrappingKeyIfAbsent(made))
        }
        let recordKey = try await key(tenant: tenant, generation: Self.recordKeyGeneration, records: records)
        let derived = try MACKey(secretMaterial: try KeyDerivation.hkdfSHA256(inputKeyMaterial: recordKey.secretMaterial, salt: [],
                                                                              info: Array("custos.row-mac.v1".utf8), outputByteCount: 32),
                                 algorithm: .hmacSHA256)
        recordKeys.withLock { $0[tenant] = derived }
        return derived
    }

    /// The generation new material is wrapped under (the newest).
    func currentGeneration(tenant: String) async throws -> (generation: Int, key: AEADKey) {
        let records = try await store.wrappingKeys(tenantID: tenant)
        guard let newest = records.last, newest.generation != Self.recordKeyGeneration else { throw KeystoreError.store(.tenantNotFound(tenant)) }
        return (newest.generation, try await key(tenant: tenant, generation: newest.generation, records: records))
    }

    func key(tenant: String, generation: Int, records: [WrappingKeyRecord]? = nil) async throws -> AEADKey {
        if generation != Self.recordKeyGeneration, generation < floors.withLock({ $0[tenant] ?? 0 }) {
            // Retired by a destroy: an older copy of the database may still hold it.
            throw KeystoreError.wrappingKeyUnavailable(tenant: tenant, generation: generation)
        }
        if let cached = cache.withLock({ $0[tenant]?[generation] }) { return cached }
        let all: [WrappingKeyRecord]
        if let records {
            all = records
        } else {
            all = try await store.wrappingKeys(tenantID: tenant)
        }
        guard let record = all.first(where: { $0.generation == generation }) else {
            throw KeystoreError.wrappingKeyUnavailable(tenant: tenant, generation: generation)
        }
        let material: SecretBytes
        do {
            material = try await root(for: record).unwrap(record.wrappedKey, context: BindingContext.wrappingKey(tenant: tenant, generation: generation))
        } catch let error as KeystoreError {
            throw error
        } catch {
            throw KeystoreError.wrappingKeyUnavailable(tenant: tenant, generation: generation)
        }
        let key = try AEADKey(secretMaterial: material)
        cache.withLock { $0[tenant, default: [:]][generation] = key }
        return key
    }
}
