import ArgumentParser
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation

/// `custos backup`: online backups of a data directory, their checks, and restores.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Take, check and restore backups of the data directory (docs/operations.md).",
        subcommands: [Create.self, Verify.self, Restore.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a consistent backup of the data directory, also while it is being served.",
            discussion: """
                DEST is a new or empty directory, or a file ending in .tar; nothing is ever overwritten. \
                No root secret is needed to take the backup. When the root of trust opens with the usual \
                secrets, the backup is audited as backup.create; otherwise it is taken and a warning says \
                it was not audited.
                """)
        @OptionGroup var global: GlobalOptions

        @Argument(help: "Where to write the backup: a new directory, or a file ending in .tar.")
        var destination: String

        @Flag(name: .long, help: "Do not open the root of trust to audit the backup.")
        var noAudit = false

        func run() async throws {
            try await runReporting {
                try global.requireLocal("backup create")
                CLILogging.bootstrap(level: global.verbose ? .info : .warning, onlyRaise: true)
                try global.checkDataDirectory()
                let directory = global.resolvedDataDirectory
                let manifest = try await DataDirectoryBackup.create(dataDirectory: directory, destination: destination, custosVersion: CustosVersion.release)
                var audited = false
                if !noAudit {
                    do {
                        let service = try await global.openKeystore()
                        do {
                            try await service.recordBackup(manifest, destination: destination, by: .local)
                            await signAuditHead(service)
                            try await service.close()
                            audited = true
                        } catch {
                            try? await service.close()
                            throw error
                        }
                    } catch {
                        Output.warning("the backup was taken but not audited (the root of trust did not open: \(error))")
                    }
                }
                global.output.emit(BackupText.fields(manifest, path: destination).merging(["audited": audited] as [String: Any]) { $1 },
                                   text: "backup written to \(destination)\n" + BackupText.describe(manifest) + (audited ? "\naudited as backup.create" : ""))
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a backup: its manifest, every file's SHA-256 and the database's integrity.",
            discussion: "Exit code 0 when the backup is sound; 1 when it is damaged (the problems are listed); 2 when it is not a backup at all.")
        @OptionGroup var global: GlobalOptions

        @Argument(help: "The backup: a directory or a .tar file.")
        var backup: String

        func run() async throws {
            var damaged = false
            try await runReporting {
                try global.requireLocal("backup verify")
                let (opened, check) = try await DataDirectoryBackup.open(backup)
                opened.close()
                damaged = !check.problems.isEmpty
                var fields = BackupText.fields(opened.manifest, path: backup)
                fields["ok"] = !damaged
                fields["problems"] = check.problems
                global.output.emit(fields, text: (damaged ? "backup \(backup) is DAMAGED:\n" + check.problems.map { "  \($0)" }.joined(separator: "\n")
                                                  : "backup \(backup) is sound") + "\n" + BackupText.describe(opened.manifest))
            }
            if damaged { throw ExitCode(1) }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore a backup into a new data directory (--data-dir), and say what it brings back.",
            discussion: """
                The backup is verified first and restored into a private folder beside the new directory, \
                which appears only once the restored store has opened with the root of trust, its audit chain \
                verified and every key opened. Keys destroyed after the snapshot (learnt from --previous) are \
                destroyed again unless --keep-destroyed. The restored log starts with a backup.restore record \
                linking the snapshot's head to the head before the restore (from CUSTOS_AUDIT_SINK or --previous).
                """)
        @OptionGroup var global: GlobalOptions

        @Argument(help: "The backup: a directory or a .tar file.")
        var backup: String

        @Option(name: .long, help: "The old data directory, if still readable: read (never written) for what happened after the snapshot.")
        var previous: String?

        @Flag(name: .long, help: "Keep alive the keys destroyed after the snapshot instead of destroying them again (audited).")
        var keepDestroyed = false

        func run() async throws {
            try await runReporting {
                try global.requireLocal("backup restore")
                CLILogging.bootstrap(level: global.verbose ? .info : .warning, onlyRaise: true)
                guard global.dataDir != nil || !(ProcessInfo.processInfo.environment["CUSTOS_DATA_DIR"] ?? "").isEmpty else {
                    throw CLIError("give the new data directory with --data-dir (a restore never writes into the default one by accident)")
                }
                let environment = ProcessInfo.processInfo.environment
                var sink: (any AuditHeadSink)?
                if let setting = environment["CUSTOS_AUDIT_SINK"], !setting.isEmpty {
                    sink = try AuditHeadSinks.make(setting, allowHTTPLoopback: environment["CUSTOS_AUDIT_SINK_ALLOW_HTTP_LOOPBACK"] == "true")
                }
                let target = global.resolvedDataDirectory
                let report = try await DataDirectoryRestore.restore(backup: backup, into: target, secrets: global.rootSecrets,
                                                                    options: .init(previous: previous, sink: sink, keepDestroyed: keepDestroyed))
                global.output.emit(BackupText.fields(report, target: target), text: BackupText.describe(report, target: target))
            }
        }
    }
}

