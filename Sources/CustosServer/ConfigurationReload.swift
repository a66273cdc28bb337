import CustosKeystore
import CustosStore
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

extension ServerConfiguration {
    /// Keys a running server takes from a reloaded configuration; a change to any other
    /// key is reported as needing a restart and the value in use stays.
    public static let reloadableKeys: Set<String> = [
        "log.level", "log.format",
        "tls.certificate", "tls.private_key", "tls.key", "tls.client_ca", "tls.client_pins", "tls.client_pins_file",
        "tls.keystore_trust", "tls.client_auth", "tls.reload_interval_ms", "tls.renew_before_days",
    ]

    /// Every key with the value in force, as text (for comparing two configurations).
    public var settings: [String: String] {
        var values = Dictionary(uniqueKeysWithValues: Self.keys.keys.map { ($0, "") })
        values["server.host"] = host
        values["server.port"] = "\(port)"
        values["server.max_body_bytes"] = "\(maxBodyBytes)"
        values["server.request_timeout_seconds"] = "\(requestTimeout)"
        values["server.batch_max_items"] = "\(batchMaxItems)"
        values["server.header_timeout_seconds"] = "\(headerTimeout)"
        values["server.idle_timeout_seconds"] = "\(idleTimeout)"
        values["server.max_connections"] = "\(maxConnections)"
        values["server.max_connections_per_address"] = "\(maxConnectionsPerAddress)"
        values["server.auth_failures_per_minute"] = "\(authFailuresPerMinute)"
        values["audit.checkpoint_interval_seconds"] = "\(auditCheckpointInterval)"
        values["audit.sink"] = auditSink ?? ""
        values["audit.sink_allow_http_loopback"] = "\(auditSinkAllowHTTPLoopback)"
        values["audit.denial_interval_seconds"] = "\(denialAuditInterval)"
        values["log.level"] = logLevel
        values["log.format"] = logFormat
        values["metrics.enabled"] = "\(metricsEnabled)"
        values["keystore.cache_capacity"] = "\(cacheCapacity)"
        values["keystore.record_ttl_ms"] = "\(recordTimeToLive)"
        values["keystore.root_check_interval_seconds"] = "\(rootCheckInterval)"
        values["cluster.peer_listen"] = cluster.peerListen ?? ""
        values["cluster.peer_timeout_ms"] = "\(cluster.peerTimeout)"
        values["cluster.round_interval_ms"] = "\(cluster.roundInterval)"
        values["cluster.max_log_streams"] = "\(cluster.maxLogStreams)"
        if let tls {
            values["tls.certificate"] = tls.certificatePath ?? ""
            values["tls.private_key"] = tls.privateKeyPath ?? ""
            values["tls.key"] = tls.clusterAPIKey ? "cluster:api-tls" : tls.keystoreKey ?? ""
            values["tls.client_ca"] = tls.clientCAPath ?? ""
            values["tls.client_pins"] = tls.clientPins.sorted().joined(separator: ",")
            values["tls.client_pins_file"] = tls.clientPinsPath ?? ""
            values["tls.keystore_trust"] = "\(tls.keystoreTrust)"
            values["tls.client_auth"] = tls.clientAuth.rawValue
            values["tls.reload_interval_ms"] = "\(tls.reloadInterval)"
            values["tls.expiry_warning_days"] = "\(tls.expiryWarningDays)"
            values["tls.renew_before_days"] = "\(tls.renewBeforeDays)"
        }
        return values
    }

    /// The keys whose values differ, sorted.
    public func changedKeys(to other: ServerConfiguration) -> [String] {
        let mine = settings, theirs = other.settings
        return Self.keys.keys.filter { mine[$0] != theirs[$0] }.sorted()
    }
}

/// What one reload did: the keys applied, those left for a restart, or why it was refused.
public struct ReloadReport: Sendable, Equatable {
    public var applied: [String] = []
    public var restartNeeded: [String] = []
    public var refused: String?
}

