import Foundation
import SQLKit

// Key records and their versions: creation, lookup, listing, rotation, status and destruction.
extension SQLiteStore {
    // MARK: Keys

    public func insertKeys(_ keys: [(KeyRecord, KeyVersionRecord)], audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                for (key, version) in keys {
                    try await self.insertKeyRows(key, version)
                }
            }
        }
    }

    /// A key row and its first version, inside the caller's transaction.
    func insertKeyRows(_ key: KeyRecord, _ version: KeyVersionRecord) async throws {
        guard try await rows("SELECT id FROM tenants WHERE id = \(bind: key.tenantID)").count == 1 else {
            throw StoreError.tenantNotFound(key.tenantID)
        }
        guard try await rows("SELECT id FROM keys WHERE tenant_id = \(bind: key.tenantID) AND alias = \(bind: key.alias)").isEmpty else {
            throw StoreError.duplicateAlias(tenant: key.tenantID, alias: key.alias)
        }
        let labels = String(decoding: try JSONEncoder.sorted.encode(key.labels), as: UTF8.self)
        try await execute("""
            INSERT INTO keys (id, tenant_id, alias, category, scheme, status, primary_version, external_id, labels, protection, created_at, updated_at, row_mac)
            VALUES (\(bind: key.id), \(bind: key.tenantID), \(bind: key.alias), \(bind: key.category), \(bind: key.scheme),
                    \(bind: key.status.rawValue), \(bind: key.primaryVersion), \(bind: key.externalID), \(bind: labels), \(bind: key.protection),
                    \(bind: key.createdAt.timeIntervalSince1970), \(bind: key.updatedAt.timeIntervalSince1970), \(bind: Self.blob(key.rowMAC)))
            """)
        try await insertVersion(version)
    }

    /// Inserts a version of an existing key and makes it primary (inside a transaction).
    func insertPrimaryVersion(_ version: KeyVersionRecord, updatedAt: Date, keyMAC: [UInt8]?) async throws {
        guard try await rows("SELECT id FROM keys WHERE id = \(bind: version.keyID)").count == 1 else {
            throw StoreError.keyNotFound(version.keyID)
        }
        try await insertVersion(version)
        try await execute("""
            UPDATE keys SET primary_version = \(bind: version.version), updated_at = \(bind: updatedAt.timeIntervalSince1970),
            row_mac = \(bind: Self.blob(keyMAC)) WHERE id = \(bind: version.keyID)
            """)
    }

    func insertVersion(_ version: KeyVersionRecord) async throws {
        try await execute("""
            INSERT INTO key_versions (key_id, version, public_key, fingerprint, wrapped_material, wrapping_generation, created_at, destroyed_at, row_mac)
            VALUES (\(bind: version.keyID), \(bind: version.version), \(bind: Self.blob(version.publicKey)), \(bind: version.fingerprint),
                    \(bind: Self.blob(version.wrappedMaterial)), \(bind: version.wrappingGeneration),
                    \(bind: version.createdAt.timeIntervalSince1970), \(bind: version.destroyedAt?.timeIntervalSince1970), \(bind: Self.blob(version.rowMAC)))
            """)
    }

    public func key(tenantID: String, alias: String) async throws -> KeyRecord? {
        try await exclusive {
            try await rows("\(unsafeRaw: Self.selectKeys) WHERE k.tenant_id = \(bind: tenantID) AND k.alias = \(bind: alias)").first.map(Self.key(from:))
        }
    }

    public func key(tenantID: String, id: String) async throws -> KeyRecord? {
        try await exclusive {
            try await rows("\(unsafeRaw: Self.selectKeys) WHERE k.tenant_id = \(bind: tenantID) AND k.id = \(bind: id)").first.map(Self.key(from:))
        }
    }

    public func keys(tenantID: String, ids: [String]) async throws -> [KeyRecord] {
        try await exclusive {
            guard !ids.isEmpty else { return [] }
            var found: [KeyRecord] = []
            // Chunked to stay under SQLite's bound-parameter limit.
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let query = SQLQueryString("\(unsafeRaw: Self.selectKeys) WHERE k.tenant_id = \(bind: tenantID) AND k.id IN (\(binds: chunk)) ORDER BY k.alias")
                found += try await rows(query).map(Self.key(from:))
            }
            return found
        }
    }

    public func keys(tenantID: String, fingerprint: String) async throws -> [KeyRecord] {
        try await exclusive {
            try await rows("""
                SELECT DISTINCT k.* FROM keys k JOIN key_versions v ON v.key_id = k.id
                WHERE k.tenant_id = \(bind: tenantID) AND v.fingerprint = \(bind: fingerprint) ORDER BY k.alias
                """).map(Self.key(from:))
        }
    }

    public func listKeys(tenantID: String, filter: KeyFilter, page: PageRequest) async throws -> KeyPage {
        try await exclusive {
            var query = SQLQueryString("\(unsafeRaw: Self.selectKeys) WHERE k.tenant_id = \(bind: tenantID)")
            if let category = filter.category { query.appendInterpolation(unsafeRaw: " AND k.category = "); query.appendInterpolation(bind: category) }
            if let scheme = filter.scheme { query.appendInterpolation(unsafeRaw: " AND k.scheme = "); query.appendInterpolation(bind: scheme) }
            if let status = filter.status { query.appendInterpolation(unsafeRaw: " AND k.status = "); query.appendInterpolation(bind: status.rawValue) }
            if let prefix = filter.aliasPrefix {
                // substr comparison instead of LIKE: aliases may contain % and _.
                query.appendInterpolation(unsafeRaw: " AND substr(k.alias, 1, length(")
                query.appendInterpolation(bind: prefix)
                query.appendInterpolation(unsafeRaw: ")) = ")
                query.appendInterpolation(bind: prefix)
            }
            if let after = page.after { query.appendInterpolation(unsafeRaw: " AND k.alias > "); query.appendInterpolation(bind: after) }
            query.appendInterpolation(unsafeRaw: " ORDER BY k.alias LIMIT \(page.limit + 1)")
            var keys = try await rows(query).map(Self.key(from:))
            var next: String?
            if keys.count > page.limit {
                keys.removeLast()
                next = keys.last?.alias
            }
            return KeyPage(keys: keys, nextCursor: next)
        }
    }

    /// Key rows with the primary version's fingerprint, which listings show.
    private static let selectKeys = """
        SELECT k.*, pv.fingerprint AS primary_fingerprint FROM keys k
        LEFT JOIN key_versions pv ON pv.key_id = k.id AND pv.version = k.primary_version
        """

    private static func key(from row: any SQLRow) throws -> KeyRecord {
        let labelsJSON = try row.decode(column: "labels", as: String.self)
        let labels = (try? JSONDecoder().decode([String: String].self, from: Data(labelsJSON.utf8))) ?? [:]
        let statusRaw = try row.decode(column: "status", as: String.self)
        guard let status = KeyStatus(rawValue: statusRaw) else {
            throw StoreError.database("unknown key status '\(statusRaw)'")
        }
        var record = KeyRecord(
            id: try row.decode(column: "id", as: String.self),
            tenantID: try row.decode(column: "tenant_id", as: String.self),
            alias: try row.decode(column: "alias", as: String.self),
            category: try row.decode(column: "category", as: String.self),
            scheme: try row.decode(column: "scheme", as: String.self),
            status: status,
            primaryVersion: try row.decode(column: "primary_version", as: Int.self),
            externalID: try row.decode(column: "external_id", as: String?.self),
            labels: labels,
            protection: try row.decode(column: "protection", as: String.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)),
            updatedAt: Date(timeIntervalSince1970: try row.decode(column: "updated_at", as: Double.self)))
        if row.contains(column: "primary_fingerprint") {
            record.primaryFingerprint = try row.decode(column: "primary_fingerprint", as: String?.self)
        }
        record.rowMAC = try row.decode(column: "row_mac", as: Data?.self).map { Array($0) }
        return record
    }

    // MARK: Versions

    public func versions(keyID: String) async throws -> [KeyVersionRecord] {
        try await exclusive {
            try await rows("SELECT * FROM key_versions WHERE key_id = \(bind: keyID) ORDER BY version").map(Self.version(from:))
        }
    }

    public func version(keyID: String, version: Int) async throws -> KeyVersionRecord? {
        try await exclusive {
            try await rows("SELECT * FROM key_versions WHERE key_id = \(bind: keyID) AND version = \(bind: version)").first.map(Self.version(from:))
        }
    }

    private static func version(from row: any SQLRow) throws -> KeyVersionRecord {
        var record = KeyVersionRecord(
            keyID: try row.decode(column: "key_id", as: String.self),
            version: try row.decode(column: "version", as: Int.self),
            publicKey: try row.decode(column: "public_key", as: Data?.self).map { Array($0) },
            fingerprint: try row.decode(column: "fingerprint", as: String?.self),
            wrappedMaterial: try row.decode(column: "wrapped_material", as: Data?.self).map { Array($0) },
            wrappingGeneration: try row.decode(column: "wrapping_generation", as: Int.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)),
            destroyedAt: try row.decode(column: "destroyed_at", as: Double?.self).map { Date(timeIntervalSince1970: $0) })
        record.rowMAC = try row.decode(column: "row_mac", as: Data?.self).map { Array($0) }
        return record
    }

    public func addVersion(_ version: KeyVersionRecord, updatedAt: Date, keyMAC: [UInt8]?, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                try await self.insertPrimaryVersion(version, updatedAt: updatedAt, keyMAC: keyMAC)
                try await self.bumpTLSChanges(ifTLSKey: version.keyID)
            }
        }
    }

    public func setStatus(keyID: String, status: KeyStatus, updatedAt: Date, keyMAC: [UInt8]?, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                guard try await self.rows("SELECT id FROM keys WHERE id = \(bind: keyID)").count == 1 else {
                    throw StoreError.keyNotFound(keyID)
                }
                try await self.execute("""
                    UPDATE keys SET status = \(bind: status.rawValue), updated_at = \(bind: updatedAt.timeIntervalSince1970), row_mac = \(bind: Self.blob(keyMAC))
                    WHERE id = \(bind: keyID)
                    """)
                try await self.bumpTLSChanges(ifTLSKey: keyID)
            }
        }
    }

    public func destroyKey(keyID: String, at date: Date, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                guard try await self.rows("SELECT id FROM keys WHERE id = \(bind: keyID)").count == 1 else {
                    throw StoreError.keyNotFound(keyID)
                }
                let time = date.timeIntervalSince1970
                try await self.execute("UPDATE key_versions SET wrapped_material = NULL, destroyed_at = \(bind: time) WHERE key_id = \(bind: keyID)")
                try await self.execute("UPDATE keys SET status = 'destroyed', updated_at = \(bind: time) WHERE id = \(bind: keyID)")
                try await self.bumpTLSChanges(ifTLSKey: keyID)
            }
            // Push the overwritten pages out of the WAL so no old copy stays on disk.
            try await execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }
}
