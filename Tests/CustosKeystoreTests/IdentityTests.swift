@testable import CustosKeystore
import CustosStore
import Foundation
import SQLKit
import Testing

@Suite("Typed identities")
struct IdentityTests {
    @Test func namesAreCheckedOnceWhenMade() throws {
        #expect(try TenantID(validating: "node-1.a_b").rawValue == "node-1.a_b")
        #expect(try KeyAlias(validating: "Eth/0:acct-1").description == "Eth/0:acct-1")
        for bad in ["", "Node", "-x", "a b", "a/b", String(repeating: "a", count: 65), "é", "a\n"] {
            #expect(TenantID(bad) == nil, "tenant '\(bad)'")
            #expect(throws: KeystoreError.self) { try TenantID(validating: bad) }
        }
        for bad in ["", "../etc", "/abs", "a b", String(repeating: "a", count: 129), "a\u{202E}b", "a\0"] {
            #expect(KeyAlias(bad) == nil, "alias '\(bad)'")
        }
        // LosslessStringConvertible: what prints parses back to the same name.
        let alias: KeyAlias = "acct:7/x"
        #expect(KeyAlias(alias.description) == alias)
    }

    @Test func protectionReferencesParseAndPrintTheStoredForm() throws {
        for text in ["soft", "high:hsm-1", "ultimate:yubi.2"] {
            #expect(try ProtectionReference(parsing: text).description == text)
        }
        #expect(try ProtectionReference(parsing: "high:h") == .high(hsm: "h"))
        for bad in ["", "pkcs11:h", "high:", "standard:h", "SOFT"] {
            #expect(throws: KeystoreError.self) { try ProtectionReference(parsing: bad) }
        }
    }

    /// A row holding a value Custos never writes is refused naming the row, where it is read.
    @Test func aDamagedKeyRowIsNamedWhereItIsRead() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let key = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        for (column, value) in [("scheme", "rot13"), ("category", "GOSSIP"), ("protection", "pkcs11:x")] {
            try await fixture.execute("UPDATE keys SET \(unsafeRaw: column) = \(bind: value) WHERE id = \(bind: key.id)")
            let fresh = try await fixture.reopened()
            do {
                _ = try await fresh.service.key(tenant: "node-1", alias: "k", by: .local)
                Issue.record("a key row with \(column) '\(value)' was read without an error")
            } catch let error as KeystoreError {
                guard case .corruptRecord(let reason) = error else { Issue.record("unexpected error \(error)"); continue }
                #expect(reason.contains(key.id) && reason.contains(column == "scheme" ? "scheme" : column) && reason.contains(value))
                #expect(error.code == "corrupt-record")
            }
            await #expect(throws: KeystoreError.self) {
                _ = try await fresh.service.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
            }
            try await fixture.execute("UPDATE keys SET scheme = 'ed25519', category = 'LEDGER', protection = 'soft' WHERE id = \(bind: key.id)")
        }
        _ = try await fixture.service.sign(tenant: "node-1", alias: "k", message: [1], by: .local)
    }

    /// A token whose row names a tenant that is not a valid name is refused; it never
    /// becomes a node-wide token.
    @Test func aTokenRowWithADamagedTenantIsInvalidNotNodeWide() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let tokens = TokenService(store: fixture.service.store, audit: fixture.service.audit, timeToLive: .zero)
        let created = try await tokens.create(tenant: "node-1", role: .admin, lifetime: 60, by: .local)
        let bearer = created.bearer.copyBytes()
        #expect(try await tokens.authenticate(bearer: bearer).tenant == "node-1")
        try await fixture.execute("UPDATE api_tokens SET tenant_id = 'Node 1' WHERE id = \(bind: created.info.id)")
        await #expect(throws: KeystoreError.invalidToken) { _ = try await tokens.authenticate(bearer: bearer) }
        // Listed, the damaged row is named instead of shown with a made-up tenant or role.
        await #expect(throws: KeystoreError.corruptRecord("token record \(created.info.id) has an invalid tenant")) {
            _ = try await tokens.list(tenant: nil, by: .local)
        }
        try await fixture.execute("UPDATE api_tokens SET tenant_id = 'node-1', role = 'root' WHERE id = \(bind: created.info.id)")
        await #expect(throws: KeystoreError.corruptRecord("token record \(created.info.id) has an invalid role 'root'")) {
            _ = try await tokens.list(tenant: nil, by: .local)
        }
        await #expect(throws: KeystoreError.invalidToken) { _ = try await tokens.authenticate(bearer: bearer) }
    }

    @Test func aDamagedSecurityLevelRowIsNamed() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.assignSecurityLevel(tenant: "node-1", category: .tls, level: .standard, hsm: nil, by: .local)
        #expect(try await fixture.service.securityLevels(tenant: "node-1", by: .local).map(\.level) == [.standard])
        try await fixture.execute("UPDATE security_levels SET level = 'platinum'")
        await #expect(throws: KeystoreError.corruptRecord("the security level record of tenant 'node-1', category 'TLS' holds a value Custos never writes (level 'platinum')")) {
            _ = try await fixture.service.securityLevels(tenant: "node-1", by: .local)
        }
    }
}
