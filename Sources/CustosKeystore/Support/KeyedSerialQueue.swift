import Synchronization

/// Runs the bodies given the same key one at a time, in arrival order; bodies of
/// different keys run concurrently. A key's entry lives only while a body holds it.
final class KeyedSerialQueue: Sendable {
    /// For each key held: the waiters, first in line first.
    private let held = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    func run<T>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let free = held.withLock { held -> Bool in
                guard held[key] != nil else {
                    held[key] = []
                    return true
                }
                held[key]!.append(waiter)
                return false
            }
            if free { waiter.resume() }
        }
    }

    /// Hands the key to the next waiter, or frees it.
    private func release(_ key: String) {
        let next = held.withLock { held -> CheckedContinuation<Void, Never>? in
            guard var waiters = held[key], !waiters.isEmpty else {
                held[key] = nil
                return nil
            }
            let first = waiters.removeFirst()
            held[key] = waiters
            return first
        }
        next?.resume()
    }
}
