import CustosStore
import Foundation
import Testing

@Suite("SQLite store")
struct SQLiteStoreTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("custos-store-\(UUID().uuidString).sqlite").path
    }

    static func key(_ alias: String, id: String = UUID().uuidString, tenant: String = "t") -> (KeyRecord, KeyVersionRecord) {
        let now = Date()
        return (KeyRecord(id: id, tenantID: tenant, alias: alias, category: "LEDGER", scheme: "ed25519", status: .enabled,
                          primaryVersion: 1, externalID: nil, labels: ["a": "b"], createdAt: now, updatedAt: now),
                KeyVersionRecord(keyID: id, version: 1, publicKey: [1, 2, 3], fingerprint: "fp-\(alias)", wrappedMaterial: [9, 9],
                                 wrappingGeneration: 1, createdAt: now))
    }

    static func withStore(_ body: (SQLiteStore, String) async throws -> Void) async throws {
        let path = temporaryPath()
        let store = try await SQLiteStore.open(path: path)
        try await store.createTenant(TenantRecord(id: "t", createdAt: Date()),
                                     wrappingKey: WrappingKeyRecord(tenantID: "t", generation: 1, wrappedKey: [1], rootKeyID: "r", createdAt: Date()))
        do {
            try await body(store, path)
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func bulkInsertIsAllOrNothing() async throws {
        try await Self.withStore { store, _ in
            let (taken, takenVersion) = Self.key("taken")
            try await store.insertKey(taken, version: takenVersion)
            await #expect(throws: StoreError.duplicateAlias(tenant: "t", alias: "taken")) {
                try await store.insertKeys([Self.key("fresh-1"), Self.key("fresh-2"), Self.key("taken")])
            }
            let page = try await store.listKeys(tenantID: "t", filter: KeyFilter(), page: PageRequest())
            #expect(page.keys.map(\.alias) == ["taken"], "keys before the duplicate must be rolled back")
        }
    }

    @Test func reopeningKeepsDataAndMigrationsRunOnce() async throws {
        let path = Self.temporaryPath()
        let store = try await SQLiteStore.open(path: path)
        try await store.createTenant(TenantRecord(id: "t", createdAt: Date()),
                                     wrappingKey: WrappingKeyRecord(tenantID: "t", generation: 1, wrappedKey: [1], rootKeyID: "r", createdAt: Date()))
        let (record, version) = Self.key("k")
        try await store.insertKey(record, version: version)
        try await store.close()
        let again = try await SQLiteStore.open(path: path)
        var loaded = try #require(try await again.key(tenantID: "t", alias: "k"))
        var expected = record
        expected.primaryFingerprint = "fp-k"
        // Times are stored as seconds since 1970 in a REAL: equal to within a microsecond.
        #expect(abs(loaded.createdAt.timeIntervalSince(record.createdAt)) < 1e-6)
        #expect(abs(loaded.updatedAt.timeIntervalSince(record.updatedAt)) < 1e-6)
        loaded.createdAt = record.createdAt
        loaded.updatedAt = record.updatedAt
        #expect(loaded == expected)
        var versions = try await again.versions(keyID: record.id)
        #expect(versions.count == 1 && abs(versions[0].createdAt.timeIntervalSince(version.createdAt)) < 1e-6)
        versions[0].createdAt = version.createdAt
        #expect(versions == [version])
        try await again.close()
    }

    @Test func aliasPrefixIsLiteral() async throws {
        try await Self.withStore { store, _ in
            try await store.insertKeys([Self.key("a_b"), Self.key("axb"), Self.key("a%c"), Self.key("abc")])
            let underscore = try await store.listKeys(tenantID: "t", filter: KeyFilter(aliasPrefix: "a_"), page: PageRequest())
            #expect(underscore.keys.map(\.alias) == ["a_b"])
            let percent = try await store.listKeys(tenantID: "t", filter: KeyFilter(aliasPrefix: "a%"), page: PageRequest())
            #expect(percent.keys.map(\.alias) == ["a%c"])
        }
    }

    @Test func destroyErasesMaterialAndKeepsTheTombstone() async throws {
        try await Self.withStore { store, _ in
            let (record, version) = Self.key("k")
            try await store.insertKey(record, version: version)
            var second = version
            second.version = 2
            try await store.addVersion(second, updatedAt: Date())
            try await store.destroyKey(keyID: record.id, at: Date())
            let versions = try await store.versions(keyID: record.id)
            #expect(versions.count == 2 && versions.allSatisfy { $0.wrappedMaterial == nil && $0.destroyedAt != nil })
            #expect(versions.allSatisfy { $0.publicKey == [1, 2, 3] })
            #expect(try await store.key(tenantID: "t", id: record.id)?.status == .destroyed)
            #expect(try await store.keys(tenantID: "t", fingerprint: "fp-k").map(\.alias) == ["k"])
        }
    }

    @Test func concurrentCallsDoNotInterleaveTransactions() async throws {
        try await Self.withStore { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in 0..<8 {
                    group.addTask {
                        let keys = (0..<25).map { Self.key("b\(batch)-\($0)") }
                        try await store.insertKeys(keys)
                    }
                    group.addTask {
                        _ = try await store.listKeys(tenantID: "t", filter: KeyFilter(), page: PageRequest(limit: 5))
                    }
                }
                try await group.waitForAll()
            }
            var total = 0
            var cursor: String?
            repeat {
                let page = try await store.listKeys(tenantID: "t", filter: KeyFilter(), page: PageRequest(limit: 1000, after: cursor))
                total += page.keys.count
                cursor = page.nextCursor
            } while cursor != nil
            #expect(total == 200)
        }
    }

    @Test func unknownTenantAndMissingKeyAreNamed() async throws {
        try await Self.withStore { store, _ in
            await #expect(throws: StoreError.tenantNotFound("nobody")) {
                let (record, version) = Self.key("k", tenant: "nobody")
                try await store.insertKey(record, version: version)
            }
            await #expect(throws: StoreError.keyNotFound("missing")) {
                try await store.setStatus(keyID: "missing", status: .disabled, updatedAt: Date())
            }
            await #expect(throws: StoreError.duplicateTenant("t")) {
                try await store.createTenant(TenantRecord(id: "t", createdAt: Date()),
                                             wrappingKey: WrappingKeyRecord(tenantID: "t", generation: 1, wrappedKey: [1], rootKeyID: "r", createdAt: Date()))
            }
        }
    }
}