/// On SIGHUP, reads the configuration again and applies what a running server can take:
/// the log level and format, the TLS material and options (files or keystore key, client
/// CAs, pins, client authentication), and forgets the cached token and key rows so a
/// revocation made by another process applies at once. A configuration that cannot be
/// read, names an unknown key or whose TLS material does not load is refused whole: the
/// running one stays. Every reload is logged and audited (`server.reload`).
actor ConfigurationReloader {
    private(set) var running: ServerConfiguration
    let server: CustosServer
    let load: @Sendable () async throws -> ServerConfiguration
    let applyLogging: @Sendable (ServerConfiguration) -> Void

    init(server: CustosServer, load: @escaping @Sendable () async throws -> ServerConfiguration,
         applyLogging: @escaping @Sendable (ServerConfiguration) -> Void) {
        self.running = server.configuration
        self.server = server
        self.load = load
        self.applyLogging = applyLogging
    }

    func reload() async -> ReloadReport {
        let logger = server.logger
        var report = ReloadReport()
        do {
            let next = try await load()
            let changed = running.changedKeys(to: next)
            var kept = running
            switch (running.tls, next.tls) {
            case (_?, let options?):
                // Loaded even when unchanged: files replaced under the same names count.
                if let tls = server.tls {
                    try await tls.reloader.replace(source: CustosServer.tlsSource(options, keys: server.keys, clientAPIKey: server.clientAPIKey),
                                                   clientAuthRequired: options.requiresClientCertificate,
                                                   interval: options.reloadInterval, renewBeforeDays: options.renewBeforeDays)
                    var applied = options
                    applied.expiryWarningDays = running.tls?.expiryWarningDays ?? applied.expiryWarningDays
                    kept.tls = applied
                }
            default:
                break
            }
            kept.logLevel = next.logLevel
            kept.logFormat = next.logFormat
            applyLogging(kept)
            server.tokens.forgetCachedTokens()
            server.keys.forgetCachedRecords()
            let bothTLS = running.tls != nil && next.tls != nil
            report.applied = changed.filter { Self.reloadable($0, bothTLS: bothTLS) }
            report.restartNeeded = changed.filter { !Self.reloadable($0, bothTLS: bothTLS) }
            running = kept
            // Audited before it is logged, so a reader of the log finds the record.
            await audit(.success, ["changed": report.applied.joined(separator: ","), "restart_needed": report.restartNeeded.joined(separator: ",")])
            if !report.restartNeeded.isEmpty {
                logger.warning("restart needed for: \(report.restartNeeded.joined(separator: ", ")) (the values in use stay)")
            }
            logger.notice("configuration reloaded", metadata: ["changed": "\(report.applied.joined(separator: ","))"])
        } catch {
            report.refused = "\(error)"
            await audit(.failure, ["error": String("\(error)".prefix(500))])
            logger.error("configuration reload refused; the configuration in use stays", metadata: ["error": "\(error)"])
        }
        return report
    }

    /// TLS options apply when TLS stays on; turning it on or off needs a restart, as
    /// does the readiness warning window.
    static func reloadable(_ key: String, bothTLS: Bool) -> Bool {
        guard ServerConfiguration.reloadableKeys.contains(key) else { return false }
        return !key.hasPrefix("tls.") || bothTLS
    }

    private func audit(_ outcome: AuditOutcome, _ details: [String: String]) async {
        do {
            try await server.keys.audit.record([AuditEvent(time: .now, actor: "server", operation: .serverReload, outcome: outcome,
                                                           details: details.filter { !$0.value.isEmpty })])
        } catch {
            server.logger.error("audit of a configuration reload failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Waits for SIGHUP and reloads, until the server shuts down.
struct ReloadOnHangupService: Service {
    let reloader: ConfigurationReloader

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                _ = await reloader.reload()
            }
        }
    }
}
