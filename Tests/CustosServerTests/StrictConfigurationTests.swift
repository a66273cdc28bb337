import Foundation
import Testing

@testable import CustosServer

@Suite("Strict configuration")
struct StrictConfigurationTests {
    func file(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("custos-strict-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func refusal(_ json: String) async throws -> (path: String, message: String) {
        let path = try file(json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try await ServerConfiguration.load(file: path, environment: [:])
            Issue.record("accepted: \(json)")
            return (path, "")
        } catch let error as ServerConfiguration.Invalid {
            return (path, error.description)
        }
    }

    @Test func unknownKeysAreRefusedByTheirFullPathWithTheNearestKnownOne() async throws {
        var (path, message) = try await refusal(#"{"prot": 9000}"#)
        #expect(message == "unknown configuration key \"prot\" in \(path) (did you mean \"server.port\"?)", "\(message)")
        (path, message) = try await refusal(#"{"server": {"host": "127.0.0.1", "prot": 9000}}"#)
        #expect(message == "unknown configuration key \"server.prot\" in \(path) (did you mean \"server.port\"?)", "\(message)")
        (path, message) = try await refusal(#"{"tls": {"key": "a/b", "client_pin": ["x"]}}"#)
        #expect(message.contains("\"tls.client_pin\"") && message.contains("did you mean \"tls.client_pins\"?"), "\(message)")
        // Nothing close: no guess.
        (path, message) = try await refusal(#"{"audit": {"zzzzzzzzzzzzzzzz": 1}}"#)
        #expect(message == "unknown configuration key \"audit.zzzzzzzzzzzzzzzz\" in \(path)", "\(message)")
        // A key hiding control characters is named escaped, on one line.
        (path, message) = try await refusal(#"{"server": {"po\u001b[2Jrt\n": 1}}"#)
        #expect(message.contains("unknown configuration key \"server.po\\x1b[2Jrt\\n\"") && !message.contains("\n"), "\(message)")
    }

    @Test func wrongTypesNameTheKeyAndTheExpectedType() async throws {
        var (path, message) = try await refusal(#"{"server": {"port": "8700"}}"#)
        #expect(message == "\"server.port\" in \(path) must be an integer, got a string", "\(message)")
        (path, message) = try await refusal(#"{"metrics": {"enabled": "yes"}}"#)
        #expect(message == "\"metrics.enabled\" in \(path) must be true or false, got a string", "\(message)")
        (path, message) = try await refusal(#"{"server": 8700}"#)
        #expect(message == "\"server\" in \(path) must be an object of settings, got an integer", "\(message)")
        (path, message) = try await refusal(#"{"tls": {"key": "a/b", "client_pins": [1]}}"#)
        #expect(message.contains("\"tls.client_pins\" in \(path) must be a string or a list of strings, got a list"), "\(message)")
        (path, message) = try await refusal(#"{"log": {"level": null}}"#)
        #expect(message.contains("\"log.level\" in \(path) must be a string, got null"), "\(message)")
        (path, message) = try await refusal(#"{"server": {"port": 80.5}}"#)
        #expect(message.contains("must be an integer, got a fractional number"), "\(message)")
        (_, message) = try await refusal(#"[1, 2]"#)
        #expect(message.contains("must hold a JSON object"), "\(message)")
    }

    @Test func fileProblemsNameTheFileAndTheCause() async throws {
        await #expect(throws: ServerConfiguration.Invalid.self) { try await ServerConfiguration.load(file: "/nonexistent/custos.json", environment: [:]) }
        do {
            _ = try await ServerConfiguration.load(file: "/nonexistent/custos.json", environment: [:])
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.description == "cannot read configuration file /nonexistent/custos.json: no such file")
        }
        let directory = FileManager.default.temporaryDirectory.path
        let error = await #expect(throws: ServerConfiguration.Invalid.self) { try await ServerConfiguration.load(file: directory, environment: [:]) }
        #expect(error?.description == "cannot read configuration file \(directory): is a directory")
        let (path, message) = try await refusal(#"{"server": {"port": 1"#)
        #expect(message.hasPrefix("configuration file \(path) is not valid JSON"), "\(message)")
    }

    @Test func everyKnownKeyIsAcceptedInTheFile() async throws {
        let path = try file("""
            {"server": {"host": "127.0.0.1", "port": 0, "max_body_bytes": 4096, "request_timeout_seconds": 3, "batch_max_items": 5,
                        "header_timeout_seconds": 2, "idle_timeout_seconds": 3, "max_connections": 10, "max_connections_per_address": 5,
                        "auth_failures_per_minute": 1},
             "audit": {"checkpoint_interval_seconds": 0, "sink": "/tmp/custos-sink", "sink_allow_http_loopback": false, "denial_interval_seconds": 5},
             "log": {"level": "debug", "format": "json"}, "metrics": {"enabled": true},
             "keystore": {"cache_capacity": 1, "record_ttl_ms": 5, "root_check_interval_seconds": 5},
             "tls": {"key": "acme/web", "client_ca": "/ca.pem", "client_pins": ["\(String(repeating: "ab", count: 32))"],
                     "client_pins_file": "/pins", "keystore_trust": true, "client_auth": "required", "reload_interval_ms": 100,
                     "expiry_warning_days": 3, "renew_before_days": 2},
             "cluster": {"peer_listen": "127.0.0.1:1", "peer_timeout_ms": 200, "round_interval_ms": 20, "max_log_streams": 2}}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try await ServerConfiguration.load(file: path, environment: [:])
        #expect(config.logFormat == "json" && config.logLevel == "debug" && config.tls?.renewBeforeDays == 2)
        // Every key of the table has a value in `settings`, so a reload compares them all.
        let withoutTLS = ServerConfiguration().settings
        #expect(Set(withoutTLS.keys) == Set(ServerConfiguration.keys.keys))
        #expect(config.settings.filter { $0.key.hasPrefix("tls.") && $0.value.isEmpty }.map(\.key).sorted() == ["tls.certificate", "tls.private_key"])
        #expect(ServerConfiguration.reloadableKeys.isSubset(of: Set(ServerConfiguration.keys.keys)))
    }

    @Test func logFormatIsTextOrJSON() async throws {
        #expect(try await ServerConfiguration.load(file: nil, environment: [:]).logFormat == "text")
        #expect(try await ServerConfiguration.load(file: nil, environment: ["CUSTOS_LOG_FORMAT": "json"]).logFormat == "json")
        let error = await #expect(throws: ServerConfiguration.Invalid.self) {
            try await ServerConfiguration.load(file: nil, environment: ["CUSTOS_LOG_FORMAT": "xml"])
        }
        #expect(error?.description.contains("log.format must be text or json") == true)
    }

    @Test func changedKeysAreNamed() async throws {
        let old = try await ServerConfiguration.load(file: nil, environment: [:])
        let new = try await ServerConfiguration.load(file: nil, environment: ["CUSTOS_LOG_LEVEL": "debug", "CUSTOS_SERVER_PORT": "9",
                                                                             "CUSTOS_TLS_KEY": "a/b"])
        #expect(old.changedKeys(to: new) == ["log.level", "server.port", "tls.client_auth", "tls.expiry_warning_days", "tls.key",
                                             "tls.keystore_trust", "tls.reload_interval_ms", "tls.renew_before_days"])
        #expect(old.changedKeys(to: old).isEmpty)
        // Turning TLS on needs a restart; changing its options while it is on does not.
        #expect(!ConfigurationReloader.reloadable("tls.key", bothTLS: false) && ConfigurationReloader.reloadable("tls.key", bothTLS: true))
        #expect(!ConfigurationReloader.reloadable("server.port", bothTLS: true) && ConfigurationReloader.reloadable("log.level", bothTLS: false))
        #expect(!ConfigurationReloader.reloadable("tls.expiry_warning_days", bothTLS: true))
    }

    @Test func unknownConfigurationVariablesAreWarnedAboutOthersAreLeftAlone() {
        let warnings = ServerConfiguration.unknownEnvironmentVariables([
            "CUSTOS_SERVER_PROT": "9000", "CUSTOS_SERVER": "http://x", "CUSTOS_TOKEN": "t", "CUSTOS_SERVER_PORT": "1",
            "CUSTOS_TLS_CLIENT_PINS": "x", "CUSTOS_PASSPHRASE": "p", "CUSTOS_DATA_DIR": "/d", "CUSTOS_KMS_ALLOW_HTTP": "1",
            "CUSTOS_AUDIT_SINK": "/s", "CUSTOS_LOG_FORMAT": "json", "CUSTOS_LOG_LEVELS": "debug", "HOME": "/h",
        ])
        #expect(warnings == [
            "unknown configuration variable CUSTOS_LOG_LEVELS is ignored (did you mean CUSTOS_LOG_LEVEL?)",
            "unknown configuration variable CUSTOS_SERVER_PROT is ignored (did you mean CUSTOS_SERVER_PORT?)",
        ])
    }

    /// docs/configuration.md documents every key and its variable.
    @Test func everyKeyIsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for key in ServerConfiguration.keys.keys.sorted() {
            #expect(text.contains("| `\(key)` |"), "docs/configuration.md has no row for \(key)")
        }
        for key in ServerConfiguration.reloadableKeys.sorted() {
            #expect(text.contains("`\(key)`"), "\(key)")
        }
    }
}
