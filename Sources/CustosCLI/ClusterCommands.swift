import ArgumentParser
import CustosAPI
import CustosClient
import CustosJSON
import CustosServer
import CustosKeystore
import Foundation
import Synchronization

/// `custos cluster …`: the replica network this data directory joined, read locally or
/// through a server (`--server`), and the offline check of an exported key log.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "The replica network: enrolment, genesis and join; status, the key log, its export and offline verification.",
        subcommands: [Enrol.self, Genesis.self, Join.self, Command.self, OperatorKeyCommand.self, Client.self, Status.self, Log.self, Watch.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "This replica's phase, keys per replica, key log and stable checkpoint.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await withBackend(global) { backend in
                let status = try await backend.clusterStatus()
                global.output.emit(Output.object(status), text: ClusterCommand.text(status))
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow the key log of a server as it grows (server-sent events): one line per entry.",
            discussion: """
                Prints each entry's index, sequence, kind, status (void: with its reason) and subject, from --after on, \
                and resumes after the last entry seen when the server ends a stream. With --until-complete C it exits 0 \
                once command C is complete (1 if it is void); with --timeout it exits 1 when the time runs out first.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Start at this entry index (entries before it are skipped).") var after: UInt64 = 0
        @Option(name: .long, help: "Exit 0 once this operator command is complete.") var untilComplete: UInt64?
        @Option(name: .long, help: "Give up after this long: 500ms, 30s, 5m, 1h (default: never).") var timeout: String?

        func validate() throws {
            guard global.resolvedServer != nil else { throw ValidationError("watch follows a server: give --server URL (or $CUSTOS_SERVER)") }
            if let timeout { _ = try ClusterCommand.duration(timeout) }
        }

        func run() async throws {
            try await runReporting {
                let client = try CustosClient(server: global.resolvedServer ?? "", token: try global.bearerToken().copyBytes())
                defer { client.close() }
                let limit = try timeout.map(ClusterCommand.duration)
                let outcome = try await withThrowingTaskGroup(of: Bool?.self) { group in
                    group.addTask { try await follow(client) }
                    if let limit {
                        group.addTask {
                            try await Task.sleep(for: limit)
                            return nil
                        }
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
                switch outcome {
                case true?: return
                case false?:
                    Output.error(CLIError("command \(untilComplete ?? 0) is void"))
                    throw ExitCode(1)
                case nil:
                    Output.error(CLIError("timed out after \(timeout ?? "")" + (untilComplete.map { " before command \($0) was complete" } ?? "")))
                    throw ExitCode(1)
                }
            }
        }

        /// Streams entries until the command is complete (true) or void (false); without
        /// --until-complete, until cancelled. A stream the server ends is opened again after
        /// the last entry seen; one that fails is retried after a pause, a refusal is not.
        private func follow(_ client: CustosClient) async throws -> Bool {
            let output = global.output, until = untilComplete
            let next = Cursor(after)
            var failures = 0
            while !Task.isCancelled {
                if let verdict = try await Self.verdict(client, until) { return verdict }
                let from = next.value
                do {
                    try await withThrowingTaskGroup(of: Bool?.self) { group in
                        group.addTask {
                            for try await entry in client.clusterWatch(after: from) {
                                output.emit(Output.object(entry), text: ClusterCommand.line(entry))
                                next.value = entry.index + 1
                            }
                            return nil
                        }
                        // Completion follows checkpoint notices, which are not entries: asked for beside the stream.
                        if until != nil {
                            group.addTask {
                                while !Task.isCancelled {
                                    try await Task.sleep(for: .milliseconds(200))
                                    if let verdict = try await Self.verdict(client, until) { return verdict }
                                }
                                return nil
                            }
                        }
                        defer { group.cancelAll() }
                        if let verdict = try await group.next() ?? nil { throw Verdict(value: verdict) }
                    }
                } catch let verdict as Verdict {
                    return verdict.value
                } catch let error as CustosClientError {
                    if case .problem(let status, _, _) = error, status != 503 { throw error }
                    failures = next.value > from ? 1 : failures + 1
                    guard failures < 30 else { throw error }
                    try await Task.sleep(for: .seconds(1))
                }
            }
            throw CancellationError()
        }

        private struct Verdict: Error { let value: Bool }

        /// The next entry index to ask for, shared by the stream's task and the loop.
        private final class Cursor: Sendable {
            private let state: Mutex<UInt64>
            init(_ value: UInt64) { state = Mutex(value) }
            var value: UInt64 {
                get { state.withLock { $0 } }
                set { state.withLock { $0 = newValue } }
            }
        }

        private static func verdict(_ client: CustosClient, _ number: UInt64?) async throws -> Bool? {
            guard let number else { return nil }
            guard let command = try await client.clusterCommands().commands.first(where: { $0.number == number }) else { return nil }
            switch command.state {
            case "complete": return true
            case "void": return false
            default: return nil
            }
        }
    }

    /// One key-log entry on one line: index, sequence, kind, status (and reason), subject.
    static func line(_ entry: ClusterLogEntry) -> String {
        let subject = entry.subject ?? entry.name.map { "(replica \($0.replica), g\($0.generation), e\($0.epoch))" } ?? "-"
        let status = entry.status + (entry.reason.isEmpty ? "" : " " + Output.field(entry.reason))
        return "\(entry.index)  s=\(entry.sequence)  \(Output.field(entry.kind ?? "replica-record"))  \(Output.field(status))  \(Output.field(subject))"
    }

    /// "500ms", "30s", "5m", "1h", or seconds.
    static func duration(_ text: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(text), factor = 1.0
        if let (suffix, unit) = units.first(where: { text.hasSuffix($0.0) }) {
            number = text.dropLast(suffix.count)
            factor = unit
        }
        guard let value = Double(number), value > 0, value.isFinite, value * factor <= 86_400 * 365 else {
            throw ValidationError("--timeout '\(TerminalText.escaped(String(text.prefix(20))))' is not a duration like 500ms, 30s, 5m or 1h")
        }
        return .milliseconds(Int64(value * factor * 1000))
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The key log.", subcommands: [List.self, Export.self, Verify.self], defaultSubcommand: List.self)

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Key-log entries after the first --after.")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "Skip this many entries.") var after: UInt64 = 0
            @Option(name: .long, help: "Entries at most (1–1000).") var limit: Int = 1000

            func validate() throws {
                guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1–1000") }
            }

            func run() async throws {
                try await withBackend(global) { backend in
                    let page = try await backend.clusterLog(after: after, limit: limit)
                    let lines = page.entries.map { ClusterCommand.line($0) + "  head \($0.head.prefix(16))" }
                    global.output.emit(Output.object(page), text: lines.isEmpty ? "no entries" : lines.joined(separator: "\n"))
                }
            }
        }

        struct Export: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write the signed configuration, every entry and the stable checkpoints (LogExport CBOR) to a file.")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "The file to write.") var out: String

            func run() async throws {
                try await withBackend(global) { backend in
                    let export = try await backend.clusterLogExport()
                    guard export.format == ClusterLogExport.formatName, let bytes = Base64Text.decode(export.log) else {
                        throw CLIError("the server's log export is not \(ClusterLogExport.formatName)")
                    }
                    try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic)
                    global.output.emit(["file": out, "bytes": bytes.count], text: "wrote \(bytes.count) bytes to \(Output.field(out))")
                }
            }
        }

        struct Verify: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Replay an exported key log from its genesis configuration alone (a FILE, or the export of --server).",
                discussion: "Exit status 0 when every entry recomputes identically and every stable checkpoint is signed by a quorum over the head the recomputed log has at its boundary; 1 otherwise.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "A file written by `custos cluster log export`.") var file: String?

            func validate() throws {
                guard (file != nil) != (global.server != nil) else { throw ValidationError("give a FILE or --server URL, not both") }
            }

            func run() async throws {
                var bytes: [UInt8] = []
                if let file {
                    try await runReporting {
                        let data = try NamedFile.data(file, what: "file")
                        bytes = Array(data)
                    }
                } else {
                    try await withBackend(global) { backend in
                        let export = try await backend.clusterLogExport()
                        guard let decoded = Base64Text.decode(export.log) else { throw CLIError("the server's log export is not base64") }
                        bytes = decoded
                    }
                }
                let report = ClusterLogCheck.verify(bytes)
                global.output.emit(Output.object(report), text: ClusterCommand.text(report))
                if !report.valid { throw ExitCode(1) }
            }
        }
    }

    static func text(_ status: ClusterNodeStatus) -> String {
        switch status {
        case .replica(let status): text(status)
        case .client(let status): text(status)
        }
    }

    static func text(_ status: ClusterStatusResponse) -> String {
        var lines = [
            "cluster    \(status.clusterID)",
            "replica    \(status.replica) of \(status.n) (f = \(status.f), quorum \(status.quorum), W = \(status.checkpointInterval))",
            "phase      \(status.phase)",
            "log        \(status.logLength) entries, head \(status.logHead.prefix(16))",
            "stable     " + (status.latestStableBoundary.map { "boundary \($0)" } ?? "none"),
            "floor      " + (status.restoreFloor.map(String.init) ?? "unknown (recovering)"),
        ]
        if let pending = status.pendingCandidate { lines.append("candidate  (\(pending.replica), g\(pending.generation), e\(pending.epoch)) not yet in the log") }
        for keys in status.replicas {
            var line = "  replica \(keys.replica): active (g\(keys.active.generation), e\(keys.active.epoch)), newest certified (g\(keys.newestCertified.generation), e\(keys.newestCertified.epoch))"
            line += ", last rotated " + (keys.lastRotatedSequence.map { "at s=\($0)" } ?? "never")
            if !keys.pendingCommands.isEmpty { line += ", pending commands " + keys.pendingCommands.map(String.init).joined(separator: ",") }
            lines.append(line)
        }
        for client in status.clients {
            lines.append("  " + text(client))
        }
        if !status.commands.isEmpty { lines.append("commands") }
        for command in status.commands {
            lines.append("  " + text(command))
        }
        if let error = status.startError { lines.append("not started: \(Output.field(error))") }
        return lines.joined(separator: "\n")
    }

    static func text(_ client: ClusterClientStatus) -> String {
        var line = "client \(client.id): " + (client.removed ? "removed, " : "")
        line += "active " + (client.activeEpoch.map { "e\($0)" } ?? "none") + ", newest e\(client.newestEpoch) (\(Output.field(client.signingScheme)))"
        line += ", last rotated " + (client.lastRotatedSequence.map { "at s=\($0)" } ?? "never")
        if !client.pendingCommands.isEmpty { line += ", pending commands " + client.pendingCommands.map(String.init).joined(separator: ",") }
        return line
    }

    static func text(_ command: ClusterCommandStatus) -> String {
        var line = "command \(command.number) \(Output.field(command.action)): \(Output.field(command.state))"
        if let reason = command.reason, !reason.isEmpty { line += " (\(Output.field(reason)))" }
        if command.state == "relaying" || command.state == "contested" { line += ", \(command.approvals)/\(command.quorum) approvals" }
        if let sequence = command.sequence { line += ", scheduled at s=\(sequence)" }
        if !command.targetsRemaining.isEmpty { line += ", waiting for " + command.targetsRemaining.map(Output.field).joined(separator: ", ") }
        return line + ", digest \(command.digest.prefix(16))"
    }

    static func text(_ status: ClusterClientNodeStatus) -> String {
        var lines = [
            "cluster    \(status.clusterID)",
            "client     \(status.client)",
            "phase      \(Output.field(status.phase))",
            "keys       active " + (status.activeEpoch.map { "e\($0)" } ?? "none") + ", newest " + (status.newestEpoch.map { "e\($0)" } ?? "none")
                + (status.pendingEpoch.map { ", candidate e\($0) not yet in the log" } ?? ""),
            "log        \(status.logLength) entries, head \(status.logHead.prefix(16)), checkpoint \(status.latestCheckpoint)"
                + (status.followedReplica.map { ", from replica \($0)" } ?? ""),
        ]
        if !status.pendingCommands.isEmpty { lines.append("pending    commands " + status.pendingCommands.map(String.init).joined(separator: ",")) }
        if let error = status.startError { lines.append("not started: \(Output.field(error))") }
        return lines.joined(separator: "\n")
    }

    static func text(_ report: ClusterLogVerifyResponse) -> String {
        guard report.valid else { return "the key log does not verify: \(report.problem ?? "unknown problem")" }
        return "the key log verifies: \(report.entries) entries (\(report.accepted) accepted), head \(report.head.prefix(16)); "
            + "\(report.checkpointsVerified) stable checkpoints" + (report.latestStableBoundary.map { ", the latest at boundary \($0) covering \(report.verifiedEntries) entries" } ?? "")
    }
}