/// How backups and restore reports are shown.
enum BackupText {
    static func fields(_ manifest: BackupManifest, path: String) -> [String: Any] {
        ["backup": path, "format_version": manifest.formatVersion, "custos_version": manifest.custosVersion.map { $0 as Any } ?? NSNull(),
         "schema_version": manifest.schemaVersion, "root_provider": manifest.rootProvider, "root_key_id": manifest.rootKeyID.map { $0 as Any } ?? NSNull(),
         "audit_head": ["sequence": manifest.auditHead.sequence, "hash": manifest.auditHead.hash] as [String: Any], "shred_floors": manifest.shredFloors,
         "created": manifest.created, "files": manifest.files.map { ["name": $0.name, "size": $0.size, "sha256": $0.sha256] as [String: Any] }]
    }

    static func describe(_ manifest: BackupManifest) -> String {
        var lines = ["  taken \(manifest.created)" + (manifest.custosVersion.map { " by Custos \($0)" } ?? "") + ", schema version \(manifest.schemaVersion)",
                     "  root of trust: \(manifest.rootProvider), root key \(manifest.rootKeyID ?? "not recorded")",
                     "  audit head: record \(manifest.auditHead.sequence)" + (manifest.auditHead.hash.isEmpty ? "" : " (\(manifest.auditHead.hash.prefix(16))…)")]
        if !manifest.shredFloors.isEmpty {
            lines.append("  shred floors: " + manifest.shredFloors.sorted { $0.key < $1.key }.map { "\(Output.field($0.key))=\($0.value)" }.joined(separator: ", "))
        }
        lines += manifest.files.map { "  \($0.name)  \($0.size) bytes  sha256 \($0.sha256)" }
        return lines.joined(separator: "\n")
    }

    static func fields(_ report: DataDirectoryRestore.Report, target: String) -> [String: Any] {
        func keys(_ list: [DataDirectoryRestore.DestroyedKey]) -> [[String: Any]] { list.map { ["tenant": $0.tenant, "alias": $0.alias, "key_id": $0.keyID] as [String: Any] } }
        var fields: [String: Any] = [
            "data_dir": target, "snapshot_head": ["sequence": report.manifest.auditHead.sequence, "hash": report.manifest.auditHead.hash] as [String: Any],
            "records_after_snapshot": report.recordsAfterSnapshotCount.map { $0 as Any } ?? NSNull(),
            "records": report.recordsAfterSnapshot.map { ["sequence": $0.sequence, "operation": $0.operation, "tenant": $0.tenantID.map { $0 as Any } ?? NSNull(),
                                                          "outcome": $0.outcome, "actor": $0.actor] as [String: Any] },
            "destroyed_known": report.destroyedKnown, "destroyed_since_snapshot": keys(report.destroyedSinceSnapshot),
            "destroyed_again": keys(report.destroyedAgain), "kept_destroyed": keys(report.keptAlive), "notes": report.notes,
            "restore_record": report.restoreRecordSequence, "keys_checked": report.keysChecked,
        ]
        fields["previous_head"] = report.previousHead.map { ["sequence": $0.sequence, "hash": $0.hash, "source": $0.source] as [String: Any] } ?? NSNull()
        return fields
    }

    static func describe(_ report: DataDirectoryRestore.Report, target: String) -> String {
        let snapshot = report.manifest.auditHead
        var lines = ["restored \(target) from the backup taken \(report.manifest.created) (audit head: record \(snapshot.sequence))"]
        if let head = report.previousHead {
            lines.append("before the restore the log ended at record \(head.sequence) (\(head.hash.prefix(16))…, from \(head.source))")
        } else {
            lines.append("the head of the log before the restore is unknown")
        }
        if let count = report.recordsAfterSnapshotCount {
            lines.append("\(count) audit records after the snapshot are not in the restored log" + (report.recordsAfterSnapshot.isEmpty ? "" : ":"))
            for record in report.recordsAfterSnapshot.prefix(200) {
                lines.append("  \(record.sequence)  \(record.operation)  \(record.outcome)" + (record.tenantID.map { "  tenant \(Output.field($0))" } ?? ""))
            }
            if report.recordsAfterSnapshot.count > 200 { lines.append("  … (\(report.recordsAfterSnapshot.count - 200) more; --json lists them all)") }
        }
        if report.destroyedKnown {
            lines.append("keys destroyed since the snapshot: \(report.destroyedSinceSnapshot.count)")
            for key in report.destroyedAgain { lines.append("  destroyed again: \(Output.field(key.description))") }
            for key in report.keptAlive { lines.append("  KEPT ALIVE (--keep-destroyed, audited): \(Output.field(key.description))") }
        } else {
            lines.append("keys destroyed since the snapshot: unknown (give --previous with the old data directory to find them)")
        }
        lines += report.notes.map { "note: \(Output.field($0))" }
        lines.append("the restored log starts with backup.restore at record \(report.restoreRecordSequence); keys checked: \(report.keysChecked), all open")
        return lines.joined(separator: "\n")
    }
}
