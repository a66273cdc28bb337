import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// Sensitive operations leave an audit record whatever their outcome and whatever
/// the type of the error that ended them.
@Suite("Operation audit")
struct OperationAuditTests {
    struct ProviderOutage: Error {}

    static func records(_ fixture: Fixture) async throws -> [AuditRecord] {
        try await fixture.service.store.auditRecords(AuditQuery(limit: 1000))
    }

    @Test func macVerificationIsAuditedWithItsResult() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "mac", algorithm: .symmetric(.hmacSHA256)), by: .local)
        let (mac, _) = try await service.mac(tenant: "node-1", alias: "mac", message: [1, 2, 3], by: .local)
        #expect(try await service.verifyMAC(tenant: "node-1", alias: "mac", message: [1, 2, 3], mac: mac, by: .local))
        #expect(try await !service.verifyMAC(tenant: "node-1", alias: "mac", message: [9], mac: mac, by: .local))
        let outsider = Principal(id: "token:00112233aabbccdd", tenant: "node-2", role: .signer)
        await #expect(throws: KeystoreError.self) {
            try await service.verifyMAC(tenant: "node-1", alias: "mac", message: [1, 2, 3], mac: mac, by: outsider)
        }
        let records = try await Self.records(fixture).filter { $0.operation == AuditOperation.hmacVerify.rawValue }
        #expect(records.count == 3, "\(records.map(\.operation))")
        guard records.count == 3 else { return }
        #expect(records[0].outcome == "success" && records[0].detailValues["valid"] == "true" && records[0].keyVersion == 1)
        #expect(records[0].detailValues["message_hmac"] == service.audit.digest([1, 2, 3]))
        #expect(records[1].outcome == "success" && records[1].detailValues["valid"] == "false")
        #expect(records[2].outcome == "denied" && records[2].actor == outsider.id)
        #expect(try await service.audit.verify().intact)
    }

    @Test func aFailureOfAnyErrorTypeIsAudited() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let before = try await Self.records(fixture).count
        await #expect(throws: ProviderOutage.self) {
            try await fixture.service.audited(.sign, by: .local, tenant: "node-1", alias: "k") { () async throws -> Int in throw ProviderOutage() }
        }
        // Cancellation is how a request's deadline reaches the keystore.
        await #expect(throws: KeystoreError.deadlineExceeded) {
            try await fixture.service.audited(.decrypt, by: .local, tenant: "node-1") { () async throws -> Int in throw CancellationError() }
        }
        let records = try await Self.records(fixture).dropFirst(before)
        #expect(records.map(\.operation) == ["sign", "decrypt"])
        #expect(records.map(\.outcome) == ["failure", "failure"])
        #expect(records.map { $0.detailValues["error"] } == ["internal-error", "timeout"])
        #expect(records.first?.detailValues["alias"] == "k")
        #expect(try await fixture.service.audit.verify().intact)
    }
}
