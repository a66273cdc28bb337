import Foundation
import Testing

@testable import CustosServer

@Suite("Request deadlines")
struct RequestDeadlineTests {
    /// CPU-heavy handlers (RSA-4096 generation, large batches) can hold every thread of
    /// Swift's cooperative pool; the clock must still cancel on time.
    @Test func theClockCancelsWhileEveryCooperativeThreadIsBusy() async throws {
        let deadlines = RequestDeadlines(timeout: .milliseconds(200), resolution: .milliseconds(20))
        let clock = Task { try await deadlines.run() }
        defer { clock.cancel() }
        try await Task.sleep(for: .milliseconds(50))
        let spinFor = Duration.milliseconds(1500)
        let sawCancellation = try await withThrowingTaskGroup(of: Bool.self) { group in
            // Spinners that never suspend: with the request they fill the pool (one
            // thread per core) for longer than the request spins.
            for _ in 0..<max(1, ProcessInfo.processInfo.activeProcessorCount - 1) {
                group.addTask {
                    let until = ContinuousClock.now + .seconds(3)
                    while ContinuousClock.now < until {}
                    return true
                }
            }
            group.addTask {
                (try? await deadlines.enforce { () async -> Bool in
                    let until = ContinuousClock.now + spinFor
                    while ContinuousClock.now < until {
                        if Task.isCancelled { return true }
                    }
                    return false
                }) ?? true
            }
            var all = true
            for try await result in group { all = all && result }
            return all
        }
        #expect(sawCancellation)
    }

    @Test func aRequestPastItsDeadlineIsCancelledAndAnsweredTimeout() async throws {
        let deadlines = RequestDeadlines(timeout: .milliseconds(200), resolution: .milliseconds(20))
        let clock = Task { try await deadlines.run() }
        defer { clock.cancel() }
        let started = ContinuousClock.now
        // In a task of its own, as the server runs each request.
        let request = Task {
            try await deadlines.enforce {
                // Sleeps far past the deadline unless cancelled.
                try await Task.sleep(for: .seconds(3600))
                return 1
            }
        }
        await #expect(throws: Problem.self) { try await request.value }
        // Well short of the sleep, so it was cancelled; the bound is loose because the
        // cancelled request still needs a worker thread, shared with the CPU-heavy
        // suites running alongside.
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(600), "\(elapsed)")
        #expect(deadlines.inFlight == 0)
    }

    @Test func aHandlerThatIgnoresCancellationStillGetsTimeout() async throws {
        let deadlines = RequestDeadlines(timeout: .milliseconds(100), resolution: .milliseconds(10))
        do {
            _ = try await deadlines.enforce {
                let until = ContinuousClock.now + .milliseconds(150)
                while ContinuousClock.now < until { deadlines.expire() }
                return "finished late"
            }
            Issue.record("a late result was returned")
        } catch let problem as Problem {
            #expect(problem.code == "timeout" && problem.status == 503)
        }
    }

    @Test func requestsWithinTheirDeadlineAreUntouched() async throws {
        let deadlines = RequestDeadlines(timeout: .seconds(10), resolution: .milliseconds(10))
        let value = try await deadlines.enforce {
            deadlines.expire()
            #expect(!Task.isCancelled)
            #expect(deadlines.inFlight == 1)
            return 42
        }
        #expect(value == 42 && deadlines.inFlight == 0)
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await deadlines.enforce { throw Refused() } }
        #expect(deadlines.inFlight == 0)
    }

    @Test func expiringLeavesOtherRequestsAlone() async throws {
        let deadlines = RequestDeadlines(timeout: .milliseconds(500), resolution: .milliseconds(10))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await #expect(throws: Problem.self) {
                    try await deadlines.enforce { try await Task.sleep(for: .seconds(30)) }
                }
            }
            while deadlines.inFlight == 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(600))
            // The first request is overdue; a second one, just started, is not.
            try await deadlines.enforce {
                deadlines.expire()
                #expect(!Task.isCancelled)
            }
            try await group.next()
        }
        #expect(deadlines.inFlight == 0)
    }

    /// A long-poll measures its wait from the request's own deadline: time already
    /// spent before the wait (queueing, authentication under load) is not granted twice.
    @Test func aDeliberateWaitIsMeasuredFromTheRequestsDeadline() async throws {
        let deadlines = RequestDeadlines(timeout: .seconds(2), resolution: .milliseconds(10))
        #expect(RequestDeadlines.wait(atMost: .seconds(25), margin: .seconds(1)) == .seconds(25), "no request, no deadline")
        try await deadlines.enforce {
            let fresh = RequestDeadlines.wait(atMost: .seconds(25), margin: .milliseconds(500))
            #expect(fresh <= .milliseconds(1500) && fresh > .milliseconds(1000), "\(fresh)")
            #expect(RequestDeadlines.wait(atMost: .milliseconds(100), margin: .milliseconds(500)) == .milliseconds(100))
            try await Task.sleep(for: .milliseconds(700))
            let late = RequestDeadlines.wait(atMost: .seconds(25), margin: .milliseconds(500))
            #expect(late <= .milliseconds(800), "\(late)")
            #expect(RequestDeadlines.wait(atMost: .seconds(25), margin: .seconds(2)) == .zero)
        }
    }
}
