import ArgumentParser
import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosServer
import CustosStore
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API on the data directory until SIGTERM or SIGINT; SIGHUP reloads the configuration (see docs/configuration.md).")

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "JSON configuration file; CUSTOS_* environment variables override it.")
    var config: String?

    func run() async throws {
        // A hangup during the start (the unseal may take seconds) must not kill the
        // server; once running, SIGHUP reloads the configuration.
        signal(SIGHUP, SIG_IGN)
        let configuration: ServerConfiguration
        do {
            try global.requireLocal("serve")
            configuration = try await ServerConfiguration.load(file: config)
        } catch {
            Output.error(error)
            throw ExitCode(2)
        }
        for warning in ServerConfiguration.unknownEnvironmentVariables(ProcessInfo.processInfo.environment) { Output.warning(warning) }
        CLILogging.apply(configuration)
        let logger = Logger(label: "custos.server")
        let registry = CustosServer.bootstrapMetrics()
        try await runReporting {
            let keys = try await global.openKeystore(cacheCapacity: configuration.cacheCapacity,
                                                     recordTimeToLive: configuration.recordTimeToLive)
            var server = CustosServer(configuration: configuration, keys: keys, registry: registry, logger: logger)
            let file = config
            server.reloadConfiguration = { try await ServerConfiguration.load(file: file) }
            server.applyLogging = { CLILogging.apply($0) }
            let scheme = configuration.tls == nil ? "http" : "https"
            try await server.run { port in
                Output.line("custos: listening on \(scheme)://\(configuration.host):\(port)")
                logger.info("listening", metadata: ["address": "\(configuration.host):\(port)", "tls": "\(configuration.tls != nil)",
                                                     "client_certificates": "\(configuration.tls?.requiresClientCertificate ?? false)"])
            }
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "API bearer tokens: create (shown once), list, revoke.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; its secret is printed once and stored only as a hash.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Tenant the token is bound to (omit for a node-wide token).") var tenant: String?
        @Option(help: "admin, operator, signer, auditor or node.") var role: String
        @Option(help: "Lifetime: seconds, or a number with s, m, h or d (at most 366d).") var ttl: String = "30d"
        @Option(help: "A note shown in listings (at most 200 bytes, no control characters).") var description: String?

        func run() async throws {
            guard ["admin", "operator", "signer", "auditor", "node"].contains(role) else {
                Output.error(CLIError("--role must be admin, operator, signer, auditor or node")); throw ExitCode(2)
            }
            try await withBackend(global) { backend in
                let lifetime = try Duration.parseLifetime(ttl)
                let created = try await backend.createToken(CreateTokenRequest(tenant: tenant, role: role, ttlSeconds: Int(lifetime.rounded()),
                                                                               description: description))
                let bearer = created.bearer.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                var object = tokenJSON(created.token)
                object["bearer"] = bearer
                global.output.emit(object, text: """
                    token \(created.token.id) (\(role), \(created.token.tenant.map { "tenant \($0)" } ?? "all tenants"), expires \(Output.timestamp(created.token.expiresAt)))
                    \(bearer)
                    This secret is shown once; Custos keeps only its hash.
                    """)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this tenant's tokens.") var tenant: String?

        func run() async throws {
            try await withBackend(global) { backend in
                let list = try await backend.tokens(tenant: tenant)
                if global.json {
                    Output.line(Output.encode(["tokens": list.map(tokenJSON)]))
                } else {
                    for token in list {
                        let state = token.revokedAt != nil ? "revoked" : token.expiresAt < Date() ? "expired" : "active"
                        let f = Output.field
                        Output.line("\(f(token.id))\t\(f(token.role))\t\(f(token.tenant ?? "*"))\t\(state)\texpires \(Output.timestamp(token.expiresAt))\t\(f(token.description ?? ""))")
                    }
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Token id (the 16 hex digits after cst_).") var id: String

        func run() async throws {
            try await withBackend(global) { backend in
                let token = try await backend.revokeToken(id: id)
                global.output.emit(tokenJSON(token), text: "revoked token \(token.id)")
            }
        }
    }
}

func tokenJSON(_ token: TokenResponse) -> [String: Any] { Output.object(token) as? [String: Any] ?? [:] }

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read and verify the tamper-evident audit log.",
        subcommands: [List.self, Verify.self, Checkpoint.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit records in sequence order.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this tenant's records.") var tenant: String?
        @Option(help: "Only records after this sequence number.") var after: Int64 = 0
        @Option(help: "At most this many records.") var limit: Int = 100
        @Option(help: "Only this operation (sign, generate, ...).") var operation: String?

        func run() async throws {
            try await withBackend(global) { backend in
                let records = try await backend.auditRecords(after: after, limit: min(max(limit, 1), 100_000),
                                                            tenant: tenant, operation: operation)
                for record in records {
                    if global.json {
                        Output.line(Output.encode(auditJSON(record)))
                    } else {
                        let f = Output.field
                        let key = record.keyID.map { " key \(f($0))" + (record.keyVersion.map { " v\($0)" } ?? "") } ?? ""
                        let details = record.details.sorted { $0.key < $1.key }.map { "\(f($0.key))=\(f($0.value))" }.joined(separator: " ")
                        Output.line("\(record.sequence)\t\(Output.timestamp(record.time))\t\(f(record.actor))\t\(f(record.tenant ?? "-"))\t\(f(record.operation))\t\(f(record.outcome))\(key)\t\(details)")
                    }
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the whole chain; name every edited, deleted, inserted, reordered or truncated record. Exit 1 if any.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Report only findings on this tenant's records.") var tenant: String?

        func run() async throws {
            var intact = true
            try await withBackend(global) { backend in
                let result = try await backend.verifyAudit(tenant: tenant)
                intact = result.intact
                if global.json {
                    Output.line(Output.encode(Output.object(result)))
                } else {
                    for finding in result.findings { Output.line("record \(finding.sequence): \(Output.field(finding.kind)): \(Output.field(finding.detail))") }
                    for fork in result.restoredForks ?? [] { Output.line("restored: \(Output.field(fork))") }
                    Output.line(result.intact
                        ? "audit log intact: \(result.recordsChecked) records, \(result.checkpointsChecked) signed checkpoints"
                        : "audit log TAMPERED: \(result.findings.count) finding(s) in \(result.recordsChecked) records")
                }
            }
            if !intact { throw ExitCode(1) }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign the current chain head with the node's audit key.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Write a new high-water mark at this head even if the mark is missing, forged or ahead (after checking the log).")
        var resetMark = false

        func run() async throws {
            try await runReporting { try global.requireLocal("audit checkpoint") }
            try await withKeystore(global) { service in
                if let checkpoint = try await service.audit.checkpoint(resetMark: resetMark) {
                    global.output.emit(["sequence": checkpoint.sequence, "head": Hex.encode(checkpoint.headHash),
                                        "signer": checkpoint.signerFingerprint],
                                       text: "signed checkpoint at record \(checkpoint.sequence)")
                } else {
                    global.output.emit(["sequence": NSNull()], text: "no new records since the last checkpoint")
                }
            }
        }
    }
}

func auditJSON(_ record: AuditRecordResponse) -> Any { Output.object(record) }

extension Duration {
    /// "90", "90s", "15m", "12h", "30d" → seconds.
    static func parseLifetime(_ text: String) throws -> TimeInterval {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var number = Substring(text)
        var unit = 1.0
        if let last = text.last, let factor = units[last] {
            number = text.dropLast()
            unit = factor
        }
        guard let value = Double(number), value > 0, value.isFinite else {
            throw CLIError("--ttl '\(text.prefix(20))' is not a lifetime like 3600, 90m, 12h or 30d")
        }
        return value * unit
    }
}
