import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// Verification reads the log in pages and stops when its task is cancelled (the
/// server cancels a request at its deadline).
@Suite("Audit verification in pages")
struct AuditStreamingTests {
    @Test func smallPagesFindTheSameAsOnePage() async throws {
        let fixture = try await AuditTamperingTests.checkpointed()
        defer { Task { await fixture.cleanUp() } }
        // An edit on a page boundary (its successor is on the next page), a deletion, a checkpoint edit.
        try await fixture.execute("UPDATE audit_records SET outcome = 'failure' WHERE sequence = 4")
        try await fixture.execute("DELETE FROM audit_records WHERE sequence = 7")
        try await fixture.execute("UPDATE audit_checkpoints SET time = time + 1 WHERE sequence = 10")
        let whole = try await fixture.service.audit.verify(pageSize: 5000)
        #expect(whole.findings.map(\.kind.rawValue) == ["edited", "deleted", "bad-checkpoint"])
        for size in [1, 2, 3, 4] {
            #expect(try await fixture.service.audit.verify(pageSize: size) == whole, "page size \(size)")
        }
    }

    @Test func aCancelledVerificationStops() async throws {
        let fixture = try await AuditLogTests.populated()
        defer { Task { await fixture.cleanUp() } }
        let audit = fixture.service.audit
        let task = Task { try await audit.verify(pageSize: 1) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}
