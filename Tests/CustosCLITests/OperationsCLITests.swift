import ArgumentParser
import CustosJSON
import CustosKeystore
import Foundation
import Logging
import Testing

@testable import CustosCLI

/// Runs the built binary with exactly the environment given (plus PATH).
func runCustos(_ arguments: [String], environment: [String: String], workingDirectory: String? = nil) throws -> CLI.Result {
    try CLI.spawn(arguments, environment: environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { a, _ in a },
                  workingDirectory: workingDirectory)
}

@Suite("JSON log lines")
struct JSONLogTests {
    @Test func oneParsableObjectPerLineWhateverTheValues() throws {
        let hostile = "alias\n\u{1b}[2J\u{7f}\u{9b}31m\u{202e}evil\r\"quoted\"\\"
        let line = CustosLogHandler.jsonLine(
            time: Date(timeIntervalSince1970: 1_764_676_800.123456), level: .warning, label: "custos.server",
            message: "refused \(hostile)",
            metadata: ["key": .string(hostile), "count": .stringConvertible(3), "nested": .dictionary(["inner": .array([.string("a\nb")])])],
            source: "CustosServer")
        #expect(line.hasSuffix("\n") && line.filter { $0 == "\n" }.count == 1)
        #expect(!line.unicodeScalars.contains { TerminalText.isUnsafe($0) && $0 != "\n" })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2025-12-02T12:00:00.123456Z")
        #expect(object["level"] as? String == "warning" && object["label"] as? String == "custos.server")
        #expect(object["message"] as? String == "refused \(hostile)" && object["source"] as? String == "CustosServer")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["key"] as? String == hostile && metadata["count"] as? String == "3")
        #expect(((metadata["nested"] as? [String: Any])?["inner"] as? [String]) == ["a\nb"])
    }

    @Test func timestampsAreRFC3339UTCWithMicroseconds() {
        #expect(CustosLogHandler.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000Z")
        #expect(CustosLogHandler.timestamp(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500000Z")
    }

    @Test func handlersFollowTheSharedLevelUnlessSetThemselves() {
        let settings = LogSettings(level: .warning)
        var handler = CustosLogHandler(label: "x", settings: settings)
        #expect(handler.logLevel == .warning)
        settings.level = .debug
        #expect(handler.logLevel == .debug)
        handler.logLevel = .error
        settings.level = .trace
        #expect(handler.logLevel == .error)
        settings.lower(to: .info)
        #expect(settings.level == .trace)
    }

    /// A verbose CLI command with `CUSTOS_LOG_FORMAT=json` writes only JSON lines on stderr.
    @Test func theCLIWritesJSONLogsWhenAsked() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-jsonlog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let environment = ["CUSTOS_PASSPHRASE": "json log passphrase", "CUSTOS_LOG_FORMAT": "json", "HOME": directory]
        let created = try runCustos(["init", "--scrypt-log-n", "10", "--data-dir", directory], environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        let listed = try runCustos(["tenant", "create", "acme", "--verbose", "--data-dir", directory], environment: environment)
        #expect(listed.status == 0, "\(listed.stderr)")
        let lines = listed.stderr.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["message"] is String && object?["time"] is String, "\(line)")
        }
    }
}

@Suite("home directory")
struct HomeDirectoryTests {
    @Test func tildeComesFromHOME() {
        #expect(HomeDirectory.expand("~/.custos", environment: ["HOME": "/srv/custos-home"]) == "/srv/custos-home/.custos")
        #expect(HomeDirectory.expand("~/.custos", environment: ["HOME": "/srv/custos-home/"]) == "/srv/custos-home/.custos")
        #expect(HomeDirectory.expand("~", environment: ["HOME": "/h"]) == "/h")
        #expect(HomeDirectory.expand("/abs/~/x", environment: ["HOME": "/h"]) == "/abs/~/x")
        #expect(HomeDirectory.expand("rel", environment: ["HOME": "/h"]) == "rel")
        // Without HOME, the password database answers.
        let fallback = HomeDirectory.path(environment: [:])
        #expect(fallback.hasPrefix("/") && fallback == String(cString: getpwuid(getuid())!.pointee.pw_dir))
    }

