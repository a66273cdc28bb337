import Foundation
import Logging
import NIOSSL
import ServiceLifecycle

/// Keeps the server's TLS context current: polls the source's marker every
/// `tls.reload_interval_ms` and swaps the context when it moves; `reloadNow()` does it
/// at once. A refused reload (a half-written file,
/// a certificate that is not its key's) keeps the material in use, logs an error and
/// counts `custos_tls_reload_failures_total`. Renews the server certificate when it
/// enters `tls.renew_before_days` (sources that can).
actor TLSReloader: Service {
    private(set) var source: any TLSMaterialSource
    let holder: TLSContextHolder
    private(set) var clientAuthRequired: Bool
    private(set) var interval: Duration
    private(set) var renewBeforeDays: Int
    let metrics: TLSMetrics
    let logger: Logger
    private var marker: String?
    /// A refused reload is tried again at the next change, or after `retryAfter` (a
    /// keystore that was briefly unavailable), not at every poll.
    private var refusedAt: Date?
    static let retryAfter: TimeInterval = 30
    private var lastRenewalAttempt: Date?
    private var warnedShortValidity = false
    private var inFlight: Task<Void, Never>?

    init(source: any TLSMaterialSource, holder: TLSContextHolder, clientAuthRequired: Bool, interval: Duration,
         renewBeforeDays: Int = 0, metrics: TLSMetrics, logger: Logger) {
        self.source = source
        self.holder = holder
        self.clientAuthRequired = clientAuthRequired
        self.interval = interval
        self.renewBeforeDays = renewBeforeDays
        self.metrics = metrics
        self.logger = logger
    }

    /// The first load; its error stops the server with a message naming the problem.
    func start() async throws {
        let marker = try await source.changeMarker()
        try install(await source.load())
        self.marker = marker
    }

    /// Loads and installs the source's material now (for a caller that has just made a
    /// change). False (and the old material kept) when it is refused. Reloads run one
    /// after the other, so an older material can never be installed over a newer one.
    @discardableResult
    func reloadNow() async -> Bool {
        await oneAtATime { await self.performReload() }
    }

    /// New TLS options (a configuration reload): the new source is loaded and installed at
    /// once, or, refused, leaves the source, options and material in use untouched.
    func replace(source newSource: any TLSMaterialSource, clientAuthRequired newClientAuth: Bool, interval newInterval: Duration,
                 renewBeforeDays newRenewBeforeDays: Int) async throws {
        let result: Result<Void, TLSMaterialError> = await oneAtATime {
            do {
                let marker = try? await newSource.changeMarker()
                try await self.adopt(newSource, material: await newSource.load(), clientAuthRequired: newClientAuth, marker: marker,
                                     interval: newInterval, renewBeforeDays: newRenewBeforeDays)
                return .success(())
            } catch {
                return .failure(error as? TLSMaterialError ?? TLSMaterialError("\(error)"))
            }
        }
        try result.get()
    }

    private func adopt(_ newSource: any TLSMaterialSource, material: TLSMaterial, clientAuthRequired newClientAuth: Bool, marker: String?,
                       interval newInterval: Duration, renewBeforeDays newRenewBeforeDays: Int) throws {
        try install(material, clientAuthRequired: newClientAuth)
        source = newSource
        clientAuthRequired = newClientAuth
        interval = newInterval
        renewBeforeDays = newRenewBeforeDays
        self.marker = marker
        refusedAt = nil
        metrics.reloaded()
    }

    /// Reloads and replacements run one after the other, so an older material can never
    /// be installed over a newer one.
    private func oneAtATime<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        let previous = inFlight
        let task = Task { _ = await previous?.value; return await body() }
        inFlight = Task { _ = await task.value }
        return await task.value
    }

    private func performReload() async -> Bool {
        let marker = try? await source.changeMarker()
        defer { self.marker = marker }
        do {
            let material = try await source.load()
            try install(material)
            refusedAt = nil
            metrics.reloaded()
            logger.info("TLS material reloaded", metadata: ["origin": "\(material.origin)", "serial": "\(material.leaf.serialNumber)"])
            return true
        } catch {
            refusedAt = Date()
            metrics.reloadFailed()
            logger.error("TLS reload refused; the certificate in use stays", metadata: ["error": "\(error)"])
            return false
        }
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { break }
            await poll()
        }
    }

    func poll(now: Date = Date()) async {
        let retry = refusedAt.map { now.timeIntervalSince($0) >= Self.retryAfter } ?? false
        if let current = try? await source.changeMarker(), current != marker || retry {
            await reloadNow()
        }
        await renewIfDue(now: now)
    }

    /// At most one attempt an hour, so a failing keystore is not asked every poll.
    private func renewIfDue(now: Date) async {
        guard renewBeforeDays > 0, let active = holder.current else { return }
        let leaf = active.material.leaf
        guard TLSExpiry.daysLeft(leaf.notValidAfter, now: now) <= Double(renewBeforeDays) else { return }
        // A renewal keeps the validity length: one no longer than the window would be
        // renewed again at once, every hour.
        guard leaf.notValidAfter.timeIntervalSince(leaf.notValidBefore) > Double(renewBeforeDays) * 86_400 else {
            if !warnedShortValidity {
                warnedShortValidity = true
                logger.warning("tls.renew_before_days is not shorter than the server certificate's validity; it is not renewed automatically",
                               metadata: ["renew_before_days": "\(renewBeforeDays)"])
            }
            return
        }
        if let last = lastRenewalAttempt, now.timeIntervalSince(last) < 3600 { return }
        lastRenewalAttempt = now
        do {
            guard try await source.renew() else { return }
            metrics.renewed()
            logger.notice("TLS server certificate renewed before expiry", metadata: ["was_valid_until": "\(active.material.leaf.notValidAfter)"])
            await reloadNow()
        } catch {
            logger.error("TLS server certificate renewal failed", metadata: ["error": "\(error)"])
        }
    }

    private func install(_ material: TLSMaterial) throws {
        try install(material, clientAuthRequired: clientAuthRequired)
    }

    private func install(_ material: TLSMaterial, clientAuthRequired: Bool) throws {
        try material.checkKeyMatchesCertificate()
        let context = try Self.context(material, clientAuthRequired: clientAuthRequired)
        let verification = clientAuthRequired ? Self.verification(trust: material.trust, metrics: metrics, logger: logger) : nil
        if clientAuthRequired && material.trust.acceptsNobody {
            logger.warning("client certificates are required but none is trusted: every TLS handshake is refused")
        }
        holder.install(.init(context: context, verification: verification, material: material))
    }

    /// TLS 1.3 only; a client certificate asked for and required when client auth is.
    static func context(_ material: TLSMaterial, clientAuthRequired: Bool) throws -> NIOSSLContext {
        let chain = try material.chain.map { certificate -> NIOSSLCertificateSource in
            .certificate(try NIOSSLCertificate(bytes: try certificate.derEncoded(), format: .der))
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(material.privateKey))
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = clientAuthRequired ? .noHostnameVerification : .none
        return try NIOSSLContext(configuration: configuration)
    }

    /// Replaces BoringSSL's verification with ClientTrust.decide, on the trust set of
    /// the material this context was built from.
    static func verification(trust: ClientTrust, metrics: TLSMetrics, logger: Logger) -> TLSContextHolder.Verification {
        { certificates, promise in
            guard let chain = try? certificates.map({ try $0.toDERBytes() }) else {
                metrics.refused("malformed")
                promise.succeed(.failed)
                return
            }
            promise.completeWithTask {
                let decision = await trust.decide(chainDER: chain)
                if case .refused(let reason) = decision {
                    metrics.refused(reason)
                    logger.debug("client certificate refused", metadata: ["reason": "\(reason)"])
                }
                return decision.isAccepted ? .certificateVerified : .failed
            }
        }
    }
}
