import Foundation

/// Calls to peers, bounded in concurrency and each in time (through the injected clock, so the
/// simulation's timeouts are deterministic). A peer that fails or times out yields an error in
/// its slot; nothing here retries.
struct PeerFanOut: Sendable {
    let transport: any PeerTransport
    let clock: any ClusterClock
    let timeout: Duration
    let maximumConcurrent: Int

    struct TimedOut: Error {}

    /// Sends `request` to one peer; throws `TimedOut` when `timeout` passes first.
    func send(_ request: [UInt8], to peer: ReplicaID) async throws -> [UInt8] {
        // The deadline is fixed before either child runs, so a late start does not extend it.
        let deadline = clock.now().addingTimeInterval(Self.seconds(timeout))
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { try await transport.send(request, to: peer) }
            group.addTask {
                let remaining = deadline.timeIntervalSince(clock.now())
                if remaining > 0 { try await clock.sleep(for: .nanoseconds(Int64(remaining * 1e9))) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else { throw TimedOut() }
            return response
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Sends to every peer in `peers`, at most `maximumConcurrent` at once, and hands each
    /// response (or its error) to `handle` in completion order, on the caller's task. Returns
    /// early once `handle` returns false.
    func broadcast(isolation: isolated (any Actor)? = #isolation, _ request: (ReplicaID) -> [UInt8], to peers: [ReplicaID],
                   handle: (ReplicaID, Result<[UInt8], any Error>) async -> Bool) async {
        await withTaskGroup(of: (ReplicaID, Result<[UInt8], any Error>).self) { group in
            var pending = peers[...]
            func launch() {
                guard let peer = pending.popFirst() else { return }
                let body = request(peer)
                group.addTask {
                    do { return (peer, .success(try await send(body, to: peer))) } catch { return (peer, .failure(error)) }
                }
            }
            for _ in 0..<max(1, maximumConcurrent) { launch() }
            while let (peer, result) = await group.next() {
                guard await handle(peer, result) else {
                    group.cancelAll()
                    return
                }
                launch()
            }
        }
    }
}
