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

    var statistics: (hits: Int, misses: Int) {
        (hitCount.load(ordering: .relaxed), missCount.load(ordering: .relaxed))
    }
}
