import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosPKI
import CustosStore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle

/// The HTTP server: `/v1` API, health, metrics, audit checkpoints, graceful shutdown.
///
/// SIGHUP reloads the configuration (see `ConfigurationReloader`).
/// Shutdown (SIGTERM or SIGINT): the listener closes, requests in flight complete,
/// a final audit checkpoint is signed, then the store is closed.
public struct CustosServer: Sendable {
    public let configuration: ServerConfiguration
    public let keys: KeyService
    public let tokens: TokenService
    let metrics: ServerMetrics
    let deadlines: RequestDeadlines
    let failures: AuthFailureLimiter
    let denials = DenialAudit()
    let logger: Logger
    /// Present with TLS: the current context, and the service that keeps it current.
    let tls: (holder: TLSContextHolder, reloader: TLSReloader, metrics: TLSMetrics)?
    /// The replica network member this server runs, once the cluster service has started it.
    let cluster = ClusterHandle()
    /// On a client node, the key name whose API TLS key the HTTPS listener serves with.
    let clientAPIKey = ClientAPIKeyHolder()
    /// The key-log event streams open at once (`cluster.max_log_streams`).
    var logStreams: LogStreams
    /// Reads the configuration again on SIGHUP (nil: SIGHUP is not handled here).
    public var reloadConfiguration: (@Sendable () async throws -> ServerConfiguration)?
    /// Puts a reloaded configuration's log level and format into effect.
    public var applyLogging: @Sendable (ServerConfiguration) -> Void = { _ in }

