import CustosCrypto
import CustosKeystore
import Metrics
import Prometheus

/// Custos's own metrics, next to the per-route request counts and latency histograms
/// Hummingbird's MetricsMiddleware records. Exposed in Prometheus text format.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let signatures: [String: Metrics.Counter]
    private let cacheHits: Metrics.Gauge
    private let cacheMisses: Metrics.Gauge
    private let cacheHitRatio: Metrics.Gauge

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        var signatures: [String: Metrics.Counter] = [:]
        for scheme in SignatureScheme.allCases {
            signatures[scheme.rawValue] = Metrics.Counter(label: "custos_signatures_total", dimensions: [("scheme", scheme.rawValue)])
        }
        self.signatures = signatures
        cacheHits = Metrics.Gauge(label: "custos_key_cache_hits")
        cacheMisses = Metrics.Gauge(label: "custos_key_cache_misses")
        cacheHitRatio = Metrics.Gauge(label: "custos_key_cache_hit_ratio")
    }

    func signed(scheme: String) {
        signatures[scheme]?.increment()
    }

    /// Refreshes sampled values, then renders everything.
    func render(keys: KeyService) -> [UInt8] {
        let statistics = keys.cacheStatistics
        cacheHits.record(statistics.hits)
        cacheMisses.record(statistics.misses)
        let total = statistics.hits + statistics.misses
        cacheHitRatio.record(total == 0 ? 0 : Double(statistics.hits) / Double(total))
        return registry.emitToBuffer()
    }
}
