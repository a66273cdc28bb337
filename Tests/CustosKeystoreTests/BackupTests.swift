import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// Backups taken while the store writes, archives from outside, and restores that say
/// what they bring back.
@Suite("Backup and restore")
struct BackupTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("custos-backup-test-\(UUID().uuidString)-\(name)").path
    }

    static func fixtureWithKeys(_ aliases: [String]) async throws -> Fixture {
        let fixture = try await Fixture.make()
        for alias in aliases {
            _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: try KeyAlias(validating: alias), algorithm: .signing(.ed25519)), by: .local)
        }
        return fixture
    }

    @Test func aBackupTakenWhileSigningHoldsACommittedHeadAndChecksClean() async throws {
        let fixture = try await Self.fixtureWithKeys(["k"])
        defer { Task { await fixture.cleanUp() } }
        let destination = Self.temporaryPath("dir")
        defer { try? FileManager.default.removeItem(atPath: destination) }
        let service = fixture.service
        let manifest = try await withThrowingTaskGroup(of: BackupManifest?.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for n in 0..<100 { _ = try await service.sign(tenant: "node-1", alias: "k", message: Array("m\(n)".utf8), by: .local) }
                    return nil
                }
            }
            group.addTask { try await DataDirectoryBackup.create(dataDirectory: fixture.directory, destination: destination) }
            var manifest: BackupManifest?
            for try await result in group { if let result { manifest = result } }
            return manifest!
        }
        // The snapshot's head is a record the live log holds, with the same hash.
        let live = try #require(try await service.store.auditRecords(AuditQuery(after: manifest.auditHead.sequence - 1, limit: 1)).first)
        #expect(live.sequence == manifest.auditHead.sequence && Hex.encode(live.hash) == manifest.auditHead.hash)
        #expect(Set(manifest.files.map(\.name)) == ["custos.sqlite", "root.seal", "custos.shred", "custos.sqlite.audit-mark"])
        #expect(manifest.rootProvider == "passphrase" && manifest.rootKeyID == service.root.rootKeyID)
        let (opened, check) = try await DataDirectoryBackup.open(destination)
        opened.close()
        #expect(check.problems == [])
        #expect(try FileManager.default.attributesOfItem(atPath: destination)[.posixPermissions] as? Int == 0o700)
        for file in manifest.files {
            #expect(try FileManager.default.attributesOfItem(atPath: destination + "/" + file.name)[.posixPermissions] as? Int == 0o600)
        }
    }

    @Test func anArchiveRoundTripsAndHostileEntriesAreRefusedBeforeAnythingIsWritten() throws {
        let source = Self.temporaryPath("src")
        let into = Self.temporaryPath("into")
        defer { for path in [source, into] { try? FileManager.default.removeItem(atPath: path) } }
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: into, withIntermediateDirectories: false)
        let contents: [String: [UInt8]] = ["a": [], "b": Array(repeating: 7, count: 511), "c": (0..<1500).map { UInt8($0 % 251) }]
        for (name, bytes) in contents { _ = FileManager.default.createFile(atPath: source + "/" + name, contents: Data(bytes)) }
        let archive = source + "/x.tar"
        try BackupArchive.write(["a", "b", "c"], from: source, to: archive)
        #expect(throws: (any Error).self) { try BackupArchive.write(["a"], from: source, to: archive) }  // never overwrites
        #expect(try BackupArchive.extract(archive, into: into) == ["a", "b", "c"])
        for (name, bytes) in contents { #expect(FileManager.default.contents(atPath: into + "/" + name) == Data(bytes)) }

        func hostile(_ name: String, type: UInt8 = UInt8(ascii: "0")) throws -> String {
            var header = BackupArchive.header(name: "placeholder", size: 1)
            for index in 0..<100 { header[index] = 0 }
            for (index, byte) in name.utf8.enumerated() { header[index] = byte }
            header[156] = type
            for index in 148..<156 { header[index] = 0x20 }
            let sum = String(header.reduce(0) { $0 + Int($1) }, radix: 8)
            for (index, byte) in (String(repeating: "0", count: 6 - sum.count) + sum).utf8.enumerated() { header[148 + index] = byte }
            header[154] = 0
            let path = Self.temporaryPath("hostile.tar")
            _ = FileManager.default.createFile(atPath: path, contents: Data(header + [0x41] + [UInt8](repeating: 0, count: 511 + 1024)))
            return path
        }
        let cases: [(String, UInt8, String)] = [("../escape", UInt8(ascii: "0"), "leaves the archive"), ("/etc/escape", UInt8(ascii: "0"), "absolute path"),
                                               ("link", UInt8(ascii: "2"), "symbolic link"), ("hard", UInt8(ascii: "1"), "hard link"),
                                               ("dir/file", UInt8(ascii: "0"), "plain file names only"), ("fifo", UInt8(ascii: "6"), "not a regular file")]
        for (name, type, reason) in cases {
            let empty = Self.temporaryPath("empty")
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
            let path = try hostile(name, type: type)
            #expect { _ = try BackupArchive.extract(path, into: empty) } throws: { "\($0)".contains(reason) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: empty) == [])
            try? FileManager.default.removeItem(atPath: empty)
            try? FileManager.default.removeItem(atPath: path)
        }
        // A well-formed header for a plain name extracts: the hostile cases failed for their reason.
        let plain = Self.temporaryPath("plain")
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: plain) }
        #expect(try BackupArchive.extract(try hostile("ok"), into: plain) == ["ok"])
    }

    @Test func aRestoreDestroysAgainTheKeysDestroyedAfterTheSnapshotAndRecordsTheFork() async throws {
        let fixture = try await Self.fixtureWithKeys(["kept", "doomed"])
        defer { Task { await fixture.cleanUp() } }
        let backup = Self.temporaryPath("b.tar")
        let target = Self.temporaryPath("restored")
        defer { for path in [backup, target] { try? FileManager.default.removeItem(atPath: path) } }
        let manifest = try await DataDirectoryBackup.create(dataDirectory: fixture.directory, destination: backup)
        _ = try await fixture.service.sign(tenant: "node-1", alias: "doomed", message: [1], by: .local)
        _ = try await fixture.service.destroy(tenant: "node-1", alias: "doomed", by: .local)
        let oldHead = try #require(try await fixture.service.store.auditHead())
        try await fixture.service.close()

        let report = try await DataDirectoryRestore.restore(backup: backup, into: target, secrets: RootDirectoryTests.secrets(),
                                                            options: .init(previous: fixture.directory))
        #expect(report.destroyedAgain.map(\.alias) == ["doomed"] && report.keptAlive.isEmpty)
        #expect(report.previousHead?.sequence == oldHead.sequence && report.previousHead?.hash == Hex.encode(oldHead.hash))
        #expect(report.recordsAfterSnapshotCount == oldHead.sequence - manifest.auditHead.sequence)
        #expect(report.recordsAfterSnapshot.map(\.operation).contains("destroy"))
        #expect(report.restoreRecordSequence == manifest.auditHead.sequence + 1)

        let restored = try await RootDirectory.openKeyService(directory: target, databasePath: target + "/custos.sqlite", secrets: RootDirectoryTests.secrets())
        defer { Task { try? await restored.close() } }
        #expect(try await restored.key(tenant: "node-1", alias: "doomed", by: .local).status == .destroyed)
        _ = try await restored.sign(tenant: "node-1", alias: "kept", message: [2], by: .local)
        let record = try #require(try await restored.store.auditRecords(AuditQuery(after: manifest.auditHead.sequence, limit: 1)).first)
        #expect(record.operation == "backup.restore")
        let details = try JSONDecoder().decode([String: String].self, from: Data(record.details.utf8))
        #expect(details["previous_sequence"] == String(oldHead.sequence) && details["snapshot_head"] == manifest.auditHead.hash)
        #expect(details["destroy_again"] == "node-1/doomed")
        #expect(try await restored.audit.verify().intact)
    }

    @Test func theOffNodeHeadAcceptsARestoredLogOnlyThroughItsRestoreRecord() async throws {
        let fixture = try await Self.fixtureWithKeys(["k"])
        defer { Task { await fixture.cleanUp() } }
        let sinkPath = Self.temporaryPath("head.json")
        let oldSinkPath = Self.temporaryPath("old-head.json")
        let backup = Self.temporaryPath("b")
        let target = Self.temporaryPath("restored")
        let raw = Self.temporaryPath("raw")
        defer { for path in [sinkPath, oldSinkPath, backup, target, raw] { try? FileManager.default.removeItem(atPath: path) } }
        let sink = try FileHeadSink(path: sinkPath)
        fixture.service.audit.attach(sink: sink)
        try await fixture.service.audit.checkpoint()
        let manifest = try await DataDirectoryBackup.create(dataDirectory: fixture.directory, destination: backup)
        for n in 0..<5 { _ = try await fixture.service.sign(tenant: "node-1", alias: "k", message: [UInt8(n)], by: .local) }
        let published = try #require(try await fixture.service.audit.checkpoint())
        try await fixture.service.close()
        try FileManager.default.copyItem(atPath: sinkPath, toPath: oldSinkPath)

        // A plain copy of the backup's files, opened with the old head: a rollback.
        try FileManager.default.createDirectory(atPath: raw, withIntermediateDirectories: false)
        for file in manifest.files { try FileManager.default.copyItem(atPath: backup + "/" + file.name, toPath: raw + "/" + file.name) }
        let copied = try await RootDirectory.openKeyService(directory: raw, databasePath: raw + "/custos.sqlite", secrets: RootDirectoryTests.secrets())
        copied.audit.attach(sink: try FileHeadSink(path: oldSinkPath))
        #expect(try await copied.audit.verify().findings.contains { $0.kind == .rolledBack })
        await #expect { try await copied.audit.checkpoint() } throws: { "\($0)".contains("rolled back") }
        try await copied.close()

        // The restore with the sink: the head before it is the sink's, the checkpoint moves on.
        let report = try await DataDirectoryRestore.restore(backup: backup, into: target, secrets: RootDirectoryTests.secrets(), options: .init(sink: sink))
        #expect(report.previousHead?.sequence == published.sequence)
        #expect(report.recordsAfterSnapshotCount == published.sequence - manifest.auditHead.sequence)
        #expect(!report.destroyedKnown && report.notes.contains { $0.contains("--previous") })
        let restored = try await RootDirectory.openKeyService(directory: target, databasePath: target + "/custos.sqlite", secrets: RootDirectoryTests.secrets())
        defer { Task { try? await restored.close() } }
        restored.audit.attach(sink: sink)
        #expect(try await restored.audit.verify().intact)
        // Checked against the head from before the restore: explained, not a finding.
        restored.audit.attach(sink: try FileHeadSink(path: oldSinkPath))
        let verification = try await restored.audit.verify()
        #expect(verification.intact && verification.restoredForks.count == 1)
        #expect(verification.restoredForks.first?.contains("record \(published.sequence)") == true)
    }

    @Test func aWrongSecretADamagedBackupOrAnOccupiedTargetWriteNothing() async throws {
        let fixture = try await Self.fixtureWithKeys(["k"])
        defer { Task { await fixture.cleanUp() } }
        let backup = Self.temporaryPath("b")
        let parent = Self.temporaryPath("parent")
        defer { for path in [backup, parent] { try? FileManager.default.removeItem(atPath: path) } }
        _ = try await DataDirectoryBackup.create(dataDirectory: fixture.directory, destination: backup)
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        let target = parent + "/new"
        var wrong = RootDirectoryTests.secrets()
        wrong.passphrase = { SecretBytes(Array("not it".utf8)) }
        await #expect(throws: (any Error).self) { _ = try await DataDirectoryRestore.restore(backup: backup, into: target, secrets: wrong) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == [])

        let shred = backup + "/custos.shred"
        let original = try #require(FileManager.default.contents(atPath: shred))
        _ = FileManager.default.createFile(atPath: shred, contents: original + Data([0x20]))
        let (opened, check) = try await DataDirectoryBackup.open(backup)
        opened.close()
        #expect(check.problems.contains { $0.contains("custos.shred") && $0.contains("SHA-256") })
        await #expect { _ = try await DataDirectoryRestore.restore(backup: backup, into: target, secrets: RootDirectoryTests.secrets()) } throws: {
            "\($0)".contains("damaged")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == [])
        _ = FileManager.default.createFile(atPath: shred, contents: original)

        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: target + "/keep", contents: Data([1]))
        await #expect { _ = try await DataDirectoryRestore.restore(backup: backup, into: target, secrets: RootDirectoryTests.secrets()) } throws: {
            "\($0)".contains("never overwrites")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["keep"])
        await #expect { _ = try await DataDirectoryBackup.create(dataDirectory: fixture.directory, destination: target) } throws: {
            "\($0)".contains("never overwrites")
        }
        await #expect { _ = try await DataDirectoryBackup.create(dataDirectory: parent + "/nothing", destination: parent + "/b2") } throws: {
            "\($0)".contains("custos init")
        }
    }
}
