import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Prometheus
import Synchronization
import Testing

@testable import CustosServer

/// The values of the monitoring metrics, read back from the Prometheus exposition.
@Suite struct ServerMetricsTests {
    /// A clock the test moves forward.
    final class TestClock: Sendable {
        private let offset = Mutex<TimeInterval>(0)
        func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
        func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
    }

    /// Sample lines (`name{labels} value`) of one scrape, keyed by everything before the value.
    static func samples(_ metrics: ServerMetrics, _ keys: KeyService) async -> [String: Double] {
        let text = String(decoding: await metrics.render(keys: keys), as: UTF8.self)
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    static func metrics(_ clock: TestClock, sampleInterval: Duration = .zero) -> ServerMetrics {
        ServerMetrics(registry: PrometheusCollectorRegistry(), rootProvider: "passphrase", checkpointInterval: .seconds(60),
                      sampleInterval: sampleInterval, clock: { clock.now() })
    }

    @Test func rootStateIsOneHotAndRefusalsAreCounted() async throws {
        let store = try await TestKeystore.open("custos-metrics-root")
        defer { store.remove() }
        let metrics = Self.metrics(TestClock())
        var samples = await Self.samples(metrics, store.keys)
        #expect(samples[#"custos_root_unsealed{provider="passphrase"}"#] == 1)
        #expect(samples[#"custos_root_state{state="unsealed",provider="passphrase"}"#] == 1)
        #expect(samples[#"custos_root_state{state="refused",provider="passphrase"}"#] == 0)
        #expect(samples[#"custos_root_state{state="sealed",provider="passphrase"}"#] == 0)
        #expect(samples[#"custos_root_refusals_total{provider="passphrase"}"#] == 0)

        // As the status stream reports a refusal and a recovery (a real provider's refusal is
        // exercised end to end by interop/test_roots.py).
        let unsealed = RootStatus.unsealed(provider: "passphrase", rootKeyID: "r"), refused = RootStatus.refused(provider: "passphrase", reason: "x")
        metrics.rootChanged(to: refused, from: unsealed)
        let text = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"custos_root_unsealed{provider="passphrase"} 0"#))
        #expect(text.contains(#"custos_root_state{state="refused",provider="passphrase"} 1"#))
        #expect(text.contains(#"custos_root_state{state="unsealed",provider="passphrase"} 0"#))
        metrics.rootChanged(to: refused, from: refused)  // no new refusal
        metrics.rootChanged(to: unsealed, from: refused)
        samples = await Self.samples(metrics, store.keys)
        #expect(samples[#"custos_root_refusals_total{provider="passphrase"}"#] == 1)
        #expect(samples[#"custos_root_unsealed{provider="passphrase"}"#] == 1)
        try await store.keys.close()
    }

    @Test func checkpointAgeGrowsAndResetsAfterACheckpoint() async throws {
        let store = try await TestKeystore.open("custos-metrics-checkpoint")
        defer { store.remove() }
        let keys = store.keys, clock = TestClock()
        let metrics = Self.metrics(clock)
        try await keys.audit.record(AuditEvent(time: .now, actor: "test", operation: .unseal, outcome: .success))
        var samples = await Self.samples(metrics, keys)
        let head = try #require(samples["custos_audit_head_sequence"])
        #expect(head >= 1)
        #expect(samples["custos_audit_last_checkpoint_sequence"] == 0)
        #expect(samples["custos_audit_last_checkpoint_timestamp_seconds"] == 0)
        #expect(samples["custos_audit_checkpoint_interval_seconds"] == 60)

        // Another process (the CLI's `audit checkpoint`) signs a checkpoint: read from the store.
        let signed = try #require(try await keys.audit.checkpoint())
        samples = await Self.samples(metrics, keys)
        #expect(samples["custos_audit_last_checkpoint_sequence"] == Double(signed.sequence))
        #expect(samples["custos_audit_last_checkpoint_timestamp_seconds"] == signed.time.timeIntervalSince1970)
        #expect(try #require(samples["custos_audit_last_checkpoint_age_seconds"]) < 5)

        clock.advance(600)
        samples = await Self.samples(metrics, keys)
        let aged = try #require(samples["custos_audit_last_checkpoint_age_seconds"])
        // The checkpoint's own time is the wall clock's: a loaded machine may add seconds.
        #expect(aged >= 600 && aged < 660, "the age grows with the clock: \(aged)")

        // After a restart: a new metrics instance finds the checkpoint in the store.
        let restarted = Self.metrics(clock)
        samples = await Self.samples(restarted, keys)
        #expect(samples["custos_audit_last_checkpoint_sequence"] == Double(signed.sequence))
        #expect(try #require(samples["custos_audit_last_checkpoint_age_seconds"]) >= 600)

        // A checkpoint signed by this server shows at once, even between store samples.
        let cached = Self.metrics(clock, sampleInterval: .seconds(3600))
        cached.observe(keys.audit)
        _ = await Self.samples(cached, keys)
        try await keys.audit.record(AuditEvent(time: .now, actor: "test", operation: .unseal, outcome: .success))
        clock.advance(-600)
        let next = try #require(try await keys.audit.checkpoint())
        samples = await Self.samples(cached, keys)
        #expect(next.sequence > signed.sequence)
        #expect(samples["custos_audit_last_checkpoint_sequence"] == Double(next.sequence))
        #expect(try #require(samples["custos_audit_last_checkpoint_age_seconds"]) < 5)
        try await keys.close()
    }

    @Test func auditWritesAreTimedOncePerCommitAndRecordsCounted() async throws {
        let store = try await TestKeystore.open("custos-metrics-audit")
        defer { store.remove() }
        let keys = store.keys
        let metrics = Self.metrics(TestClock())
        metrics.observe(keys.audit)
        let tenant = try TenantID(validating: "acme"), alias = try KeyAlias(validating: "k")
        _ = try await keys.createTenant(tenant, by: .local)
        _ = try await keys.generateKey(KeySpec(tenant: "acme", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let before = await Self.samples(metrics, keys)
        let operations = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<operations {
                group.addTask { _ = try await keys.sign(tenant: tenant, alias: alias, message: Array("m\(index)".utf8), by: .local) }
            }
            try await group.waitForAll()
        }
        let after = await Self.samples(metrics, keys)
        let records = try #require(after["custos_audit_records_total"]) - (before["custos_audit_records_total"] ?? 0)
        let commits = try #require(after["custos_audit_write_seconds_count"]) - (before["custos_audit_write_seconds_count"] ?? 0)
        #expect(records == Double(operations), "one record per signature")
        #expect(commits >= 1 && commits <= Double(operations), "concurrent signatures share commits: \(commits)")
        #expect(try #require(after["custos_audit_write_seconds_sum"]) > (before["custos_audit_write_seconds_sum"] ?? 0))
        #expect(after[#"custos_audit_write_seconds_bucket{le="+Inf"}"#] == after["custos_audit_write_seconds_count"])
        #expect(after["custos_audit_write_failures_total"] == 0)
        try await keys.close()
    }

    /// A sink that refuses every head.
    struct RefusingSink: AuditHeadSink {
        struct Refused: Error {}
        var location: String { "test sink" }
        func publish(_ head: AuditCheckpoint, publicKey: SigningPublicKey) async throws { throw Refused() }
        func latest() async throws -> AuditCheckpoint? { nil }
    }

    @Test func sinkFailuresAreCounted() async throws {
        let store = try await TestKeystore.open("custos-metrics-sink")
        defer { store.remove() }
        let keys = store.keys
        let metrics = Self.metrics(TestClock())
        metrics.observe(keys.audit)
        keys.audit.attach(sink: RefusingSink())
        try await keys.audit.record(AuditEvent(time: .now, actor: "test", operation: .unseal, outcome: .success))
        await #expect(throws: RefusingSink.Refused.self) { try await keys.audit.checkpoint() }
        var samples = await Self.samples(metrics, keys)
        #expect(samples["custos_audit_sink_failures_total"] == 1)
        // The checkpoint was stored; the next attempt publishes it again, and fails again.
        await #expect(throws: RefusingSink.Refused.self) { try await keys.audit.checkpoint() }
        samples = await Self.samples(metrics, keys)
        #expect(samples["custos_audit_sink_failures_total"] == 2)
        try await keys.close()
    }

    @Test func longLivedTokensHaveTheirExpiryUntilRevokedAndTheSeriesAreBounded() async throws {
        let store = try await TestKeystore.open("custos-metrics-tokens")
        defer { store.remove() }
        let keys = store.keys
        let tokens = TokenService(store: keys.store, audit: keys.audit)
        let metrics = Self.metrics(TestClock())
        let tenant = try TenantID(validating: "acme")
        _ = try await keys.createTenant(tenant, by: .local)
        let long = try await tokens.create(tenant: tenant, role: .signer, lifetime: 90 * 86400, by: .local)
        _ = try await tokens.create(tenant: nil, role: .admin, lifetime: 3600, by: .local)
        var samples = await Self.samples(metrics, keys)
        let series = #"custos_token_expiry_timestamp_seconds{token_id="\#(long.info.id)",role="signer",tenant="acme"}"#
        #expect(samples[series] == long.info.expiresAt.timeIntervalSince1970)
        #expect(samples.keys.filter { $0.hasPrefix("custos_token_expiry_timestamp_seconds") }.count == 1, "short-lived tokens get no series")
        #expect(samples["custos_tokens_active"] == 2)
        // The bearer's secret is never in the exposition.
        let text = String(decoding: await metrics.render(keys: keys), as: UTF8.self)
        let bearer = String(decoding: long.bearer.copyBytes(), as: UTF8.self)
        #expect(!text.contains(String(bearer.suffix(20))))

        _ = try await tokens.revoke(id: long.info.id, by: .local)
        samples = await Self.samples(metrics, keys)
        #expect(samples[series] == nil, "a revoked token's series is removed")
        #expect(samples["custos_tokens_active"] == 1)

        // More long-lived tokens than the bound: the soonest to expire are kept.
        var created: [CreatedToken] = []
        for index in 0..<(ServerMetrics.trackedTokenLimit + 3) {
            created.append(try await tokens.create(tenant: nil, role: .auditor, lifetime: Double(40 + index) * 86400, by: .local))
        }
        samples = await Self.samples(metrics, keys)
        let tracked = Set(samples.keys.filter { $0.hasPrefix("custos_token_expiry_timestamp_seconds") })
        #expect(tracked.count == ServerMetrics.trackedTokenLimit)
        let latest = created.suffix(3).map(\.info.id)
        #expect(tracked.allSatisfy { line in !latest.contains { line.contains($0) } }, "the latest to expire are left out")
        try await keys.close()
    }
}
