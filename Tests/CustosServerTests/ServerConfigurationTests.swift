import Foundation
import Testing

@testable import CustosServer

@Suite("Server configuration")
struct ServerConfigurationTests {
    func file(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("custos-config-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func defaultsWithoutFileOrEnvironment() async throws {
        let config = try await ServerConfiguration.load(file: nil, environment: [:])
        #expect(config == ServerConfiguration())
        #expect(config.host == "127.0.0.1" && config.port == 8700 && config.tls == nil)
        #expect(config.maxBodyBytes == 1 << 20 && config.requestTimeout == .seconds(10))
    }

    @Test func fileValuesOfEveryJSONTypeAndEnvironmentOverrides() async throws {
        let path = try file("""
            {"server": {"host": "0.0.0.0", "port": 0, "max_body_bytes": 4096, "request_timeout_seconds": 3, "batch_max_items": 50},
             "audit": {"checkpoint_interval_seconds": 0}, "log": {"level": "debug"}, "metrics": {"enabled": false},
             "keystore": {"cache_capacity": 10, "record_ttl_ms": 250}}
            """)
        var config = try await ServerConfiguration.load(file: path, environment: [:])
        #expect(config.host == "0.0.0.0" && config.port == 0 && config.maxBodyBytes == 4096)
        #expect(config.requestTimeout == .seconds(3) && config.batchMaxItems == 50 && config.auditCheckpointInterval == .zero)
        #expect(config.logLevel == "debug" && !config.metricsEnabled && config.cacheCapacity == 10)
        #expect(config.recordTimeToLive == .milliseconds(250))
        config = try await ServerConfiguration.load(file: path, environment: ["CUSTOS_SERVER_PORT": "9100", "CUSTOS_METRICS_ENABLED": "true"])
        #expect(config.port == 9100 && config.metricsEnabled && config.host == "0.0.0.0")
    }

    @Test(arguments: [
        ("CUSTOS_SERVER_PORT", "http", "server.port"),
        ("CUSTOS_SERVER_PORT", "70000", "server.port"),
        ("CUSTOS_SERVER_MAX_BODY_BYTES", "10", "server.max_body_bytes"),
        ("CUSTOS_METRICS_ENABLED", "maybe", "metrics.enabled"),
        ("CUSTOS_LOG_LEVEL", "loud", "log.level"),
        ("CUSTOS_TLS_CERTIFICATE", "/c.pem", "go together"),
        ("CUSTOS_TLS_CLIENT_CA", "/ca.pem", "need tls.certificate"),
        ("CUSTOS_SERVER_HEADER_TIMEOUT_SECONDS", "0", "server.header_timeout_seconds"),
        ("CUSTOS_SERVER_IDLE_TIMEOUT_SECONDS", "soon", "server.idle_timeout_seconds"),
        ("CUSTOS_SERVER_MAX_CONNECTIONS", "0", "server.max_connections"),
        ("CUSTOS_SERVER_MAX_CONNECTIONS_PER_ADDRESS", "-1", "server.max_connections_per_address"),
        ("CUSTOS_SERVER_MAX_CONNECTIONS_PER_ADDRESS", "1001", "must not exceed server.max_connections"),
        ("CUSTOS_SERVER_AUTH_FAILURES_PER_MINUTE", "many", "server.auth_failures_per_minute"),
        ("CUSTOS_AUDIT_DENIAL_INTERVAL_SECONDS", "0", "audit.denial_interval_seconds"),
    ])
    func invalidValuesAreNamed(variable: String, value: String, mentioning: String) async throws {
        do {
            _ = try await ServerConfiguration.load(file: nil, environment: [variable: value])
            Issue.record("\(variable)=\(value) was accepted")
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.description.contains(mentioning), "\(error.description)")
        }
    }

    @Test func abuseLimitsHaveDefaultsAndCanBeSet() async throws {
        let defaults = ServerConfiguration()
        #expect(defaults.headerTimeout == .seconds(10) && defaults.idleTimeout == .seconds(60))
        #expect(defaults.maxConnections == 1000 && defaults.maxConnectionsPerAddress == 100)
        #expect(defaults.authFailuresPerMinute == 60 && defaults.denialAuditInterval == .seconds(60))
        let path = try file("""
            {"server": {"header_timeout_seconds": 2, "idle_timeout_seconds": 5, "max_connections": 50,
                        "max_connections_per_address": 0, "auth_failures_per_minute": 0},
             "audit": {"denial_interval_seconds": 7}}
            """)
        let config = try await ServerConfiguration.load(file: path, environment: [:])
        #expect(config.headerTimeout == .seconds(2) && config.idleTimeout == .seconds(5) && config.maxConnections == 50)
        #expect(config.maxConnectionsPerAddress == 0 && config.authFailuresPerMinute == 0 && config.denialAuditInterval == .seconds(7))
        // A lower total brings the default per-address limit down with it.
        let small = try await ServerConfiguration.load(file: nil, environment: ["CUSTOS_SERVER_MAX_CONNECTIONS": "20"])
        #expect(small.maxConnectionsPerAddress == 20)
    }

