/// Nodes informed (docs/cluster.md, "Peer requests", request 9): a long-poll on the key log
/// that answers as soon as an entry at or past the caller's index exists.
extension ReplicaNode {
    /// The longest wait a caller may ask for.
    public static let maximumLogWait: Duration = .milliseconds(25_000)

    enum LogWaiter {
        /// Registered, not parked yet.
        case waiting
        case parked(CheckedContinuation<Void, Never>)
    }

    /// The entries with index ≥ `index` (at most `limit`), as soon as one exists; [] once
    /// `timeout` (at most 25 s) passes on the injected clock with none.
    public func waitForLog(after index: UInt64, limit: Int = 64, timeout: Duration) async -> [StoredLogEntry] {
        if log.length <= index, timeout > .zero {
            let id = nextLogWaiter
            nextLogWaiter += 1
            logWaiters[id] = .waiting
            let clock = self.clock
            let wait = min(timeout, Self.maximumLogWait)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.park(id, after: index) }
                group.addTask { try? await clock.sleep(for: wait) }
                await group.next()
                group.cancelAll()
                release(id)
            }
        }
        return Array(log.entries.dropFirst(Int(min(index, log.length))).prefix(max(0, limit)))
    }

    /// Parks until the log reaches past `index` or the waiter is released (timed out).
    private func park(_ id: UInt64, after index: UInt64) async {
        while case .waiting = logWaiters[id], log.length <= index {
            await withCheckedContinuation { logWaiters[id] = .parked($0) }
        }
    }

    private func release(_ id: UInt64) {
        if case .parked(let continuation) = logWaiters.removeValue(forKey: id) { continuation.resume() }
    }

    /// Wakes every parked waiter to look at the log again: called after entries are appended.
    func logGrew() {
        for (id, waiter) in logWaiters {
            guard case .parked(let continuation) = waiter else { continue }
            logWaiters[id] = .waiting
            continuation.resume()
        }
    }
}
