import Foundation
import SQLKit

// Key-row MACs, the tenant record key they are computed under, and crypto-shredding.
extension SQLiteStore {
    /// Adds a wrapping-key row unless the generation exists; returns the stored row.
    public func addWrappingKeyIfAbsent(_ key: WrappingKeyRecord) async throws -> WrappingKeyRecord {
        try await exclusive {
            try await transaction {
                let existing = try await self.rows("SELECT * FROM wrapping_keys WHERE tenant_id = \(bind: key.tenantID) AND generation = \(bind: key.generation)")
                if let row = existing.first { return try Self.wrappingKey(from: row) }
                guard try await self.rows("SELECT id FROM tenants WHERE id = \(bind: key.tenantID)").count == 1 else {
                    throw StoreError.tenantNotFound(key.tenantID)
                }
                try await self.insertWrappingKey(key)
                return key
            }
        }
    }

    /// Fills the MAC of rows that have none (rows written before schema version 4), in
    /// one transaction with its audit record. A row that has a MAC is left alone.
    public func setMissingRowMACs(keys: [String: [UInt8]], versions: [String: [Int: [UInt8]]], audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                for (id, mac) in keys {
                    try await self.execute("UPDATE keys SET row_mac = \(bind: Data(mac)) WHERE id = \(bind: id) AND row_mac IS NULL")
                }
                for (keyID, macs) in versions {
                    for (version, mac) in macs {
                        try await self.execute("""
                            UPDATE key_versions SET row_mac = \(bind: Data(mac))
                            WHERE key_id = \(bind: keyID) AND version = \(bind: version) AND row_mac IS NULL
                            """)
                    }
                }
            }
        }
    }

    public func reserveEncryptions(keyID: String, version: Int, count: Int64, limit: Int64) async throws -> Int64 {
        try await exclusive {
            try await transaction {
                let rows = try await self.rows("SELECT encryptions_reserved AS n FROM key_versions WHERE key_id = \(bind: keyID) AND version = \(bind: version)")
                guard let row = rows.first else { throw StoreError.versionNotFound(keyID: keyID, version: version) }
                let granted = max(0, min(count, limit - (try row.decode(column: "n", as: Int64.self))))
                if granted > 0 {
                    try await self.execute("""
                        UPDATE key_versions SET encryptions_reserved = encryptions_reserved + \(bind: granted)
                        WHERE key_id = \(bind: keyID) AND version = \(bind: version)
                        """)
                }
                return granted
            }
        }
    }

    /// Crypto-shredding in one transaction (see `KeyShredding`). Refused, changing
    /// nothing, if material still needs a retired generation afterwards (a key made
    /// meanwhile under the old generation): the caller plans again.
    public func shredKey(_ plan: KeyShredding, at date: Date, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                let time = date.timeIntervalSince1970
                try await self.insertWrappingKey(plan.newWrappingKey)
                for key in plan.destroyed {
                    guard try await self.rows("SELECT id FROM keys WHERE id = \(bind: key.keyID)").count == 1 else {
                        throw StoreError.keyNotFound(key.keyID)
                    }
                    for (version, mac) in key.versionMACs {
                        try await self.execute("""
                            UPDATE key_versions SET wrapped_material = NULL, destroyed_at = \(bind: time), row_mac = \(bind: Data(mac))
                            WHERE key_id = \(bind: key.keyID) AND version = \(bind: version)
                            """)
                    }
                    try await self.execute("UPDATE keys SET status = 'destroyed', updated_at = \(bind: time), row_mac = \(bind: Data(key.keyMAC)) WHERE id = \(bind: key.keyID)")
                    try await self.bumpTLSChanges(ifTLSKey: key.keyID)
                }
                for row in plan.rewrapped {
                    try await self.execute("""
                        UPDATE key_versions SET wrapped_material = \(bind: Self.blob(row.wrappedMaterial)), wrapping_generation = \(bind: row.wrappingGeneration),
                        row_mac = \(bind: Self.blob(row.rowMAC)) WHERE key_id = \(bind: row.keyID) AND version = \(bind: row.version)
                        """)
                }
                for generation in plan.retiredGenerations {
                    let left = try await self.rows("""
                        SELECT v.key_id FROM key_versions v JOIN keys k ON k.id = v.key_id
                        WHERE k.tenant_id = \(bind: plan.tenantID) AND v.wrapping_generation = \(bind: generation) AND v.wrapped_material IS NOT NULL
                        LIMIT 1
                        """)
                    guard left.isEmpty else {
                        throw StoreError.database("keys of tenant '\(plan.tenantID)' changed during the destroy; nothing was changed, try again")
                    }
                    try await self.execute("DELETE FROM wrapping_keys WHERE tenant_id = \(bind: plan.tenantID) AND generation = \(bind: generation)")
                }
            }
            // Push the overwritten pages out of the WAL so no old copy stays on disk.
            try await execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }
}
