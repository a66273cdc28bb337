import Dispatch
import Foundation
import Hummingbird
import ServiceLifecycle
import Synchronization

/// Bounds each request's time. The handler runs in one child task; at the deadline it
/// is cancelled and the client gets 503 `timeout`.
///
/// One `RequestDeadlines` clock serves every request: a per-request timer (a sleeping
/// task each) cost more CPU than signing an Ed25519 message.
struct TimeoutMiddleware: RouterMiddleware {
    typealias Context = CustosRequestContext
    let deadlines: RequestDeadlines

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let deadlines = self.deadlines
        // The task group waits for its child before returning, so `next` does not
        // outlive this call even though the child runs it.
        return try await withoutActuallyEscaping(next) { next in
            let handler = UncheckedSendable(next)
            return try await withThrowingTaskGroup(of: Response.self) { group in
                group.addTask {
                    try await deadlines.enforce { try await handler.value(request, context) }
                }
                return try await group.next()!
            }
        }
    }
}

/// The deadlines of the requests in flight, and the service that enforces them.
///
/// A request registers its own task on entry and removes it before it returns, both
/// under the lock; the clock cancels only registered tasks, so it never touches a
/// task after its request ended.
final class RequestDeadlines: Service, Sendable {
    let timeout: Duration
    let resolution: Duration
    private let state = Mutex(State())
    private let clockRunning = Mutex(false)

    private struct State {
        var nextID = 0
        var entries: [Int: Entry] = [:]
    }

    private struct Entry: Sendable {
        let deadline: ContinuousClock.Instant
        let task: RegisteredTask
        var expired = false
    }

    /// A request's task, valid while the entry is registered (see above).
    private struct RegisteredTask: @unchecked Sendable {
        let task: UnsafeCurrentTask
    }

    /// `resolution` is how late past its deadline a request may be cancelled.
    init(timeout: Duration, resolution: Duration = .milliseconds(100)) {
        self.timeout = timeout
        self.resolution = min(resolution, timeout / 4)
    }

    /// Runs `body` in the current task under the deadline; throws `Problem.timeout`
    /// if the deadline passed, whatever `body` returned or threw.
    func enforce<T>(_ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        let id = withUnsafeCurrentTask { task -> Int? in
            guard let task else { return nil }
            return state.withLock { state in
                state.nextID &+= 1
                state.entries[state.nextID] = Entry(deadline: deadline, task: RegisteredTask(task: task))
                return state.nextID
            }
        }
        guard let id else { return try await body() }
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await Self.$current.withValue(deadline) { try await body() })
        } catch {
            outcome = .failure(error)
        }
        let expired = state.withLock { $0.entries.removeValue(forKey: id)?.expired ?? false }
        if expired { throw Problem.timeout }
        return try outcome.get()
    }

    /// The deadline of the request running in this task, if any: a handler that waits
    /// on purpose (a long-poll) measures its wait from it, since the time already spent
    /// (queueing, authentication) counts against the same deadline.
    @TaskLocal static var current: ContinuousClock.Instant?

    /// How long a handler may still wait and answer in time: what is left of its
    /// deadline less `margin` for writing the answer, and never more than `most`.
    static func wait(atMost most: Duration, margin: Duration) -> Duration {
        guard let deadline = current else { return most }
        return max(.zero, min(most, deadline - .now - margin))
    }

    /// Cancels every request past its deadline.
    func expire(now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            for (id, entry) in state.entries where !entry.expired && entry.deadline <= now {
                state.entries[id]?.expired = true
                entry.task.task.cancel()
            }
        }
    }

    /// Requests under a deadline right now.
    var inFlight: Int { state.withLock { $0.entries.count } }

    /// The clock: checks deadlines every `resolution` on a thread of its own, so
    /// handlers holding every thread of Swift's cooperative pool (RSA-4096
    /// generation, large batches) cannot hold it back. It stops after the HTTP server
    /// has drained (services shut down in reverse order), so draining requests keep
    /// their deadlines.
    func run() async throws {
        clockRunning.withLock { $0 = true }
        let tick = Double(resolution.components.seconds) + Double(resolution.components.attoseconds) / 1e18
        let stopped = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            while clockRunning.withLock({ $0 }) {
                Thread.sleep(forTimeInterval: tick)
                expire()
            }
            stopped.signal()
        }
        thread.name = "custos-deadlines"
        thread.start()
        try? await gracefulShutdown()
        clockRunning.withLock { $0 = false }
        // The thread notices within one tick; waiting here keeps it from outliving us.
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                stopped.wait()
                continuation.resume()
            }
        }
    }
}

/// Carries a non-Sendable value into a child task whose lifetime is bounded by the
/// caller (a task group awaited before returning).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
