import Foundation
import Synchronization

/// The server-sent event streams of the key log open at once, bounded: past `maximum` a new
/// stream is refused (503) rather than queued. Each stream holds a ticket from `open()`; the
/// ticket frees its place when the stream ends, or when its response is dropped unwritten.
final class LogStreams: Sendable {
    let maximum: Int
    /// A `: keep-alive` comment after this long without an entry (proxies close silent streams).
    let keepAlive: Duration
    /// A stream ends after this long; the reader resumes with `Last-Event-ID`. Bounds how long a
    /// reader holds a place, and so how long a stalled one can.
    let lifetime: Duration
    private let open = Mutex(0)

    init(maximum: Int, keepAlive: Duration = .seconds(15), lifetime: Duration = .seconds(3600)) {
        self.maximum = maximum
        self.keepAlive = keepAlive
        self.lifetime = lifetime
    }

    var count: Int { open.withLock { $0 } }

    /// A place for one more stream, or nil when all are taken.
    func ticket() -> Ticket? {
        let granted = open.withLock { count -> Bool in
            guard count < maximum else { return false }
            count += 1
            return true
        }
        return granted ? Ticket(streams: self) : nil
    }

    fileprivate func release() { open.withLock { $0 -= 1 } }

    final class Ticket: Sendable {
        private let streams: LogStreams
        private let released = Mutex(false)
        let deadline: ContinuousClock.Instant

        fileprivate init(streams: LogStreams) {
            self.streams = streams
            deadline = .now + streams.lifetime
        }

        func close() {
            let first = released.withLock { released in
                defer { released = true }
                return !released
            }
            if first { streams.release() }
        }

        deinit { close() }
    }
}
