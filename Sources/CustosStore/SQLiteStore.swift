import Foundation
import Logging
import SQLKit
import SQLiteKit
import SQLiteNIO

/// The embedded store: one SQLite file in WAL mode, serialised through this actor.
///
/// `secure_delete` makes SQLite overwrite freed content, so destroyed key material
/// does not linger in free pages; a checkpoint after destruction truncates the WAL
/// for the same reason.
public actor SQLiteStore: Store {
    let connection: SQLiteConnection
    private let database: any SQLDatabase
    public let path: String

    public static func open(path: String, logger: Logger = Logger(label: "custos.store")) async throws -> SQLiteStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw StoreError.database("cannot open \(path): \(error)")
        }
        let store = SQLiteStore(connection: connection, path: path)
        do {
            try await store.configure()
            try await store.migrate()
        } catch {
            try? await connection.close()
            throw error
        }
        return store
    }

    private init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.database = connection.sql()
        self.path = path
    }

    private var closed = false
    /// Seals appended audit records; set by the keystore once it holds the audit key.
    var auditSealer: (any AuditSealer)?
    /// The audit chain's last (sequence, hash) as this process last wrote it.
    var cachedAuditHead: (Int64, [UInt8])?

    public func setAuditSealer(_ sealer: any AuditSealer) {
        auditSealer = sealer
    }

    /// Closes the connection; closing twice is harmless.
    public func close() async throws {
        guard !closed else { return }
        closed = true
        try await connection.close()
    }

    private func configure() async throws {
        for pragma in [
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA secure_delete = ON",
            "PRAGMA busy_timeout = 10000",
        ] {
            try await execute(SQLQueryString(pragma))
        }
    }

    // MARK: Migrations

    /// Versioned, forward-only schema changes. Never edit one that has shipped.
    static let migrations: [(version: Int, statements: [String])] = [
        (1, [
            """
            CREATE TABLE metadata (name TEXT PRIMARY KEY, value BLOB NOT NULL)
            """,
            """
            CREATE TABLE tenants (id TEXT PRIMARY KEY, created_at REAL NOT NULL)
            """,
            """
            CREATE TABLE wrapping_keys (
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                generation INTEGER NOT NULL,
                wrapped_key BLOB NOT NULL,
                root_key_id TEXT NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (tenant_id, generation))
            """,
            """
            CREATE TABLE keys (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                alias TEXT NOT NULL,
                category TEXT NOT NULL,
                scheme TEXT NOT NULL,
                status TEXT NOT NULL,
                primary_version INTEGER NOT NULL,
                external_id TEXT,
                labels TEXT NOT NULL,
                protection TEXT NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                UNIQUE (tenant_id, alias))
            """,
            """
            CREATE TABLE key_versions (
                key_id TEXT NOT NULL REFERENCES keys(id),
                version INTEGER NOT NULL,
                public_key BLOB,
                fingerprint TEXT,
                wrapped_material BLOB,
                wrapping_generation INTEGER NOT NULL,
                created_at REAL NOT NULL,
                destroyed_at REAL,
                PRIMARY KEY (key_id, version))
            """,
            "CREATE INDEX key_versions_fingerprint ON key_versions(fingerprint)",
            "CREATE INDEX keys_tenant_category ON keys(tenant_id, category)",
        ]),
        (2, [
            """
            CREATE TABLE audit_records (
                sequence INTEGER PRIMARY KEY,
                time_us INTEGER NOT NULL,
                actor TEXT NOT NULL,
                tenant_id TEXT,
                operation TEXT NOT NULL,
                key_id TEXT,
                key_version INTEGER,
                outcome TEXT NOT NULL,
                details TEXT NOT NULL,
                previous_hash BLOB NOT NULL,
                hash BLOB NOT NULL)
            """,
            "CREATE INDEX audit_records_tenant ON audit_records(tenant_id, sequence)",
            """
            CREATE TABLE audit_checkpoints (
                sequence INTEGER PRIMARY KEY,
                head_hash BLOB NOT NULL,
                time REAL NOT NULL,
                signer_fingerprint TEXT NOT NULL,
                signature BLOB NOT NULL)
            """,
            """
            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                tenant_id TEXT,
                role TEXT NOT NULL,
                secret_hash BLOB NOT NULL,
                description TEXT,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                revoked_at REAL)
            """,
            "CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id)",
        ]),
        // Security levels: HSMs and per-tenant, per-category associations with history.
        (3, [
            """
            CREATE TABLE hsms (
                name TEXT PRIMARY KEY,
                module TEXT NOT NULL,
                token_label TEXT NOT NULL,
                created_at REAL NOT NULL)
            """,
            """
            CREATE TABLE security_levels (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                category TEXT NOT NULL,
                level TEXT NOT NULL,
                hsm TEXT REFERENCES hsms(name),
                created_at REAL NOT NULL,
                deprecated_at REAL)
            """,
            "CREATE UNIQUE INDEX security_levels_current ON security_levels(tenant_id, category) WHERE deprecated_at IS NULL",
        ]),
    ]

    public static var schemaVersion: Int { migrations.last!.version }

    private func migrate() async throws {
        try await execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        let applied = try await database.raw("SELECT MAX(version) AS v FROM schema_migrations").first()
        let current = try applied.flatMap { try $0.decodeNil(column: "v") ? nil : $0.decode(column: "v", as: Int.self) } ?? 0
        guard current <= Self.schemaVersion else {
            throw StoreError.schemaTooNew(found: current, supported: Self.schemaVersion)
        }
        for migration in Self.migrations where migration.version > current {
            try await transaction {
                for statement in migration.statements {
                    try await self.execute(SQLQueryString(statement))
                }
                try await self.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (\(bind: migration.version), \(bind: Date().timeIntervalSince1970))")
            }
        }
    }

    // MARK: Plumbing

    func execute(_ query: SQLQueryString) async throws {
        do {
            try await database.raw(query).run()
        } catch {
            throw Self.mapError(error)
        }
    }

    func rows(_ query: SQLQueryString) async throws -> [any SQLRow] {
        do {
            return try await database.raw(query).all()
        } catch {
            throw Self.mapError(error)
        }
    }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT, rolling back on any error. The actor
    /// serialises callers, so no other statement interleaves on this connection.
    func transaction<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await execute("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            try await execute("COMMIT")
            return result
        } catch {
            try? await execute("ROLLBACK")
            throw error
        }
    }

    private var locked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Actors are reentrant across `await`, so without this a second call could run
    /// statements on the connection in the middle of another call's transaction.
    func exclusive<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        if locked {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            locked = true
        }
        defer {
            if waiters.isEmpty { locked = false } else { waiters.removeFirst().resume() }
        }
        return try await body()
    }

    static func mapError(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        return StoreError.database(String(describing: error))
    }

    static func blob(_ bytes: [UInt8]?) -> Data? { bytes.map { Data($0) } }

    // MARK: Metadata

    public func metadata(_ name: String) async throws -> [UInt8]? {
        try await exclusive {
            let found = try await rows("SELECT value FROM metadata WHERE name = \(bind: name)")
            return try found.first.map { Array(try $0.decode(column: "value", as: Data.self)) }
        }
    }

    public func setMetadata(_ name: String, _ value: [UInt8]) async throws {
        try await exclusive {
            try await execute("INSERT INTO metadata (name, value) VALUES (\(bind: name), \(bind: Data(value))) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        }
    }

    public func setMetadataIfAbsent(_ name: String, _ value: [UInt8]) async throws -> [UInt8] {
        try await exclusive {
            try await transaction {
                try await self.execute("INSERT INTO metadata (name, value) VALUES (\(bind: name), \(bind: Data(value))) ON CONFLICT(name) DO NOTHING")
                let stored = try await self.rows("SELECT value FROM metadata WHERE name = \(bind: name)")
                return Array(try stored[0].decode(column: "value", as: Data.self))
            }
        }
    }

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

    private func insertWrappingKey(_ key: WrappingKeyRecord) async throws {
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

    private static func wrappingKey(from row: any SQLRow) throws -> WrappingKeyRecord {
        WrappingKeyRecord(
            tenantID: try row.decode(column: "tenant_id", as: String.self),
            generation: try row.decode(column: "generation", as: Int.self),
            wrappedKey: Array(try row.decode(column: "wrapped_key", as: Data.self)),
            rootKeyID: try row.decode(column: "root_key_id", as: String.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
    }

    // MARK: Keys

    public func insertKeys(_ keys: [(KeyRecord, KeyVersionRecord)], audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                for (key, version) in keys {
                    guard try await self.rows("SELECT id FROM tenants WHERE id = \(bind: key.tenantID)").count == 1 else {
                        throw StoreError.tenantNotFound(key.tenantID)
                    }
                    guard try await self.rows("SELECT id FROM keys WHERE tenant_id = \(bind: key.tenantID) AND alias = \(bind: key.alias)").isEmpty else {
                        throw StoreError.duplicateAlias(tenant: key.tenantID, alias: key.alias)
                    }
                    let labels = String(decoding: try JSONEncoder.sorted.encode(key.labels), as: UTF8.self)
                    try await self.execute("""
                        INSERT INTO keys (id, tenant_id, alias, category, scheme, status, primary_version, external_id, labels, protection, created_at, updated_at)
                        VALUES (\(bind: key.id), \(bind: key.tenantID), \(bind: key.alias), \(bind: key.category), \(bind: key.scheme),
                                \(bind: key.status.rawValue), \(bind: key.primaryVersion), \(bind: key.externalID), \(bind: labels), \(bind: key.protection),
                                \(bind: key.createdAt.timeIntervalSince1970), \(bind: key.updatedAt.timeIntervalSince1970))
                        """)
                    try await self.insertVersion(version)
                }
            }
        }
    }

    private func insertVersion(_ version: KeyVersionRecord) async throws {
        try await execute("""
            INSERT INTO key_versions (key_id, version, public_key, fingerprint, wrapped_material, wrapping_generation, created_at, destroyed_at)
            VALUES (\(bind: version.keyID), \(bind: version.version), \(bind: Self.blob(version.publicKey)), \(bind: version.fingerprint),
                    \(bind: Self.blob(version.wrappedMaterial)), \(bind: version.wrappingGeneration),
                    \(bind: version.createdAt.timeIntervalSince1970), \(bind: version.destroyedAt?.timeIntervalSince1970))
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
        KeyVersionRecord(
            keyID: try row.decode(column: "key_id", as: String.self),
            version: try row.decode(column: "version", as: Int.self),
            publicKey: try row.decode(column: "public_key", as: Data?.self).map { Array($0) },
            fingerprint: try row.decode(column: "fingerprint", as: String?.self),
            wrappedMaterial: try row.decode(column: "wrapped_material", as: Data?.self).map { Array($0) },
            wrappingGeneration: try row.decode(column: "wrapping_generation", as: Int.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)),
            destroyedAt: try row.decode(column: "destroyed_at", as: Double?.self).map { Date(timeIntervalSince1970: $0) })
    }

    public func addVersion(_ version: KeyVersionRecord, updatedAt: Date, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                guard try await self.rows("SELECT id FROM keys WHERE id = \(bind: version.keyID)").count == 1 else {
                    throw StoreError.keyNotFound(version.keyID)
                }
                try await self.insertVersion(version)
                try await self.execute("UPDATE keys SET primary_version = \(bind: version.version), updated_at = \(bind: updatedAt.timeIntervalSince1970) WHERE id = \(bind: version.keyID)")
            }
        }
    }

    public func setStatus(keyID: String, status: KeyStatus, updatedAt: Date, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                guard try await self.rows("SELECT id FROM keys WHERE id = \(bind: keyID)").count == 1 else {
                    throw StoreError.keyNotFound(keyID)
                }
                try await self.execute("UPDATE keys SET status = \(bind: status.rawValue), updated_at = \(bind: updatedAt.timeIntervalSince1970) WHERE id = \(bind: keyID)")
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
            }
            // Push the overwritten pages out of the WAL so no old copy stays on disk.
            try await execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }
}

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

extension JSONEncoder {
    /// Deterministic output, so identical records serialise identically.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