    @Test func theDefaultDataDirectoryIsUnderHOME() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("custos-home-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try runCustos(["init", "--scrypt-log-n", "10", "--json"], environment: ["CUSTOS_PASSPHRASE": "home test passphrase", "HOME": home])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json?["data_dir"] as? String == home + "/.custos")
        #expect(FileManager.default.fileExists(atPath: home + "/.custos/" + LocalLayout.databaseName))
    }
}

@Suite("file errors")
struct NamedFileTests {
    @Test func theErrorNamesTheFileAndTheCause() throws {
        #expect(throws: NamedFile.ReadError(what: "TLS certificate", path: "/nonexistent/x.pem", cause: "no such file")) {
            try NamedFile.read("/nonexistent/x.pem", what: "TLS certificate")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-named-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: NamedFile.ReadError(what: "token file", path: directory, cause: "is a directory")) {
            try NamedFile.read(directory, what: "token file")
        }
        let big = directory + "/big"
        try Data(repeating: 0x41, count: 100).write(to: URL(fileURLWithPath: big))
        #expect(throws: NamedFile.ReadError(what: "token file", path: big, cause: "larger than 10 bytes")) {
            try NamedFile.read(big, what: "token file", limit: 10)
        }
        #expect(try NamedFile.read(big, what: "token file").count == 100)
        if getuid() != 0 {
            let locked = directory + "/locked"
            try Data("x".utf8).write(to: URL(fileURLWithPath: locked))
            chmod(locked, 0)
            #expect(throws: NamedFile.ReadError(what: "token file", path: locked, cause: "permission denied")) {
                try NamedFile.read(locked, what: "token file")
            }
        }
    }

    @Test func theCLIReportsThem() throws {
        let result = try runCustos(["tenant", "list", "--server", "http://127.0.0.1:1", "--token-file", "/nonexistent/token"], environment: [:])
        #expect(result.status == 2)
        #expect(result.stderr == "error: cannot read token file /nonexistent/token: no such file\n", "\(result.stderr)")
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("custos-passfile-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: home) }
        let passphrase = try runCustos(["init", "--data-dir", home, "--passphrase-file", "/nonexistent/pass"], environment: [:])
        #expect(passphrase.status == 2)
        #expect(passphrase.stderr == "error: cannot read passphrase file /nonexistent/pass: no such file\n", "\(passphrase.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home))
    }
}

/// Every command either talks to the server given by --server or refuses it as local-only:
/// none ignores it. The command tree comes from ArgumentParser's own description of the
/// tool, so a new command is checked without being listed here.
@Suite("--server on every command")
struct ServerOptionTests {
    struct Leaf {
        var path: [String]
        var arguments: [String]
    }

    /// Values for required arguments that must be well-formed for the command to get as far
    /// as the server or the local-only refusal (a dummy "x" is refused earlier for these).
    static let values: [String: String] = [
        "--role": "admin", "--ttl": "1h", "--scheme": "ed25519", "--days": "30", "--checkpoint-interval": "10", "--client": "0",
        "--replica": "0", "--client-id": "0", "--replicas": "all", "--clients": "all",
        "--shares": "3", "--threshold": "2", "--to": "passphrase", "--next": "1",
    ]

    /// Commands that read nothing but the binary itself take no --server at all: ArgumentParser
    /// refuses the option as a usage error (64), which is not ignoring it either.
    static let withoutServerOption: Set<String> = ["version"]

    /// Optional arguments some commands need to get that far (one of two forms is required).
    static let extra: [String: [String]] = [
        "sign": ["--message-hex", "00"], "verify": ["--message-hex", "00", "--signature", "00", "--tenant", "t", "--key", "k"],
        "encrypt": ["--plaintext-hex", "00"], "decrypt": ["--ciphertext-hex", "00"], "hmac": ["--message-hex", "00"],
        "tls issue": ["--self-signed"], "tls revoke": ["--serial", "01"], "root migrate": ["--to", "passphrase"],
        "cluster genesis": ["--replica", "0=127.0.0.1:1"], "eth sign-tx": ["--tx", "{}"], "eth sign-message": ["--message", "m"], "cluster command replace-replica": ["--enrolment", String(repeating: "11", count: 32)],
    ]

