import CustosStore
import Foundation
import Testing

@Suite("SQLite store: security levels and root migration")
struct SecurityLevelStoreTests {
    @Test func assignmentsDeprecateNeverOverwrite() async throws {
        try await SQLiteStoreTests.withStore { store, _ in
            try await store.addHSM(HSMRecord(name: "h", module: "/m.so", tokenLabel: "tok", createdAt: Date()))
            await #expect(throws: StoreError.duplicateName(kind: "HSM", name: "h")) {
                try await store.addHSM(HSMRecord(name: "h", module: "/other.so", tokenLabel: "x", createdAt: Date()))
            }
            #expect(try await store.hsm(name: "h")?.module == "/m.so")
            let t0 = Date(timeIntervalSince1970: 1000)
            try await store.assignSecurityLevel(SecurityLevelRecord(tenantID: "t", category: "LEDGER", level: "high", hsm: "h", createdAt: t0))
            try await store.assignSecurityLevel(SecurityLevelRecord(tenantID: "t", category: "TLS", level: "standard", hsm: nil, createdAt: t0))
            let t1 = Date(timeIntervalSince1970: 2000)
            try await store.assignSecurityLevel(SecurityLevelRecord(tenantID: "t", category: "LEDGER", level: "ultimate", hsm: "h", createdAt: t1))
            let levels = try await store.securityLevels(tenantID: "t")
            #expect(levels.map(\.level) == ["high", "standard", "ultimate"])
            #expect(levels[0].deprecatedAt == t1 && levels[1].deprecatedAt == nil && levels[2].deprecatedAt == nil)
            await #expect(throws: StoreError.tenantNotFound("ghost")) {
                try await store.assignSecurityLevel(SecurityLevelRecord(tenantID: "ghost", category: "LEDGER", level: "standard", hsm: nil, createdAt: t1))
            }
            #expect(try await store.securityLevels(tenantID: "t").count == 3)
        }
    }

    @Test func rewrapIsCompareAndSet() async throws {
        try await SQLiteStoreTests.withStore { store, _ in
            #expect(try await store.rewrapWrappingKey(tenantID: "t", generation: 1, wrappedKey: [2], rootKeyID: "new", expectedRootKeyID: "other") == false)
            #expect(try await store.allWrappingKeys().map(\.rootKeyID) == ["r"])
            #expect(try await store.rewrapWrappingKey(tenantID: "t", generation: 1, wrappedKey: [2], rootKeyID: "new", expectedRootKeyID: "r"))
            let keys = try await store.allWrappingKeys()
            #expect(keys.map(\.rootKeyID) == ["new"] && keys[0].wrappedKey == [2])
            #expect(try await store.rewrapWrappingKey(tenantID: "t", generation: 9, wrappedKey: [3], rootKeyID: "x", expectedRootKeyID: "new") == false)
        }
    }
}