    /// Metrics go to Prometheus; bootstrapping is once per process.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    public init(configuration: ServerConfiguration, keys: KeyService, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.configuration = configuration
        self.keys = keys
        self.tokens = TokenService(store: keys.store, audit: keys.audit)
        self.metrics = ServerMetrics(registry: registry, rootProvider: keys.root.provider,
                                     checkpointInterval: configuration.auditCheckpointInterval)
        self.deadlines = RequestDeadlines(timeout: configuration.requestTimeout)
        self.failures = AuthFailureLimiter(perMinute: configuration.authFailuresPerMinute)
        self.logStreams = LogStreams(maximum: configuration.cluster.maxLogStreams)
        self.logger = logger
        let clientAPIKey = self.clientAPIKey
        self.tls = configuration.tls.map { options in
            let holder = TLSContextHolder(), metrics = TLSMetrics()
            let reloader = TLSReloader(source: Self.tlsSource(options, keys: keys, clientAPIKey: clientAPIKey), holder: holder,
                                       clientAuthRequired: options.requiresClientCertificate, interval: options.reloadInterval,
                                       renewBeforeDays: options.renewBeforeDays, metrics: metrics, logger: logger)
            return (holder, reloader, metrics)
        }
    }

    /// PEM files, or a keystore key; client trust from the options and, when asked, the keystore.
    static func tlsSource(_ options: ServerConfiguration.TLS, keys: KeyService, clientAPIKey: ClientAPIKeyHolder = ClientAPIKeyHolder()) -> any TLSMaterialSource {
        let pins = Set(options.clientPins.compactMap { try? PublicKeyPin(parsing: $0) })
        let files = PEMTrustFiles(clientCAPath: options.clientCAPath, clientPinsPath: options.clientPinsPath, pins: pins)
        if options.clusterAPIKey {
            return ClientAPITLSSource(keys: keys, holder: clientAPIKey, files: files, keystoreTrust: options.keystoreTrust)
        }
        if let key = options.keystoreKey {
            let parts = key.split(separator: "/").map(String.init)
            return KeystoreTLSSource(keystore: keys, tenant: parts[0], alias: parts[1], files: files, keystoreTrust: options.keystoreTrust)
        }
        return PEMFileSource(certificatePath: options.certificatePath ?? "", privateKeyPath: options.privateKeyPath ?? "", trustFiles: files,
                             keystoreTrust: options.keystoreTrust ? keys : nil)
    }

    /// Loopback-only servers and TLS servers accept private-key imports; a plain-HTTP
    /// server on a network address would carry the key in clear text.
    var importAllowed: Bool {
        configuration.tls != nil || ["127.0.0.1", "::1", "localhost"].contains(configuration.host)
    }

    func buildRouter() -> Router<CustosRequestContext> {
        let router = Router(context: CustosRequestContext.self)
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(ProblemMiddleware())
        router.middlewares.add(TimeoutMiddleware(deadlines: deadlines))

        // Health answers without a token.
        let health = router.group("v1")
        health.on(.healthLive) { _, _ in try JSONIO.response(HealthResponse(status: "live")) }
        let readiness = Readiness(keys: keys, tls: tls?.holder, expiryWarningDays: configuration.tls?.expiryWarningDays ?? 0, cluster: cluster)
        health.on(.healthReady) { _, _ in
            let checks = await readiness.check()
            let ready = checks.allSatisfy { name, value in name == "cluster" ? Readiness.clusterIsReady(value) : TLSExpiry.isReady(value) }
            return try JSONIO.response(HealthResponse(status: ready ? "ready" : "not-ready", checks: checks),
                                       status: ready ? .ok : .serviceUnavailable)
        }
        if configuration.metricsEnabled {
            let metrics = self.metrics, keys = self.keys, tls = self.tls
            let keystoreCertificates = KeystoreCertificateExpiry(keys: keys)
            router.get("metrics") { _, _ in
                if let tls {
                    let active = tls.holder.current.map { TLSExpiry.certificates(of: $0.material) } ?? []
                    tls.metrics.recordDaysLeft(active + (await keystoreCertificates.certificates()))
                }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                                body: .init(byteBuffer: ByteBuffer(bytes: await metrics.render(keys: keys))))
            }
        }

        let api = router.group("v1").add(middleware: AuthenticationMiddleware(tokens: tokens, audit: keys.audit,
                                                                                     failures: failures, denials: denials))
        let io = JSONIO(maxBodyBytes: configuration.maxBodyBytes)
        KeyRoutes(keys: keys, io: io, allowImport: importAllowed).register(on: api)
        CryptoRoutes(keys: keys, io: io, batchMaxItems: configuration.batchMaxItems, metrics: metrics).register(on: api)
        AccessRoutes(keys: keys, tokens: tokens, io: io).register(on: api)
        EthereumRoutes(operations: EthereumOperations(keys: keys), io: io, rpcMaxBatch: configuration.batchMaxItems).register(on: api)
        // The server's own rotations and trust changes reach its listener at once.
        let reloader = tls?.reloader
        TLSRoutes(keys: keys, io: io, afterChange: { _ = await reloader?.reloadNow() }).register(on: api)
        ClusterRoutes(keys: keys, io: io, cluster: cluster, streams: logStreams, deadlines: deadlines).register(on: api)
        return router
    }

    /// HTTP/1 (over TLS when configured) behind the connection limits and timeouts.
    func serverBuilder(limiter: ConnectionLimiter) throws -> HTTPServerBuilder {
        let header = configuration.headerTimeout, idle = configuration.idleTimeout
        let http = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestHeadTimeout(header: header, idle: idle)],
                                              idleTimeout: TimeAmount(idle))
        guard let holder = tls?.holder else {
            return HTTPServerBuilder { GuardedChildChannel(base: HTTP1Channel(responder: $0, configuration: http), limiter: limiter) }
        }
        return HTTPServerBuilder {
            GuardedChildChannel(base: ReloadableTLSChannel(base: HTTP1Channel(responder: $0, configuration: http), holder: holder),
                                limiter: limiter)
        }
    }

    /// The connection cap, lowered to fit the open-file limit (after raising it as far
    /// as allowed): past that limit accept() fails and every client waits.
    func connectionLimiter() -> ConnectionLimiter {
        let reserve = 256  // the store, TLS files, HSM and KMS clients, logs
        let files = ProcessHardening.raiseOpenFileLimit(to: configuration.maxConnections + reserve)
        let maximum = min(configuration.maxConnections, max(1, files - reserve))
        if maximum < configuration.maxConnections {
            logger.warning("server.max_connections lowered to fit the open-file limit",
                           metadata: ["configured": "\(configuration.maxConnections)", "effective": "\(maximum)", "open_files": "\(files)"])
        }
        return ConnectionLimiter(maximum: maximum, perAddress: min(configuration.maxConnectionsPerAddress, maximum))
    }

    /// Runs until SIGTERM/SIGINT. `onRunning` receives the bound port (useful with port 0).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        do {
            // The first TLS load refuses to start on a bad certificate or key.
            do {
                try await tls?.reloader.start()
            } catch {
                throw ServerConfiguration.Invalid(description: "\(error)")
            }
            let app = Application(
                router: buildRouter(),
                server: try serverBuilder(limiter: connectionLimiter()),
                configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
                onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
                logger: logger)
            if configuration.metricsEnabled { metrics.observe(keys.audit) }
            let rootWatch = metrics.watchRoot(keys)
            defer { rootWatch.cancel() }
            if let sink = configuration.auditSink {
                keys.audit.attach(sink: try AuditHeadSinks.make(sink, allowHTTPLoopback: configuration.auditSinkAllowHTTPLoopback))
            }
            try await keys.audit.recordNow([AuditEvent(time: .now, actor: "server", operation: .unseal, outcome: .success,
                                                       details: ["root": keys.root.provider, "root_key_id": keys.root.rootKeyID])])
            let checkpoints = CheckpointService(audit: keys.audit, interval: configuration.auditCheckpointInterval, logger: logger)
            // The kill switch: a provider that starts refusing (KMS key disabled, token
            // gone, TPM policy unmet) drops every key and turns readiness false until
            // access returns; each change is audited by the keystore.
            let rootMonitor = keys.monitorRoot(every: configuration.rootCheckInterval)
            defer { rootMonitor.cancel() }
            let denialRecords = DenialAuditService(audit: keys.audit, denials: denials, interval: configuration.denialAuditInterval, logger: logger)
            let replica = ClusterService(keys: keys, options: configuration.cluster, handle: cluster, logger: logger)
            var reloadAPITLS: (@Sendable () async -> Void)?
            if configuration.tls?.clusterAPIKey == true, let reloader = tls?.reloader {
                reloadAPITLS = { _ = await reloader.reloadNow() }
            }
            let client = ClientService(keys: keys, options: configuration.cluster, handle: cluster, apiKey: clientAPIKey,
                                       reloadAPITLS: reloadAPITLS, logger: logger)
            let group = ServiceGroup(configuration: .init(
                // Shut down in reverse: the server drains first (deadlines still
                // enforced), then the counted refusals are written, then the last checkpoint.
                services: [.init(service: checkpoints), .init(service: denialRecords), .init(service: deadlines)]
                    + (tls.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0.reloader)] } ?? [])
                    + [.init(service: replica), .init(service: client), .init(service: app)]
                    + (reloadConfiguration.map { load in
                        [ServiceGroupConfiguration.ServiceConfiguration(service: ReloadOnHangupService(
                            reloader: ConfigurationReloader(server: self, load: load, applyLogging: applyLogging)))]
                    } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
            try await group.run()
        } catch {
            // The store is closed on every path, so no connection outlives the server.
            try? await keys.close()
            throw error
        }
        try await keys.close()
        logger.info("stopped")
    }
}

