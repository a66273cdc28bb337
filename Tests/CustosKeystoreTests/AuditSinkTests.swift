import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// The off-node head: a rollback of the whole data directory (database and mark
/// together) is caught only against a copy kept elsewhere.
@Suite("Audit head sink")
struct AuditSinkTests {
    static func files(_ fixture: Fixture) -> [String] {
        [fixture.databasePath, fixture.databasePath + "-wal", fixture.databasePath + "-shm", fixture.databasePath + ".audit-mark"]
    }

    @Test func aWholeDirectoryRollbackIsCaughtOnlyWithASink() async throws {
        let fixture = try await AuditLogTests.populated()
        defer { Task { await fixture.cleanUp() } }
        let sinkPath = fixture.directory + "-head.json"
        defer { try? FileManager.default.removeItem(atPath: sinkPath) }
        let sink = try FileHeadSink(path: sinkPath)
        fixture.service.audit.attach(sink: sink)
        try #require(try await fixture.service.audit.checkpoint()?.sequence == 7)
        #expect(try await sink.latest()?.sequence == 7)
        // The backup: database and mark, copied while the service is closed.
        try await fixture.service.close()
        let backup = fixture.directory + "/backup"
        try FileManager.default.createDirectory(atPath: backup, withIntermediateDirectories: true)
        for file in Self.files(fixture) where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.copyItem(atPath: file, toPath: backup + "/" + (file as NSString).lastPathComponent)
        }
        var service = try await fixture.reopened().service
        service.audit.attach(sink: sink)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "late", algorithm: .signing(.ed25519)), by: .local)
        try #require(try await service.audit.checkpoint()?.sequence == 8)
        #expect(try await sink.latest()?.sequence == 8)
        // The restore: every file back as it was at 7.
        try await service.close()
        for file in Self.files(fixture) {
            try? FileManager.default.removeItem(atPath: file)
            let saved = backup + "/" + (file as NSString).lastPathComponent
            if FileManager.default.fileExists(atPath: saved) { try FileManager.default.copyItem(atPath: saved, toPath: file) }
        }
        service = try await fixture.reopened().service
        #expect(try await service.audit.verify().intact, "documented limit: without the sink the restored directory looks whole")
        service.audit.attach(sink: sink)
        let result = try await service.audit.verify()
        #expect(result.findings.map(\.kind) == [.rolledBack])
        #expect(result.findings.first?.detail.contains(sinkPath) == true)
        await #expect(throws: KeystoreError.self) { try await service.audit.checkpoint() }
        #expect(try await sink.latest()?.sequence == 8, "the sink's head did not move back")
    }

    @Test func aForgedOrUnreadableSinkHeadIsNamed() async throws {
        let fixture = try await AuditLogTests.populated()
        defer { Task { await fixture.cleanUp() } }
        let sinkPath = fixture.directory + "/head.json"
        fixture.service.audit.attach(sink: try FileHeadSink(path: sinkPath))
        try #require(try await fixture.service.audit.checkpoint() != nil)
        let genuine = try String(contentsOfFile: sinkPath, encoding: .utf8)
        try genuine.replacingOccurrences(of: "\"sequence\":7", with: "\"sequence\":5").write(toFile: sinkPath, atomically: true, encoding: .utf8)
        #expect(try await fixture.service.audit.verify().findings.map(\.kind) == [.badHead])
        try "not json".write(toFile: sinkPath, atomically: true, encoding: .utf8)
        #expect(try await fixture.service.audit.verify().findings.map(\.kind) == [.badHead])
    }

    @Test func aURLSinkRequiresHTTPSExceptOnAllowedLoopback() throws {
        #expect(throws: KeystoreError.self) { try AuditHeadSinks.make("http://127.0.0.1:9/head") }
        #expect(throws: KeystoreError.self) { try AuditHeadSinks.make("http://example.com/head", allowHTTPLoopback: true) }
        #expect(throws: KeystoreError.self) { try AuditHeadSinks.make("https://user:pw@example.com/head") }
        #expect(throws: KeystoreError.self) { try AuditHeadSinks.make("relative/head.json") }
        #expect(try AuditHeadSinks.make("http://127.0.0.1:9/head", allowHTTPLoopback: true).location == "http://127.0.0.1:9/head")
        #expect(try AuditHeadSinks.make("https://audit.example/head").location == "https://audit.example/head")
        #expect(try AuditHeadSinks.make("/srv/head.json").location == "file /srv/head.json")
    }

    @Test func anUnreachableSinkIsAFinding() async throws {
        let fixture = try await AuditLogTests.populated()
        defer { Task { await fixture.cleanUp() } }
        // Port 9 (discard) on loopback: nothing listens in the test environment.
        fixture.service.audit.attach(sink: try URLHeadSink(url: "http://127.0.0.1:9/head", allowHTTPLoopback: true, timeout: 2))
        #expect(try await fixture.service.audit.verify().findings.map(\.kind) == [.badHead])
    }
}

extension AuditSinkTests {
    /// An outage of the sink must not stop checkpoints (the truncation window would grow
    /// with it): the checkpoint and the mark move on, the publish error is reported.
    @Test func anUnreachableSinkDoesNotStopCheckpoints() async throws {
        let fixture = try await AuditLogTests.populated()
        defer { Task { await fixture.cleanUp() } }
        fixture.service.audit.attach(sink: try URLHeadSink(url: "http://127.0.0.1:9/head", allowHTTPLoopback: true, timeout: 2))
        await #expect(throws: KeystoreError.self) { try await fixture.service.audit.checkpoint() }
        #expect(try await fixture.service.store.latestCheckpoint()?.sequence == 7)
        fixture.service.audit.attach(sink: nil)
        try await fixture.execute("DELETE FROM audit_checkpoints")
        #expect(try await fixture.service.audit.verify().findings.map(\.kind) == [.rolledBack], "the mark moved to 7")
    }
}
