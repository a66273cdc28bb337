import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

@Suite("API tokens and roles")
struct TokenTests {
    final class Clock: @unchecked Sendable {
        var now = Date()
    }

    @Test func createAuthenticateRevoke() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let tokens = TokenService(store: fixture.service.store, audit: fixture.service.audit)
        let created = try await tokens.create(tenant: "node-1", role: .signer, lifetime: 3600, description: "ledger node", by: .local)
        let principal = try await tokens.authenticate(bearer: created.bearer.copyBytes())
        #expect(principal == Principal(id: "token:\(created.info.id)", tenant: "node-1", role: .signer))
        // Only a hash is stored: the secret part is nowhere in the database.
        let bearer = created.bearer.copyBytes()
        let secret = Array(bearer.suffix(43))
        try await fixture.service.close()
        let database = try Data(contentsOf: URL(fileURLWithPath: fixture.databasePath))
        #expect(database.range(of: Data(secret)) == nil)
        let reopened = try await fixture.reopened()
        let again = TokenService(store: reopened.service.store, audit: reopened.service.audit)
        #expect(try await again.authenticate(bearer: bearer).role == .signer)
        _ = try await again.revoke(id: created.info.id, by: .local)
        await #expect(throws: KeystoreError.invalidToken) { try await again.authenticate(bearer: bearer) }
        let operations = try await reopened.service.store.auditRecords(AuditQuery(limit: 100)).map(\.operation)
        #expect(operations.contains("token.create") && operations.contains("token.revoke"))
    }

    @Test func malformedWrongAndExpiredTokensAreRefusedAlike() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let clock = Clock()
        let tokens = TokenService(store: fixture.service.store, audit: fixture.service.audit, timeToLive: .zero, clock: { clock.now })
        let created = try await tokens.create(tenant: nil, role: .admin, lifetime: 60, by: .local)
        var bearer = created.bearer.copyBytes()
        #expect(try await tokens.authenticate(bearer: bearer).tenant == nil)
        for bad in [[], Array("cst_".utf8), Array(bearer.dropLast()), bearer + [0x41], Array("Bearer x".utf8)] {
            await #expect(throws: KeystoreError.invalidToken) { try await tokens.authenticate(bearer: bad) }
        }
        bearer[bearer.count - 5] = bearer[bearer.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        await #expect(throws: KeystoreError.invalidToken) { try await tokens.authenticate(bearer: bearer) }
        clock.now += 61
        await #expect(throws: KeystoreError.invalidToken) { try await tokens.authenticate(bearer: created.bearer.copyBytes()) }
    }

    @Test func lifetimesAndDescriptionsAreChecked() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let tokens = TokenService(store: fixture.service.store, audit: fixture.service.audit)
        for lifetime in [0.0, -1, TokenService.maximumLifetime + 1] {
            await #expect(throws: KeystoreError.self) { try await tokens.create(tenant: nil, role: .admin, lifetime: lifetime, by: .local) }
        }
        await #expect(throws: KeystoreError.store(.tenantNotFound("ghost"))) {
            try await tokens.create(tenant: "ghost", role: .signer, lifetime: 60, by: .local)
        }
        #expect(try await tokens.list(tenant: nil, by: .local).isEmpty)
    }

    @Test func rolesAndTenantsAreEnforcedByTheKeystore() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.createTenant("node-2", by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-2", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let signerA = Principal(id: "token:a", tenant: "node-1", role: .signer)
        let operatorB = Principal(id: "token:b", tenant: "node-2", role: .operator)
        let signerB = Principal(id: "token:c", tenant: "node-2", role: .signer)
        let auditorB = Principal(id: "token:d", tenant: "node-2", role: .auditor)
        // Another tenant's key: refused before anything is looked up.
        await #expect(throws: KeystoreError.forbidden("this token is bound to another tenant")) {
            try await service.sign(tenant: "node-2", alias: "k", message: [1], by: signerA)
        }
        await #expect(throws: KeystoreError.self) { try await service.key(tenant: "node-2", alias: "k", by: signerA) }
        // The right tenant but the wrong role.
        await #expect(throws: KeystoreError.self) { try await service.sign(tenant: "node-2", alias: "k", message: [1], by: operatorB) }
        await #expect(throws: KeystoreError.self) { try await service.rotate(tenant: "node-2", alias: "k", by: signerB) }
        await #expect(throws: KeystoreError.self) { try await service.sign(tenant: "node-2", alias: "k", message: [1], by: auditorB) }
        await #expect(throws: KeystoreError.self) { try await service.createTenant("node-3", by: Principal(id: "token:e", tenant: "node-2", role: .admin)) }
        // Allowed combinations.
        _ = try await service.sign(tenant: "node-2", alias: "k", message: [1], by: signerB)
        _ = try await service.rotate(tenant: "node-2", alias: "k", by: operatorB)
        #expect(try await service.tenants(by: signerB).map(\.id) == ["node-2"])
    }
}