/// Signs the audit chain head every `interval`, and once more at shutdown.
struct CheckpointService: Service {
    let audit: AuditLog
    let interval: Duration
    let logger: Logger

    func run() async throws {
        if interval > .zero {
            // Sleeping ends early, without error, when graceful shutdown begins.
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                await checkpoint()
            }
        } else {
            try? await gracefulShutdown()
        }
        await checkpoint()
    }

    private func checkpoint() async {
        do {
            if let checkpoint = try await audit.checkpoint() {
                logger.info("audit checkpoint signed", metadata: ["sequence": "\(checkpoint.sequence)"])
            }
        } catch {
            logger.error("audit checkpoint failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Writes the counted authentication refusals every `interval`, and once more at shutdown.
struct DenialAuditService: Service {
    let audit: AuditLog
    let denials: DenialAudit
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await flush()
        }
        await flush()
    }

    private func flush() async {
        let events = denials.drain()
        guard !events.isEmpty else { return }
        do {
            try await audit.record(events)
        } catch {
            logger.error("audit of refused authentications failed", metadata: ["records": "\(events.count)", "error": "\(error)"])
        }
    }
}

/// Readiness: the root of trust is unsealed and still answering (the kill switch turns
/// this false), the keystore signs (a test signature with its audit key verifies), the
/// store answers. Results are reused for one second so probes cannot load the store.
actor Readiness {
    let keys: KeyService
    let tls: TLSContextHolder?
    let expiryWarningDays: Int
    let cluster: ClusterHandle?
    private var last: (at: ContinuousClock.Instant, checks: [String: String])?

    init(keys: KeyService, tls: TLSContextHolder? = nil, expiryWarningDays: Int = 14, cluster: ClusterHandle? = nil) {
        self.keys = keys
        self.tls = tls
        self.expiryWarningDays = expiryWarningDays
        self.cluster = cluster
    }

    /// A replica still recovering signs nothing: not ready. One bootstrapping is ready for its
    /// node (which drives the key exchange through it) and says so. A client node is ready while
    /// it follows the log (its active signing key is known), not while catching up or removed.
    static func clusterIsReady(_ value: String) -> Bool { ["operational", "bootstrapping", "following"].contains(value) }

    func check() async -> [String: String] {
        if let last, ContinuousClock.now - last.at < .seconds(1) { return last.checks }
        var checks: [String: String] = [:]
        do {
            _ = try await keys.store.auditHead()
            checks["store"] = "ok"
        } catch {
            checks["store"] = "failing"
        }
        checks["keystore"] = keys.audit.selfTest() ? "ok" : "failing: test signature did not verify"
        let root = keys.rootStatus
        // Unauthenticated: the state and provider only, never the provider's error.
        checks["root"] = root.isReady ? "ok" : "failing: \(root.summary)"
        if let active = tls?.current {
            checks["tls"] = TLSExpiry.status(notAfter: active.material.leaf.notValidAfter, warningDays: expiryWarningDays)
        }
        if let replica = cluster?.current {
            checks["cluster"] = await replica.phase()
        }
        last = (ContinuousClock.now, checks)
        return checks
    }
}
