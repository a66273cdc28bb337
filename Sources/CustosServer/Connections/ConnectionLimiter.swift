import Synchronization

/// Counts open connections, in all and per client address, and says whether one more
/// may open. Shared by every event loop, hence the lock; the table holds only
/// addresses with a connection open, so its size is bounded by `maximum`.
final class ConnectionLimiter: Sendable {
    let maximum: Int
    /// 0: no per-address limit.
    let perAddress: Int
    private let state = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

    init(maximum: Int, perAddress: Int) {
        self.maximum = maximum
        self.perAddress = perAddress
    }

    /// Takes a place for a connection from `address`, or returns false when full.
    func admit(_ address: String) -> Bool {
        state.withLock { state in
            let fromAddress = state.byAddress[address, default: 0]
            guard state.total < maximum, perAddress == 0 || fromAddress < perAddress else { return false }
            state.total += 1
            state.byAddress[address] = fromAddress + 1
            return true
        }
    }

    /// Gives back the place of a connection that closed.
    func release(_ address: String) {
        state.withLock { state in
            state.total -= 1
            let left = state.byAddress[address, default: 1] - 1
            state.byAddress[address] = left > 0 ? left : nil
        }
    }

    var open: Int { state.withLock { $0.total } }
}
