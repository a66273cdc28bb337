import Configuration
import CustosJSON
import CustosKeystore
import CustosPKI
import Foundation
import SystemPackage

/// Everything `custos serve` can be told, with its default. Read from one JSON file
/// (`--config`) with environment overrides: key `server.port` is `CUSTOS_SERVER_PORT`,
/// `tls.client_ca` is `CUSTOS_TLS_CLIENT_CA`, and so on. docs/server.md lists them all.
public struct ServerConfiguration: Sendable, Equatable {
    /// Address to listen on. Default loopback only: exposing Custos is a decision.
    public var host = "127.0.0.1"
    public var port = 8700
    /// Largest accepted request body; larger ones get 413 before being read in full.
    public var maxBodyBytes = 1 << 20
    /// Each request's deadline; past it the client gets 503 `timeout`.
    public var requestTimeout: Duration = .seconds(10)
    /// Most items in one batch sign or verify request.
    public var batchMaxItems = 1000
    /// How often the audit chain head is signed (0 disables; one is made at shutdown).
    public var auditCheckpointInterval: Duration = .seconds(60)
    /// Where each checkpoint's signed head is shipped off the node: an https URL or an
    /// absolute file path (nil: nowhere).
    public var auditSink: String?
    /// Accept an http:// sink on loopback (tests only).
    public var auditSinkAllowHTTPLoopback = false
    public var logLevel = "info"
    /// `text` (one human-readable line) or `json` (one JSON object a line).
    public var logFormat = "text"
    public var metricsEnabled = true
    /// Unlocked key versions kept in memory.
    public var cacheCapacity = 4096
    /// How long a key record is reused before the store is asked again.
    public var recordTimeToLive: Duration = .seconds(1)
    /// How often the root-of-trust provider is asked whether access still holds.
    public var rootCheckInterval: Duration = .seconds(10)
    public var tls: TLS?
    /// A new connection's first request head must be complete within this time.
    public var headerTimeout: Duration = .seconds(10)
    /// A kept-alive connection waits this long for its next request (and a request body
    /// may stall this long) before it is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Open connections at most; excess ones are closed as soon as they are accepted.
    public var maxConnections = 1000
    /// Open connections per client address at most (0: no per-address limit).
    public var maxConnectionsPerAddress = 100
    /// Failed authentications one client address may make per minute (a burst of as
    /// many); beyond it, its requests get 429 until the allowance refills. 0: no limit.
    public var authFailuresPerMinute = 60
    /// Refused authentications are audited once per client address and reason, then
    /// as one record with a count per interval.
    public var denialAuditInterval: Duration = .seconds(60)
    /// The replica network (a data directory that joined one): its peer listener and rounds.
    public var cluster = Cluster()

    public struct Cluster: Sendable, Equatable {
        /// Where the mutual-TLS peer listener binds, host:port; nil: this replica's address in
        /// the cluster configuration.
        public var peerListen: String?
        /// One peer call at most (connect, handshake, request, response).
        public var peerTimeout: Duration = .seconds(5)
        /// The pause between two rounds of the cluster service (doubled after a failed round, up to 5 s).
        public var roundInterval: Duration = .milliseconds(500)
        /// Server-sent event streams of the key log open at once; more are refused (503).
        public var maxLogStreams = 64

        public init() {}
    }

    public struct TLS: Sendable, Equatable {
        /// PEM files of the server's chain and key (reloaded when they change)...
        public var certificatePath: String?
        public var privateKeyPath: String?
        /// ...or a keystore key, `tenant/alias`, whose certificate the keystore holds...
        public var keystoreKey: String?
        /// ...or, on a client node, its current API TLS key (`tls.key = "cluster:api-tls"`).
        public var clusterAPIKey = false
        /// PEM bundle of CAs whose client certificates are accepted.
        public var clientCAPath: String?
        /// A file of accepted client pins, one a line, reread when it changes.
        public var clientPinsPath: String?
        /// Accepted client keys: SPKI pins (RFC 7469), or SHA-256 of a whole client
        /// certificate (DER); lower-case hex.
        public var clientPins: [String] = []
        /// Also trust the keystore's server-wide client trust set.
        public var keystoreTrust = false
        public var clientAuth: ClientAuth = .none
        /// How often the certificate files (or the keystore's marker) are checked.
        public var reloadInterval: Duration = .milliseconds(500)
        /// Readiness says `expires-soon` this many days before the server certificate expires.
        public var expiryWarningDays = 14
        /// A keystore server certificate is renewed this many days before it expires (0: never).
        public var renewBeforeDays = 0