    @Test func tlsPinsAndCAAreExclusiveAndPinsAreChecked() async throws {
        let base = ["CUSTOS_TLS_CERTIFICATE": "/c.pem", "CUSTOS_TLS_PRIVATE_KEY": "/k.pem"]
        let pin = String(repeating: "ab", count: 32)
        // OpenSSL prints fingerprints as upper-case pairs with colons; both forms work.
        let openSSLStyle = Array(repeating: "AB", count: 32).joined(separator: ":")
        let pinned = try await ServerConfiguration.load(file: nil, environment: base.merging(["CUSTOS_TLS_CLIENT_PINS": "\(pin), \(openSSLStyle)"]) { $1 })
        #expect(pinned.tls?.clientPins == [pin, pin] && pinned.tls?.requiresClientCertificate == true)
        await #expect(throws: ServerConfiguration.Invalid.self) {
            try await ServerConfiguration.load(file: nil, environment: base.merging(["CUSTOS_TLS_CLIENT_PINS": "abc"]) { $1 })
        }
        // Pins and a CA together: a client is accepted by either.
        let both = try await ServerConfiguration.load(file: nil, environment: base.merging(["CUSTOS_TLS_CLIENT_PINS": pin, "CUSTOS_TLS_CLIENT_CA": "/ca"]) { $1 })
        #expect(both.tls?.clientCAPath == "/ca" && both.tls?.clientPins == [pin] && both.tls?.clientAuth == .required)
        // RFC 7469's base64 form reads as the same pin.
        let base64 = Data(repeating: 0xab, count: 32).base64EncodedString()
        let rfc = try await ServerConfiguration.load(file: nil, environment: base.merging(["CUSTOS_TLS_CLIENT_PINS": "sha256/\(base64)"]) { $1 })
        #expect(rfc.tls?.clientPins == [pin])
    }

    @Test func tlsFromTheKeystoreAndClientAuthentication() async throws {
        let plain = try await ServerConfiguration.load(file: nil, environment: ["CUSTOS_TLS_CERTIFICATE": "/c.pem", "CUSTOS_TLS_PRIVATE_KEY": "/k.pem"])
        #expect(plain.tls?.clientAuth == ServerConfiguration.TLS.ClientAuth.none && plain.tls?.reloadInterval == .milliseconds(500))
        #expect(plain.tls?.expiryWarningDays == 14 && plain.tls?.renewBeforeDays == 0)
        // Required with nobody trusted: every client is refused, never "off".
        let closed = try await ServerConfiguration.load(file: nil, environment: ["CUSTOS_TLS_CERTIFICATE": "/c.pem", "CUSTOS_TLS_PRIVATE_KEY": "/k.pem",
                                                                                 "CUSTOS_TLS_CLIENT_AUTH": "required"])
        #expect(closed.tls?.requiresClientCertificate == true && closed.tls?.clientPins == [])
        let keystore = try await ServerConfiguration.load(file: nil, environment: ["CUSTOS_TLS_KEY": "acme/web", "CUSTOS_TLS_RENEW_BEFORE_DAYS": "20",
                                                                                   "CUSTOS_TLS_RELOAD_INTERVAL_MS": "100"])
        #expect(keystore.tls?.keystoreKey == "acme/web" && keystore.tls?.keystoreTrust == true && keystore.tls?.clientAuth == .required)
        #expect(keystore.tls?.renewBeforeDays == 20 && keystore.tls?.reloadInterval == .milliseconds(100))
        for (environment, message) in [
            (["CUSTOS_TLS_KEY": "acme"], "tenant/alias"),
            (["CUSTOS_TLS_KEY": "acme/web", "CUSTOS_TLS_CERTIFICATE": "/c.pem", "CUSTOS_TLS_PRIVATE_KEY": "/k.pem"], "not both"),
            (["CUSTOS_TLS_KEY": "acme/web", "CUSTOS_TLS_CLIENT_AUTH": "none"], "client trust is configured"),
            (["CUSTOS_TLS_KEY": "acme/web", "CUSTOS_TLS_CLIENT_AUTH": "maybe"], "none or required"),
            (["CUSTOS_TLS_CERTIFICATE": "/c.pem", "CUSTOS_TLS_PRIVATE_KEY": "/k.pem", "CUSTOS_TLS_RENEW_BEFORE_DAYS": "5"], "needs tls.key"),
            (["CUSTOS_TLS_KEY": "acme/web", "CUSTOS_TLS_RELOAD_INTERVAL_MS": "0"], "tls.reload_interval_ms"),
            (["CUSTOS_TLS_CLIENT_AUTH": "required"], "need tls.certificate"),
        ] {
            let error = await #expect(throws: ServerConfiguration.Invalid.self) { try await ServerConfiguration.load(file: nil, environment: environment) }
            #expect(error?.description.contains(message) == true, "\(environment): \(error?.description ?? "")")
        }
    }

    @Test func aMissingOrBrokenFileIsAClearError() async throws {
        await #expect(throws: ServerConfiguration.Invalid.self) { try await ServerConfiguration.load(file: "/nonexistent/custos.json", environment: [:]) }
        let broken = try file("{\"server\": ")
        await #expect(throws: ServerConfiguration.Invalid.self) { try await ServerConfiguration.load(file: broken, environment: [:]) }
    }
}
