import Foundation
import SQLKit

// HSMs and the per-tenant, per-category security levels with their history.
extension SQLiteStore {
    // MARK: Security levels

    public func addHSM(_ hsm: HSMRecord) async throws {
        try await exclusive {
            try await transaction {
                guard try await self.rows("SELECT name FROM hsms WHERE name = \(bind: hsm.name)").isEmpty else {
                    throw StoreError.duplicateName(kind: "HSM", name: hsm.name)
                }
                try await self.execute("""
                    INSERT INTO hsms (name, module, token_label, created_at)
                    VALUES (\(bind: hsm.name), \(bind: hsm.module), \(bind: hsm.tokenLabel), \(bind: hsm.createdAt.timeIntervalSince1970))
                    """)
            }
        }
    }

    public func hsm(name: String) async throws -> HSMRecord? {
        try await exclusive {
            try await rows("SELECT * FROM hsms WHERE name = \(bind: name)").first.map(Self.hsm(from:))
        }
    }

    public func hsms() async throws -> [HSMRecord] {
        try await exclusive {
            try await rows("SELECT * FROM hsms ORDER BY name").map(Self.hsm(from:))
        }
    }

    private static func hsm(from row: any SQLRow) throws -> HSMRecord {
        HSMRecord(name: try row.decode(column: "name", as: String.self),
                  module: try row.decode(column: "module", as: String.self),
                  tokenLabel: try row.decode(column: "token_label", as: String.self),
                  createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
    }

    public func assignSecurityLevel(_ record: SecurityLevelRecord) async throws {
        try await exclusive {
            try await transaction {
                guard try await self.rows("SELECT id FROM tenants WHERE id = \(bind: record.tenantID)").count == 1 else {
                    throw StoreError.tenantNotFound(record.tenantID)
                }
                let time = record.createdAt.timeIntervalSince1970
                try await self.execute("""
                    UPDATE security_levels SET deprecated_at = \(bind: time)
                    WHERE tenant_id = \(bind: record.tenantID) AND category = \(bind: record.category) AND deprecated_at IS NULL
                    """)
                try await self.execute("""
                    INSERT INTO security_levels (tenant_id, category, level, hsm, created_at)
                    VALUES (\(bind: record.tenantID), \(bind: record.category), \(bind: record.level), \(bind: record.hsm), \(bind: time))
                    """)
            }
        }
    }

    public func securityLevels(tenantID: String) async throws -> [SecurityLevelRecord] {
        try await exclusive {
            try await rows("SELECT * FROM security_levels WHERE tenant_id = \(bind: tenantID) ORDER BY id").map { row in
                SecurityLevelRecord(
                    tenantID: try row.decode(column: "tenant_id", as: String.self),
                    category: try row.decode(column: "category", as: String.self),
                    level: try row.decode(column: "level", as: String.self),
                    hsm: try row.decode(column: "hsm", as: String?.self),
                    createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)),
                    deprecatedAt: try row.decode(column: "deprecated_at", as: Double?.self).map { Date(timeIntervalSince1970: $0) })
            }
        }
    }
}