        public enum ClientAuth: String, Sendable, Equatable {
            case none, required
        }

        public init(certificatePath: String? = nil, privateKeyPath: String? = nil, keystoreKey: String? = nil) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
            self.keystoreKey = keystoreKey
        }

        public var requiresClientCertificate: Bool { clientAuth == .required }
    }

    public init() {}

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the file (if given) and the environment; environment values win.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> ServerConfiguration {
        var providers: [any ConfigProvider] = [
            KeyMappingProvider(upstream: EnvironmentVariablesProvider(environmentVariables: environment)) { $0.prepending(["custos"]) },
        ]
        if let file {
            let contents: Data
            do {
                contents = try NamedFile.data(file, what: "configuration file", limit: 1 << 20)
            } catch {
                throw Invalid(description: error.description)
            }
            try checkKeys(contents, file: file)
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
            } catch {
                throw Invalid(description: "configuration file \(file) is not valid JSON: \(error)")
            }
        }
        let reader = ConfigReader(providers: providers)
        var config = ServerConfiguration()
        // JSON numbers and booleans, and environment strings, all arrive as text here
        // and are parsed below with one error message per key.
        func text(_ key: String) -> String? {
            let configKey = ConfigKey(key)
            return reader.string(forKey: configKey) ?? reader.int(forKey: configKey).map(String.init)
                ?? reader.bool(forKey: configKey).map(String.init) ?? reader.double(forKey: configKey).map { String($0) }
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let raw = text(key) else { return nil }
            guard let value = Int(raw.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw Invalid(description: "\(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(raw.prefix(40))'")
            }
            return value
        }
        func boolean(_ key: String) throws -> Bool? {
            guard let raw = text(key) else { return nil }
            switch raw.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default: throw Invalid(description: "\(key) must be true or false, got '\(raw.prefix(40))'")
            }
        }
        if let host = text("server.host") { config.host = host }
        if let port = try integer("server.port", 0...65535) { config.port = port }
        if let bytes = try integer("server.max_body_bytes", 1024...(256 << 20)) { config.maxBodyBytes = bytes }
        if let seconds = try integer("server.request_timeout_seconds", 1...3600) { config.requestTimeout = .seconds(seconds) }
        if let items = try integer("server.batch_max_items", 1...100_000) { config.batchMaxItems = items }
        if let seconds = try integer("audit.checkpoint_interval_seconds", 0...86_400) { config.auditCheckpointInterval = .seconds(seconds) }
        if let sink = text("audit.sink"), !sink.isEmpty { config.auditSink = sink }
        if let allow = try boolean("audit.sink_allow_http_loopback") { config.auditSinkAllowHTTPLoopback = allow }
        if let level = text("log.level") {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw Invalid(description: "log.level must be one of trace, debug, info, notice, warning, error, critical")
            }
            config.logLevel = level
        }
        if let format = text("log.format") {
            guard ["text", "json"].contains(format) else {
                throw Invalid(description: "log.format must be text or json, got '\(TerminalText.escaped(String(format.prefix(40))))'")
            }
            config.logFormat = format
        }
        if let enabled = try boolean("metrics.enabled") { config.metricsEnabled = enabled }
        if let capacity = try integer("keystore.cache_capacity", 0...10_000_000) { config.cacheCapacity = capacity }
        if let millis = try integer("keystore.record_ttl_ms", 0...3_600_000) { config.recordTimeToLive = .milliseconds(millis) }
        if let seconds = try integer("keystore.root_check_interval_seconds", 1...86_400) { config.rootCheckInterval = .seconds(seconds) }
        if let seconds = try integer("server.header_timeout_seconds", 1...3600) { config.headerTimeout = .seconds(seconds) }
        if let seconds = try integer("server.idle_timeout_seconds", 1...86_400) { config.idleTimeout = .seconds(seconds) }
        if let count = try integer("server.max_connections", 1...1_000_000) { config.maxConnections = count }
        if let count = try integer("server.max_connections_per_address", 0...1_000_000) {
            config.maxConnectionsPerAddress = count
        } else {
            config.maxConnectionsPerAddress = min(config.maxConnectionsPerAddress, config.maxConnections)
        }
        if config.maxConnectionsPerAddress > config.maxConnections {
            throw Invalid(description: "server.max_connections_per_address (\(config.maxConnectionsPerAddress)) must not exceed server.max_connections (\(config.maxConnections))")
        }
        if let count = try integer("server.auth_failures_per_minute", 0...1_000_000) { config.authFailuresPerMinute = count }
        if let seconds = try integer("audit.denial_interval_seconds", 1...86_400) { config.denialAuditInterval = .seconds(seconds) }

        if let listen = text("cluster.peer_listen"), !listen.isEmpty {
            guard listen.contains(":"), let port = Int(listen.split(separator: ":").last ?? ""), (0...65535).contains(port) else {
                throw Invalid(description: "cluster.peer_listen must be host:port, got '\(TerminalText.escaped(String(listen.prefix(80))))'")
            }
            config.cluster.peerListen = listen
        }
        if let millis = try integer("cluster.peer_timeout_ms", 100...600_000) { config.cluster.peerTimeout = .milliseconds(millis) }
        if let millis = try integer("cluster.round_interval_ms", 10...600_000) { config.cluster.roundInterval = .milliseconds(millis) }
        if let count = try integer("cluster.max_log_streams", 0...100_000) { config.cluster.maxLogStreams = count }

        config.tls = try loadTLS(text: text, integer: integer, boolean: boolean, pinList: reader.stringArray(forKey: "tls.client_pins"))
        return config
    }
}

