import CustosStore
import Synchronization

/// How many encryptions one AES-256-GCM key version may make. With random 96-bit
/// nonces NIST SP 800-38D allows at most 2^32 invocations per key; past that a nonce
/// collision, which reveals the authentication key, becomes too likely. Encryptions are
/// counted durably per version, reserved from the store in blocks so the hot path
/// takes from memory; a block unused when the process stops counts as spent.
public struct EncryptionLimit: Sendable {
    /// NIST SP 800-38D, section 8.3: 2^32 with random nonces.
    public static let nist = EncryptionLimit(perVersion: 1 << 32, block: 1 << 16)
    public var perVersion: Int64
    public var block: Int64

    public init(perVersion: Int64, block: Int64) {
        self.perVersion = perVersion
        self.block = max(1, min(block, perVersion))
    }
}

/// The encryptions this process has reserved and not used yet, per key version.
final class EncryptionBudget: Sendable {
    let limit: EncryptionLimit
    private let remaining = Mutex<[String: Int64]>([:])

    init(limit: EncryptionLimit) {
        self.limit = limit
    }

    func take(keyID: String, version: Int) -> Bool {
        remaining.withLock { remaining in
            let key = KeyCache.entryKey(keyID: keyID, version: version)
            guard let left = remaining[key], left > 0 else { return false }
            remaining[key] = left - 1
            return true
        }
    }

    func add(_ count: Int64, keyID: String, version: Int) {
        remaining.withLock { $0[KeyCache.entryKey(keyID: keyID, version: version), default: 0] += count }
    }
}

extension KeyService {
    /// Counts one encryption with `version`, refusing it once the version's limit is
    /// reached (the key must be rotated).
    func countEncryption(_ record: StoredKey, version: Int) async throws {
        if encryptionBudget.take(keyID: record.id, version: version) { return }
        let limit = encryptionBudget.limit
        let granted = try await store.reserveEncryptions(keyID: record.id, version: version, count: limit.block, limit: limit.perVersion)
        // Another task may have added the rest of its block meanwhile.
        guard granted > 0 || encryptionBudget.take(keyID: record.id, version: version) else {
            throw KeystoreError.usageLimitReached(alias: record.alias.rawValue, version: version, limit: limit.perVersion)
        }
        if granted > 1 { encryptionBudget.add(granted - 1, keyID: record.id, version: version) }
    }
}
