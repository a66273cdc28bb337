import Synchronization

/// Bounded cache of unlocked keys, so a hot signing key is unwrapped once. Entries
/// are evicted oldest-first; evicted soft material is zeroized when its last
/// reference goes (`SecretBytes`). Destroy and disable evict explicitly.
final class KeyCache: Sendable {
    private struct State {
        var entries: [String: UnlockedKey] = [:]
        var order: [String] = []
    }

    private let capacity: Int
    private let state = Mutex(State())
    private let hitCount = Atomic<Int>(0)
    private let missCount = Atomic<Int>(0)

    init(capacity: Int) {
        self.capacity = max(capacity, 0)
    }

    static func entryKey(keyID: String, version: Int) -> String { "\(keyID)#\(version)" }

    func get(keyID: String, version: Int) -> UnlockedKey? {
        let found = state.withLock { $0.entries[Self.entryKey(keyID: keyID, version: version)] }
        if found != nil {
            hitCount.add(1, ordering: .relaxed)
        } else {
            missCount.add(1, ordering: .relaxed)
        }
        return found
    }

    func put(_ key: UnlockedKey, keyID: String, version: Int) {
        guard capacity > 0 else { return }
        let entry = Self.entryKey(keyID: keyID, version: version)
        state.withLock { state in
            if state.entries.updateValue(key, forKey: entry) == nil {
                state.order.append(entry)
            }
            while state.order.count > capacity {
                state.entries.removeValue(forKey: state.order.removeFirst())
            }
        }
    }

    func evict(keyID: String) {
        let prefix = keyID + "#"
        state.withLock { state in
            state.order.removeAll { $0.hasPrefix(prefix) }
            state.entries = state.entries.filter { !$0.key.hasPrefix(prefix) }
        }
    }

    /// Drops every unlocked key (the root of trust was refused).
    func removeAll() {
        state.withLock { $0 = State() }
    }

    var statistics: (hits: Int, misses: Int) {
        (hitCount.load(ordering: .relaxed), missCount.load(ordering: .relaxed))
    }
}

/// Key records resolved by tenant and alias, so a hot sign does not query the store.
///
/// Changes made through this service evict the entry at once. Changes made by another
/// process sharing the database (the CLI beside a server, another worker) are seen
/// once the entry is older than `timeToLive`.
final class RecordCache: Sendable {
    private struct Entry {
        var record: StoredKey
        var loadedAt: ContinuousClock.Instant
    }

    private let timeToLive: Duration
    private let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    init(timeToLive: Duration, capacity: Int) {
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    private static func key(_ tenant: TenantID, _ alias: KeyAlias) -> String { tenant.rawValue + "\u{0}" + alias.rawValue }

    func get(tenant: TenantID, alias: KeyAlias) -> StoredKey? {
        guard timeToLive > .zero else { return nil }
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[Self.key(tenant, alias)] else { return nil }
            return now - entry.loadedAt < timeToLive ? entry.record : nil
        }
    }

    func put(_ record: StoredKey) {
        guard timeToLive > .zero else { return }
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity {
                // Cheap bound: drop expired entries, and everything if still full.
                entries = entries.filter { now - $0.value.loadedAt < timeToLive }
                if entries.count >= capacity { entries.removeAll() }
            }
            entries[Self.key(record.tenant, record.alias)] = Entry(record: record, loadedAt: now)
        }
    }

    func evict(tenant: TenantID, alias: KeyAlias) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(tenant, alias)) }
    }

    func removeAll() {
        entries.withLock { $0.removeAll() }
    }
}

import CustosStore

/// Values read from the store and reused for `timeToLive` (the same bound as
/// `RecordCache`: a change by this process applies at once, one by another process
/// within that time). Holds at most `capacity` entries; past that it starts over.
final class ExpiringCache<Value: Sendable>: Sendable {
    private let timeToLive: Duration
    private let capacity: Int
    private let entries = Mutex<[String: (value: Value, loadedAt: ContinuousClock.Instant)]>([:])

    init(timeToLive: Duration, capacity: Int) {
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    func get(_ key: String) -> Value? {
        guard timeToLive > .zero else { return nil }
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key], now - entry.loadedAt < timeToLive else { return nil }
            return entry.value
        }
    }

    func put(_ key: String, _ value: Value) {
        guard timeToLive > .zero else { return }
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (value, now)
        }
    }

    func remove(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}