extension ServerConfiguration {
    /// The `tls.*` options; nil when TLS is not configured.
    static func loadTLS(text: (String) -> String?, integer: (String, ClosedRange<Int>) throws -> Int?, boolean: (String) throws -> Bool?,
                        pinList: [String]?) throws -> TLS? {
        let certificate = text("tls.certificate"), privateKey = text("tls.private_key"), key = text("tls.key")
        let clientCA = text("tls.client_ca")
        let pins = try (pinList ?? text("tls.client_pins").map { $0.split(separator: ",").map(String.init) } ?? [])
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .map { text in
                do {
                    return try PublicKeyPin(parsing: text).hex
                } catch {
                    throw Invalid(description: "tls.client_pins: \(error) (a SPKI pin or a certificate's SHA-256 fingerprint)")
                }
            }
        var tls: TLS
        switch (certificate, privateKey, key) {
        case (let certificate?, let privateKey?, nil):
            tls = TLS(certificatePath: certificate, privateKeyPath: privateKey)
        case (nil, nil, "cluster:api-tls"?):
            tls = TLS()
            tls.clusterAPIKey = true
        case (nil, nil, let key?):
            let parts = key.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty }) else {
                throw Invalid(description: "tls.key must be tenant/alias or cluster:api-tls, got '\(TerminalText.escaped(String(key.prefix(80))))'")
            }
            tls = TLS(keystoreKey: key)
        case (nil, nil, nil):
            let others = ["tls.client_ca", "tls.client_pins", "tls.client_pins_file", "tls.client_auth", "tls.keystore_trust", "tls.renew_before_days"]
            if clientCA != nil || !pins.isEmpty || others.contains(where: { text($0) != nil }) {
                throw Invalid(description: "tls.client_ca, tls.client_pins and the other tls.* options need tls.certificate and tls.private_key, or tls.key")
            }
            return nil
        case (_, _, _?):
            throw Invalid(description: "give tls.key or tls.certificate with tls.private_key, not both")
        default:
            throw Invalid(description: "tls.certificate and tls.private_key go together")
        }
        tls.clientCAPath = clientCA
        tls.clientPins = pins
        tls.clientPinsPath = text("tls.client_pins_file")
        tls.keystoreTrust = try boolean("tls.keystore_trust") ?? (tls.keystoreKey != nil || tls.clusterAPIKey)
        let trustGiven = clientCA != nil || !pins.isEmpty || tls.clientPinsPath != nil || tls.keystoreTrust
        switch text("tls.client_auth")?.lowercased() {
        case nil: tls.clientAuth = trustGiven ? .required : .none
        case "required": tls.clientAuth = .required
        case "none":
            guard !trustGiven else {
                throw Invalid(description: "tls.client_auth is none but client trust is configured (tls.client_ca, tls.client_pins, tls.client_pins_file or tls.keystore_trust): remove it or require client certificates")
            }
            tls.clientAuth = .none
        case let other?:
            throw Invalid(description: "tls.client_auth must be none or required, got '\(TerminalText.escaped(String(other.prefix(40))))'")
        }
        if let millis = try integer("tls.reload_interval_ms", 50...3_600_000) { tls.reloadInterval = .milliseconds(millis) }
        if let days = try integer("tls.expiry_warning_days", 0...3650) { tls.expiryWarningDays = days }
        if let days = try integer("tls.renew_before_days", 0...3650) {
            guard days == 0 || tls.keystoreKey != nil else {
                throw Invalid(description: "tls.renew_before_days needs tls.key: only a keystore certificate can be renewed by the server")
            }
            tls.renewBeforeDays = days
        }
        return tls
    }
}