    /// Operator commands sign in the local data directory, then submit to --server (which
    /// they use); without a data directory they stop at the first step. `cluster command
    /// submit` and `add-client` read their input file before anything else.
    static let stopsEarlier: [String: String] = [
        "cluster command rotate-replica-keys": "no Custos data directory", "cluster command rotate-client-keys": "no Custos data directory",
        "cluster command remove-client": "no Custos data directory", "cluster command replace-replica": "no Custos data directory",
        "cluster command rotate-operator-key": "no Custos data directory", "cluster operator-key promote": "no Custos data directory",
        "cluster command add-client": "is not a custos-cluster-client-v1 JSON file",
        "cluster command submit": "is not a custos-cluster-command-v1 JSON file",
        "eth sign-typed-data": "the typed data: invalid JSON",
    ]

    static func leaves() throws -> [Leaf] {
        let dump = try runCustos(["--experimental-dump-help"], environment: [:])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        let command = try #require(root["command"] as? [String: Any])
        var leaves: [Leaf] = []
        func walk(_ node: [String: Any], path: [String]) {
            let subcommands = (node["subcommands"] as? [[String: Any]] ?? []).filter { ($0["commandName"] as? String) != "help" }
            if !subcommands.isEmpty {
                for sub in subcommands { walk(sub, path: path + [sub["commandName"] as? String ?? "?"]) }
                return
            }
            var arguments: [String] = []
            var positional: [String] = []
            for argument in node["arguments"] as? [[String: Any]] ?? [] {
                guard (argument["isOptional"] as? Bool) == false else { continue }
                let kind = argument["kind"] as? String
                let name = (argument["preferredName"] as? [String: Any])?["name"] as? String ?? ""
                if kind == "positional" {
                    positional.append("x")
                } else if kind == "option" {
                    arguments += ["--" + name, values["--" + name] ?? "x"]
                }
            }
            leaves.append(Leaf(path: path, arguments: arguments + positional + (extra[path.joined(separator: " ")] ?? [])))
        }
        walk(command, path: [])
        return leaves
    }

    @Test func everyCommandHonoursOrRefusesServer() throws {
        let leaves = try Self.leaves()
        #expect(leaves.count > 60, "\(leaves.count) commands")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("custos-server-option-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // "x", the value of every required file argument, exists.
        try Data("00".utf8).write(to: URL(fileURLWithPath: scratch + "/x"))
        var local: [String] = [], remote: [String] = []
        for leaf in leaves {
            let name = leaf.path.joined(separator: " ")
            let result = try runCustos(leaf.path + leaf.arguments + ["--server", "http://127.0.0.1:1", "--token", "cst_x",
                                                                    "--data-dir", scratch + "/data"],
                                       environment: ["CUSTOS_PASSPHRASE": "p", "HOME": scratch], workingDirectory: scratch)
            let refused = result.stderr.contains("works on a local data directory or offline, not through --server")
            let honoured = result.stderr.contains("cannot reach the Custos server")
            if Self.withoutServerOption.contains(name) {
                #expect(result.status == 64 && result.stderr.contains("unknown option '--server'"), "\(name): exit \(result.status): \(result.stderr.prefix(300))")
                continue
            }
            let expected = Self.stopsEarlier[name].map { result.stderr.contains($0) } ?? (refused || honoured)
            #expect(result.status == 2 && expected, "\(name): exit \(result.status): \(result.stderr.prefix(300))")
            if refused { local.append(name) } else if honoured { remote.append(name) }
        }
        // A local-only refusal never touches the data directory.
        #expect(!FileManager.default.fileExists(atPath: scratch + "/data"))
        #expect(local.contains("root status") && local.contains("serve") && local.contains("init") && local.contains("root check"))
        #expect(remote.contains("sign") && remote.contains("tenant list") && remote.contains("token create"))
    }
}
