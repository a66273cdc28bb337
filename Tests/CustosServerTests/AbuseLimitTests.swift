import CustosStore
import Foundation
import Testing

@testable import CustosServer

@Suite("Connection and authentication-failure limits")
struct AbuseLimitTests {
    @Test func connectionsAreCappedInAllAndPerAddress() {
        let limiter = ConnectionLimiter(maximum: 3, perAddress: 2)
        #expect(limiter.admit("a") && limiter.admit("a"))
        #expect(!limiter.admit("a"))
        #expect(limiter.admit("b"))
        #expect(!limiter.admit("c"))  // full in all
        limiter.release("a")
        #expect(limiter.open == 2)
        #expect(limiter.admit("c") && !limiter.admit("c"))
        // 0: no per-address limit.
        let open = ConnectionLimiter(maximum: 2, perAddress: 0)
        #expect(open.admit("a") && open.admit("a") && !open.admit("a"))
    }

    @Test func failuresEmptyTheAllowanceWhichRefills() {
        let limiter = AuthFailureLimiter(perMinute: 3)
        let start = ContinuousClock.now
        for _ in 0..<3 {
            #expect(limiter.retryAfter("a", now: start) == nil)
            limiter.failed("a", now: start)
        }
        #expect(limiter.retryAfter("a", now: start) == 20)  // one failure back every 20 s
        #expect(limiter.retryAfter("b", now: start) == nil)  // another address is not affected
        #expect(limiter.retryAfter("a", now: start + .seconds(15)) == 5)
        #expect(limiter.retryAfter("a", now: start + .seconds(20)) == nil)
        #expect(AuthFailureLimiter(perMinute: 0).retryAfter("a") == nil)
    }

    @Test func theAddressTableIsBounded() {
        let limiter = AuthFailureLimiter(perMinute: 1, maxAddresses: 2)
        let now = ContinuousClock.now
        for address in ["a", "b", "c", "d"] { limiter.failed(address, now: now) }
        // Past the bound, new addresses share one allowance, already spent by "c".
        #expect(limiter.retryAfter("a", now: now) != nil && limiter.retryAfter("d", now: now) != nil)
        #expect(limiter.retryAfter("e", now: now) != nil)
    }

    @Test func refusalsAreRecordedOnceThenCountedPerInterval() throws {
        let denials = DenialAudit()
        let first = try #require(denials.note(source: "10.0.0.1", reason: "invalid-token", route: "/v1/tenants", method: "GET"))
        #expect(first.operation == .authorization && first.outcome == .denied && first.actor == "anonymous")
        #expect(first.details == ["reason": "invalid-token", "source": "10.0.0.1", "count": "1", "route": "/v1/tenants", "method": "GET"])
        for _ in 0..<999 { #expect(denials.note(source: "10.0.0.1", reason: "invalid-token", route: "/v1/x", method: "POST") == nil) }
        #expect(denials.note(source: "10.0.0.1", reason: "rate-limited", route: "/v1/x", method: "GET") != nil)
        #expect(denials.note(source: "10.0.0.2", reason: "invalid-token", route: "/v1/x", method: "GET") != nil)
        let drained = denials.drain()
        #expect(drained.count == 1 && drained[0].details["count"] == "999" && drained[0].details["route"] == "/v1/x")
        // Still flooding: counted into the next interval's record, not recorded at once.
        #expect(denials.note(source: "10.0.0.1", reason: "invalid-token", route: "/v1/x", method: "GET") == nil)
        #expect(denials.drain().map { $0.details["count"] } == ["1"])
        // Quiet for an interval: forgotten, so the next refusal is recorded at once again.
        #expect(denials.drain().isEmpty)
        #expect(denials.note(source: "10.0.0.1", reason: "invalid-token", route: "/v1/x", method: "GET") != nil)
    }

    @Test func theRefusalTableIsBounded() {
        let denials = DenialAudit(maxKeys: 2)
        #expect(denials.note(source: "a", reason: "r", route: "/", method: "GET") != nil)
        #expect(denials.note(source: "b", reason: "r", route: "/", method: "GET") != nil)
        #expect(denials.note(source: "c", reason: "r", route: "/", method: "GET")?.details["source"] == "other")
        #expect(denials.note(source: "d", reason: "r", route: "/", method: "GET") == nil)
        #expect(denials.drain().map { $0.details["source"] } == ["other"])
    }
}
