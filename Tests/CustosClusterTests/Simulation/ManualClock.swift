import CustosCluster
import Foundation
import Synchronization

/// Virtual time: `now()` moves only when the test calls `advance(by:)`, and a sleeper wakes
/// once virtual time reaches its deadline (or when its task is cancelled). Nothing waits on
/// the real clock, so timeouts in the simulation are deterministic.
final class ManualClock: ClusterClock {
    private struct Sleeper {
        let id: UInt64
        let deadline: Duration
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var elapsed: Duration = .zero
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        /// Tests waiting for at least `count` sleepers to be parked.
        var sleeperWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let start: Date
    private let state = Mutex(State())

    init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { self.start = start }

    func now() -> Date {
        let elapsed = state.withLock { $0.elapsed }
        return start.addingTimeInterval(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    var pendingSleepers: Int { state.withLock { $0.sleepers.count } }

    func sleep(for duration: Duration) async throws {
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resumeNow, ready) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if duration <= .zero || Task.isCancelled { return (true, []) }
                    s.sleepers.append(Sleeper(id: id, deadline: s.elapsed + duration, continuation: continuation))
                    let count = s.sleepers.count
                    let ready = s.sleeperWaiters.filter { $0.count <= count }.map(\.continuation)
                    s.sleeperWaiters.removeAll { $0.count <= count }
                    return (false, ready)
                }
                if resumeNow { continuation.resume() }
                for waiter in ready { waiter.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Returns once at least `count` sleepers are parked, so a test advances time only when the
    /// waits it means to end have begun: deterministic, without real sleeps.
    func waitForSleepers(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.sleepers.count >= count { return true }
                s.sleeperWaiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Moves virtual time forward and wakes every sleeper whose deadline has passed.
    func advance(by duration: Duration) {
        let due = state.withLock { s -> [Sleeper] in
            s.elapsed += duration
            let due = s.sleepers.filter { $0.deadline <= s.elapsed }.sorted { $0.deadline < $1.deadline }
            s.sleepers.removeAll { $0.deadline <= s.elapsed }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
