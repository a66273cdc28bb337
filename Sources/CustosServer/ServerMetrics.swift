import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Metrics
import Prometheus
import Synchronization

/// Custos's own metrics, next to the per-route request counts and latency histograms
/// Hummingbird's MetricsMiddleware records. Exposed in Prometheus text format; every
/// family is described in docs/monitoring.md.
///
/// Values read from the store (audit head, last checkpoint, tokens) are sampled at
/// scrape time at most once per `sampleInterval`, so scrapes cannot load the store that
/// signing appends to; ages are computed from the sample at every scrape.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let signatures: [String: Metrics.Counter]
    private let cacheHits: Metrics.Gauge
    private let cacheMisses: Metrics.Gauge
    private let cacheHitRatio: Metrics.Gauge

    private let rootUnsealed: Prometheus.Gauge
    private let rootStates: [String: Prometheus.Gauge]
    private let rootRefusals: Prometheus.Counter

    private let auditWrite: Prometheus.DurationHistogram
    private let auditRecords: Prometheus.Counter
    private let auditWriteFailures: Prometheus.Counter
    private let sinkFailures: Prometheus.Counter
    private let headSequence: Prometheus.Gauge
    private let checkpointSequence: Prometheus.Gauge
    private let checkpointTimestamp: Prometheus.Gauge
    private let checkpointAge: Prometheus.Gauge

    private let tokensActive: Prometheus.Gauge
    private let tokenExpiries = Mutex<[String: Prometheus.Gauge]>([:])

    private let sampleInterval: Duration
    private let startTime: Double
    private let sample = Mutex<StoreSample?>(nil)
    private let clock: @Sendable () -> Date

    /// Long-lived tokens (created for at least this long) get their own expiry series: short-lived
    /// ones are renewed by their clients, and would make "expires within 7 days" always true.
    static let trackedTokenLifetime: TimeInterval = 30 * 24 * 3600
    /// At most this many token expiry series (the soonest to expire), so the label set stays bounded.
    static let trackedTokenLimit = 50

    /// The figures read from the store, and when.
    private struct StoreSample {
        var at: ContinuousClock.Instant
        var head: Int64
        var checkpoint: (sequence: Int64, time: Date)?
    }

    init(registry: PrometheusCollectorRegistry, rootProvider: String, checkpointInterval: Duration,
         sampleInterval: Duration = .seconds(5), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.registry = registry
        self.sampleInterval = sampleInterval
        self.clock = clock
        let startTime = clock().timeIntervalSince1970
        self.startTime = startTime
        var signatures: [String: Metrics.Counter] = [:]
        for scheme in SignatureScheme.allCases {
            signatures[scheme.rawValue] = Metrics.Counter(label: "custos_signatures_total", dimensions: [("scheme", scheme.rawValue)])
        }
        self.signatures = signatures
        cacheHits = Metrics.Gauge(label: "custos_key_cache_hits")
        cacheMisses = Metrics.Gauge(label: "custos_key_cache_misses")
        cacheHitRatio = Metrics.Gauge(label: "custos_key_cache_hit_ratio")

        rootUnsealed = registry.gauge("custos_root_unsealed", [("provider", rootProvider)],
                                          help: "1 while the root of trust is unsealed (keys usable), else 0.")
        var states: [String: Prometheus.Gauge] = [:]
        for state in ["sealed", "unsealed", "refused"] {
            states[state] = registry.gauge("custos_root_state", [("state", state), ("provider", rootProvider)],
                                               help: "The root of trust's state, one-hot: 1 for the current state.")
        }
        rootStates = states
        rootRefusals = registry.counter("custos_root_refusals_total", [("provider", rootProvider)],
                                            help: "Times the root-of-trust provider went from granting to refusing access.")

        auditWrite = registry.histogram(
            "custos_audit_write_seconds",
            buckets: [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                      .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)],
            help: "Durable audit appends (one transaction, one fsync, however many operations wait for it).")
        auditRecords = registry.counter("custos_audit_records_total",
                                            help: "Audit records appended by this server's audit writer.")
        auditWriteFailures = registry.counter("custos_audit_write_failures_total",
                                                  help: "Audit appends that failed (the operations waiting for them failed too).")
        sinkFailures = registry.counter("custos_audit_sink_failures_total",
                                            help: "Checkpoints the off-node audit sink did not take.")
        headSequence = registry.gauge("custos_audit_head_sequence",
                                          help: "Sequence number of the newest audit record.")
        checkpointSequence = registry.gauge("custos_audit_last_checkpoint_sequence",
                                                help: "Audit record sequence the newest signed checkpoint covers (0: none yet).")
        checkpointTimestamp = registry.gauge("custos_audit_last_checkpoint_timestamp_seconds",
                                                 help: "Unix time of the newest signed audit checkpoint (0: none yet).")
        checkpointAge = registry.gauge("custos_audit_last_checkpoint_age_seconds",
                                           help: "Seconds since the newest signed audit checkpoint (since the server started when there is none).")
        registry.gauge("custos_audit_checkpoint_interval_seconds",
                           help: "The configured audit.checkpoint_interval_seconds (0: only at shutdown).")
            .set(to: Double(checkpointInterval.components.seconds))

        tokensActive = registry.gauge("custos_tokens_active",
                                          help: "API tokens neither revoked nor expired.")
        registry.gauge("custos_build_info", [("schema", "\(SQLiteStore.schemaVersion)")],
                           help: "Always 1; the labels name the store schema version this binary writes.")
            .set(to: 1)
        registry.gauge("process_start_time_seconds",
                           help: "Unix time the server started.")
            .set(to: startTime)
    }

    func signed(scheme: String) {
        signatures[scheme]?.increment()
    }

    /// Feeds the audit histogram and counters from the log's own reports.
    func observe(_ audit: AuditLog) {
        audit.attach(observer: AuditLogObserver(
            committed: { [auditWrite, auditRecords] records, duration in
                auditWrite.record(duration)
                auditRecords.increment(by: Int64(records))
            },
            failed: { [auditWriteFailures] in auditWriteFailures.increment() },
            checkpointed: { [weak self] checkpoint in self?.checkpointed(checkpoint) },
            sinkFailed: { [sinkFailures] in sinkFailures.increment() }))
    }

    /// A checkpoint signed here: shown at once, without waiting for the next sample.
    private func checkpointed(_ checkpoint: AuditCheckpoint) {
        sample.withLock { sample in
            guard var current = sample else { return }
            current.checkpoint = (checkpoint.sequence, checkpoint.time)
            current.head = max(current.head, checkpoint.sequence)
            sample = current
        }
    }

    /// The root's state, from the status stream and at every scrape.
    func rootChanged(to status: RootStatus, from previous: RootStatus?) {
        let state = switch status {
        case .sealed: "sealed"
        case .unsealed: "unsealed"
        case .refused: "refused"
        }
        for (name, gauge) in rootStates { gauge.set(to: name == state ? 1 : 0) }
        rootUnsealed.set(to: status.isReady ? 1 : 0)
        if case .refused = status, let previous, previous.isReady { rootRefusals.increment() }
    }

    /// Follows the root's status changes until cancelled (counts refusals that end between scrapes).
    func watchRoot(_ keys: KeyService) -> Task<Void, Never> {
        Task { [weak self] in
            var previous: RootStatus?
            for await status in keys.rootStatusChanges() {
                self?.rootChanged(to: status, from: previous)
                previous = status
            }
        }
    }

    /// Refreshes sampled values, then renders everything.
    func render(keys: KeyService) async -> [UInt8] {
        let statistics = keys.cacheStatistics
        cacheHits.record(statistics.hits)
        cacheMisses.record(statistics.misses)
        let total = statistics.hits + statistics.misses
        cacheHitRatio.record(total == 0 ? 0 : Double(statistics.hits) / Double(total))
        rootChanged(to: keys.rootStatus, from: nil)
        await refreshStoreSample(keys.store)
        return registry.emitToBuffer()
    }

    private func refreshStoreSample(_ store: any Store) async {
        let now = ContinuousClock.now
        let cached = sample.withLock { $0 }
        if let cached, now - cached.at < sampleInterval {
            publish(cached)
            return
        }
        do {
            let head = try await store.auditHead()
            let latest = try await store.latestCheckpoint()
            let tokens = try await store.tokens(tenantID: nil)
            let fresh = StoreSample(at: now, head: head?.sequence ?? 0, checkpoint: latest.map { ($0.sequence, $0.time) })
            sample.withLock { $0 = fresh }
            publish(fresh)
            publishTokens(tokens)
        } catch {
            // A store that does not answer leaves the last figures (readiness reports the store).
            if let cached { publish(cached) }
        }
    }

    private func publish(_ sample: StoreSample) {
        headSequence.set(to: Double(sample.head))
        let now = clock()
        if let checkpoint = sample.checkpoint {
            checkpointSequence.set(to: Double(checkpoint.sequence))
            checkpointTimestamp.set(to: checkpoint.time.timeIntervalSince1970)
            checkpointAge.set(to: max(0, now.timeIntervalSince(checkpoint.time)))
        } else {
            checkpointSequence.set(to: 0)
            checkpointTimestamp.set(to: 0)
            checkpointAge.set(to: max(0, now.timeIntervalSince1970 - startTime))
        }
    }

    /// Active tokens counted; the long-lived ones that expire soonest get a series each,
    /// and a revoked or expired token's series is removed.
    private func publishTokens(_ records: [TokenRecord]) {
        let now = clock()
        let active = records.filter { $0.revokedAt == nil && $0.expiresAt > now }
        tokensActive.set(to: Double(active.count))
        let tracked = active.filter { $0.expiresAt.timeIntervalSince($0.createdAt) >= Self.trackedTokenLifetime }
            .sorted { ($0.expiresAt, $0.id) < ($1.expiresAt, $1.id) }
            .prefix(Self.trackedTokenLimit)
        tokenExpiries.withLock { gauges in
            let keep = Set(tracked.map(\.id))
            for (id, gauge) in gauges where !keep.contains(id) {
                registry.unregisterGauge(gauge)
                gauges[id] = nil
            }
            for token in tracked {
                let gauge = gauges[token.id] ?? registry.gauge("custos_token_expiry_timestamp_seconds",
                    [("token_id", token.id), ("role", token.role), ("tenant", token.tenantID ?? "")],
                    help: "Unix time a long-lived API token expires (active tokens made for 30 days or more; the 50 soonest).")
                gauges[token.id] = gauge
                gauge.set(to: token.expiresAt.timeIntervalSince1970)
            }
        }
    }
}

private extension PrometheusCollectorRegistry {
    func gauge(_ name: String, _ labels: [(String, String)] = [], help: String) -> Prometheus.Gauge {
        let descriptor = MetricNameDescriptor(metricName: name, helpText: help)
        return labels.isEmpty ? makeGauge(descriptor: descriptor) : makeGauge(descriptor: descriptor, labels: labels)
    }

    func counter(_ name: String, _ labels: [(String, String)] = [], help: String) -> Prometheus.Counter {
        let descriptor = MetricNameDescriptor(metricName: name, helpText: help)
        return labels.isEmpty ? makeCounter(descriptor: descriptor) : makeCounter(descriptor: descriptor, labels: labels)
    }

    func histogram(_ name: String, buckets: [Duration], help: String) -> Prometheus.DurationHistogram {
        makeDurationHistogram(descriptor: MetricNameDescriptor(metricName: name, helpText: help), buckets: buckets)
    }
}
