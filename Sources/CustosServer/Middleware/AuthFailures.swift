import CustosKeystore
import CustosStore
import Foundation
import Synchronization

/// Failed authentications per client address: a token bucket of `perMinute` failures
/// (refilled continuously) decides when an address is refused outright (429) without
/// its token being looked at. The table is bounded: past `maxAddresses`, addresses
/// share one overflow bucket.
final class AuthFailureLimiter: Sendable {
    let perMinute: Int
    let maxAddresses: Int
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])
    static let overflow = "other"

    init(perMinute: Int, maxAddresses: Int = 10_000) {
        self.perMinute = perMinute
        self.maxAddresses = maxAddresses
    }

    /// Seconds until `source` may try again, or nil when it may try now.
    func retryAfter(_ source: String, now: ContinuousClock.Instant = .now) -> Int? {
        guard perMinute > 0 else { return nil }
        return buckets.withLock { buckets in
            guard let bucket = buckets[key(source, in: buckets)] else { return nil }
            let tokens = refilled(bucket, now: now)
            return tokens >= 1 ? nil : Int(((1 - tokens) * 60 / Double(perMinute)).rounded(.up))
        }
    }

    /// Spends one failure of `source`'s allowance.
    func failed(_ source: String, now: ContinuousClock.Instant = .now) {
        guard perMinute > 0 else { return }
        buckets.withLock { buckets in
            if buckets[source] == nil && buckets.count >= maxAddresses {
                // Addresses whose allowance refilled carry no state worth keeping.
                buckets = buckets.filter { refilled($0.value, now: now) < Double(perMinute) }
            }
            let name = key(source, in: buckets)
            let tokens = buckets[name].map { refilled($0, now: now) } ?? Double(perMinute)
            buckets[name] = (max(0, tokens - 1), now)
        }
    }

    private func key(_ source: String, in buckets: [String: (tokens: Double, at: ContinuousClock.Instant)]) -> String {
        buckets[source] != nil || buckets.count < maxAddresses ? source : Self.overflow
    }

    private func refilled(_ bucket: (tokens: Double, at: ContinuousClock.Instant), now: ContinuousClock.Instant) -> Double {
        let elapsed = now - bucket.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(Double(perMinute), bucket.tokens + seconds * Double(perMinute) / 60)
    }
}

/// Audit records of refused authentications, aggregated: the first refusal of a
/// (source, reason) is recorded at once; later ones are counted and written as one
/// record with `count` when the interval ends (`drain`). A sustained flood thus costs
/// one record per source and reason per interval; the sum of `count` over the records
/// is the number of refusals. The table is bounded like the limiter's.
final class DenialAudit: Sendable {
    let maxKeys: Int
    private struct Key: Hashable { var source: String; var reason: String }
    private struct Tally { var suppressed: Int; var route: String; var method: String }
    private let tallies = Mutex<[Key: Tally]>([:])

    init(maxKeys: Int = 10_000) { self.maxKeys = maxKeys }

    /// The record to write now, or nil when this refusal is only counted.
    func note(source: String, reason: String, route: String, method: String, time: Date = .now) -> AuditEvent? {
        tallies.withLock { tallies in
            var key = Key(source: source, reason: reason)
            if tallies[key] == nil && tallies.count >= maxKeys { key.source = AuthFailureLimiter.overflow }
            if var tally = tallies[key] {
                tally.suppressed += 1
                tally.route = route
                tally.method = method
                tallies[key] = tally
                return nil
            }
            tallies[key] = Tally(suppressed: 0, route: route, method: method)
            return Self.event(key, count: 1, route: route, method: method, time: time)
        }
    }

    /// One record per (source, reason) with refusals counted since the last drain. A
    /// key that stayed quiet for a whole interval is forgotten, so its next refusal is
    /// again recorded at once.
    func drain(time: Date = .now) -> [AuditEvent] {
        tallies.withLock { tallies in
            var events: [AuditEvent] = []
            for (key, tally) in tallies.sorted(by: { ($0.key.source, $0.key.reason) < ($1.key.source, $1.key.reason) }) {
                if tally.suppressed > 0 {
                    events.append(Self.event(key, count: tally.suppressed, route: tally.route, method: tally.method, time: time))
                    tallies[key]?.suppressed = 0
                } else {
                    tallies[key] = nil
                }
            }
            return events
        }
    }

    private static func event(_ key: Key, count: Int, route: String, method: String, time: Date) -> AuditEvent {
        AuditEvent(time: time, actor: "anonymous", operation: .authorization, outcome: .denied,
                   details: ["reason": key.reason, "source": key.source, "count": String(count), "route": route, "method": method])
    }
}
