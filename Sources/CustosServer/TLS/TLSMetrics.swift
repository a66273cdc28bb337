import Foundation
import Metrics
import Synchronization

/// The TLS metrics: reloads, refused reloads, refused client certificates by reason,
/// and per certificate its days left (`custos_tls_certificate_days_left{certificate=…}`)
/// and its expiry time (`custos_tls_certificate_expiry_timestamp_seconds{certificate=…}`).
final class TLSMetrics: Sendable {
    private let reloads = Metrics.Counter(label: "custos_tls_reloads_total")
    private let reloadFailures = Metrics.Counter(label: "custos_tls_reload_failures_total")
    private let renewals = Metrics.Counter(label: "custos_tls_renewals_total")
    private let refusals = Mutex<[String: Metrics.Counter]>([:])

    func reloaded() { reloads.increment() }
    func reloadFailed() { reloadFailures.increment() }
    func renewed() { renewals.increment() }

    func refused(_ reason: String) {
        let counter = refusals.withLock { counters in
            if let counter = counters[reason] { return counter }
            let counter = Metrics.Counter(label: "custos_tls_client_refusals_total", dimensions: [("reason", reason)])
            counters[reason] = counter
            return counter
        }
        counter.increment()
    }

    /// Sampled when metrics are rendered, so the figure is current.
    func recordDaysLeft(_ certificates: [(label: String, notAfter: Date)], now: Date = Date()) {
        for certificate in certificates {
            Metrics.Gauge(label: "custos_tls_certificate_days_left", dimensions: [("certificate", certificate.label)])
                .record(TLSExpiry.daysLeft(certificate.notAfter, now: now))
            Metrics.Gauge(label: "custos_tls_certificate_expiry_timestamp_seconds", dimensions: [("certificate", certificate.label)])
                .record(certificate.notAfter.timeIntervalSince1970)
        }
    }
}
