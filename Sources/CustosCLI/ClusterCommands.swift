import ArgumentParser
import CustosAPI
import CustosServer
import Foundation

/// `custos cluster …`: the replica network this data directory joined, read locally or
/// through a server (`--server`), and the offline check of an exported key log.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "The replica network: enrolment, genesis and join; status, the key log, its export and offline verification.",
        subcommands: [Enrol.self, Genesis.self, Join.self, Status.self, Log.self])

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
                    let lines = page.entries.map { entry in
                        let name = entry.name.map { "(\($0.replica), g\($0.generation), e\($0.epoch))" } ?? "-"
                        return "\(entry.index)  s=\(entry.sequence)  \(name)  \(entry.status)\(entry.reason.isEmpty ? "" : " " + Output.field(entry.reason))  head \(entry.head.prefix(16))"
                    }
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
                        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(Output.field(file))") }
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
            lines.append("  replica \(keys.replica): active (g\(keys.active.generation), e\(keys.active.epoch)), newest certified (g\(keys.newestCertified.generation), e\(keys.newestCertified.epoch))")
        }
        return lines.joined(separator: "\n")
    }

    static func text(_ report: ClusterLogVerifyResponse) -> String {
        guard report.valid else { return "the key log does not verify: \(report.problem ?? "unknown problem")" }
        return "the key log verifies: \(report.entries) entries (\(report.accepted) accepted), head \(report.head.prefix(16)); "
            + "\(report.checkpointsVerified) stable checkpoints" + (report.latestStableBoundary.map { ", the latest at boundary \($0) covering \(report.verifiedEntries) entries" } ?? "")
    }
}
