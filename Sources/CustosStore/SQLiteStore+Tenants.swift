import Foundation
import SQLKit

// Tenants and their wrapping keys, including re-wrapping under a new root.
extension SQLiteStore {
    // MARK: Tenants

    public func createTenant(_ tenant: TenantRecord, wrappingKey: WrappingKeyRecord, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                guard try await self.rows("SELECT id FROM tenants WHERE id = \(bind: tenant.id)").isEmpty else {
                    throw StoreError.duplicateTenant(tenant.id)
                }
                try await self.execute("INSERT INTO tenants (id, created_at) VALUES (\(bind: tenant.id), \(bind: tenant.createdAt.timeIntervalSince1970))")
                try await self.insertWrappingKey(wrappingKey)
            }
        }
    }

    func insertWrappingKey(_ key: WrappingKeyRecord) async throws {
        try await execute("""
            INSERT INTO wrapping_keys (tenant_id, generation, wrapped_key, root_key_id, created_at)
            VALUES (\(bind: key.tenantID), \(bind: key.generation), \(bind: Data(key.wrappedKey)), \(bind: key.rootKeyID), \(bind: key.createdAt.timeIntervalSince1970))
            """)
    }

    public func tenant(id: String) async throws -> TenantRecord? {
        try await exclusive {
            try await rows("SELECT id, created_at FROM tenants WHERE id = \(bind: id)").first.map(Self.tenant(from:))
        }
    }

    public func tenants() async throws -> [TenantRecord] {
        try await exclusive {
            try await rows("SELECT id, created_at FROM tenants ORDER BY id").map(Self.tenant(from:))
        }
    }

    private static func tenant(from row: any SQLRow) throws -> TenantRecord {
        TenantRecord(id: try row.decode(column: "id", as: String.self),
                     createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
    }

    public func wrappingKeys(tenantID: String) async throws -> [WrappingKeyRecord] {
        try await exclusive {
            try await rows("SELECT * FROM wrapping_keys WHERE tenant_id = \(bind: tenantID) ORDER BY generation").map(Self.wrappingKey(from:))
        }
    }

    static func wrappingKey(from row: any SQLRow) throws -> WrappingKeyRecord {
        WrappingKeyRecord(
            tenantID: try row.decode(column: "tenant_id", as: String.self),
            generation: try row.decode(column: "generation", as: Int.self),
            wrappedKey: Array(try row.decode(column: "wrapped_key", as: Data.self)),
            rootKeyID: try row.decode(column: "root_key_id", as: String.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
    }

    // MARK: Root migration

    public func allWrappingKeys() async throws -> [WrappingKeyRecord] {
        try await exclusive {
            try await rows("SELECT * FROM wrapping_keys ORDER BY tenant_id, generation").map(Self.wrappingKey(from:))
        }
    }

    public func rewrapWrappingKey(tenantID: String, generation: Int, wrappedKey: [UInt8], rootKeyID: String,
                                  expectedRootKeyID: String) async throws -> Bool {
        try await exclusive {
            try await transaction {
                let current = try await self.rows("""
                    SELECT root_key_id FROM wrapping_keys WHERE tenant_id = \(bind: tenantID) AND generation = \(bind: generation)
                    """)
                guard let row = current.first, try row.decode(column: "root_key_id", as: String.self) == expectedRootKeyID else {
                    return false
                }
                try await self.execute("""
                    UPDATE wrapping_keys SET wrapped_key = \(bind: Data(wrappedKey)), root_key_id = \(bind: rootKeyID)
                    WHERE tenant_id = \(bind: tenantID) AND generation = \(bind: generation)
                    """)
                return true
            }
        }
    }
}
