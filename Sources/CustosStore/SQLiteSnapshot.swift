import Foundation
import Logging
import SQLKit
import SQLiteKit
import SQLiteNIO

#if canImport(Glibc)
import Glibc
#endif

/// A transactionally consistent copy of a live database, and the checks a copy must pass.
///
/// The copy is made with `VACUUM INTO` on a connection of the SQLite this process
/// already links (SQLiteNIO's): it runs in one read transaction, so in WAL mode writers
/// go on while it copies and the copy holds exactly the commits before it began. SQLite's
/// online backup API is not reachable through SQLiteNIO, and linking a second SQLite
/// for it would give the process two lock tables, which breaks POSIX locking between
/// them. The connection runs no migration: a backup never changes the live schema.
public enum SQLiteSnapshot {
    /// What a database file holds, read without the root of trust.
    public struct Summary: Sendable, Equatable {
        public var schemaVersion: Int
        public var auditHeadSequence: Int64
        public var auditHeadHash: [UInt8]
        /// The root key the store is bound to (metadata), nil before first use.
        public var rootKeyID: String?
    }

    /// Copies `database` to `target` (which must not exist) and returns what the copy
    /// holds. The copy is switched to rollback-journal mode, so it is one self-contained
    /// file, and made private (0600). A schema newer than this binary is refused.
    public static func copy(database: String, to target: String) async throws -> Summary {
        guard FileManager.default.fileExists(atPath: database) else {
            throw StoreError.database("\(database) does not exist")
        }
        guard !FileManager.default.fileExists(atPath: target) else {
            throw StoreError.database("\(target) already exists")
        }
        try await withConnection(database) { sql in
            try await sql.raw("PRAGMA busy_timeout = 10000").run()
            _ = try await summary(sql)
            try await sql.raw("VACUUM INTO \(bind: target)").run()
        }
        guard chmod(target, 0o600) == 0 else { throw StoreError.database("cannot make \(target) private") }
        return try await withConnection(target) { sql in
            try await sql.raw("PRAGMA journal_mode = DELETE").run()
            return try await summary(sql)
        }
    }

    /// Checks a copy: the header is that of a database closed cleanly in rollback mode,
    /// `PRAGMA integrity_check` says ok, and the schema is one this binary knows.
    /// Returns the problems found (empty when sound) and, when readable, the summary.
    public static func check(_ path: String) async -> (problems: [String], summary: Summary?) {
        var problems = headerProblems(path)
        guard !problems.contains(where: { $0.hasPrefix("not a SQLite") || $0.hasPrefix("cannot read") }) else { return (problems, nil) }
        do {
            return try await withConnection(path) { sql in
                let rows = try await sql.raw("PRAGMA integrity_check").all()
                let messages = try rows.map { try $0.decode(column: "integrity_check", as: String.self) }
                if messages != ["ok"] {
                    problems.append("PRAGMA integrity_check: " + messages.prefix(5).joined(separator: "; "))
                    return (problems, nil)
                }
                let summary = try await summary(sql)
                return (problems, summary)
            }
        } catch {
            problems.append("\(error)")
            return (problems, nil)
        }
    }

    /// What the 100-byte header says about how the file was left: a WAL-mode database
    /// (its newest commits may live in a `-wal` file beside it), not a database at all.
    public static func headerProblems(_ path: String) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ["cannot read \(path)"] }
        defer { try? handle.close() }
        let header = Array((try? handle.read(upToCount: 100)) ?? Data())
        guard header.count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            return ["not a SQLite database: \(path)"]
        }
        if header[18] == 2 || header[19] == 2 {
            return ["the database is in WAL mode: it is a raw copy of a live database, whose newest commits may be in a -wal file that was not copied"]
        }
        return []
    }

    static func summary(_ sql: any SQLDatabase) async throws -> Summary {
        let tables = try await sql.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'audit_records')").all()
            .map { try $0.decode(column: "name", as: String.self) }
        guard tables.contains("schema_migrations") else { throw StoreError.database("the database has no Custos schema") }
        let version = try await sql.raw("SELECT MAX(version) AS v FROM schema_migrations").first()
            .flatMap { try $0.decodeNil(column: "v") ? nil : $0.decode(column: "v", as: Int.self) } ?? 0
        guard version <= SQLiteStore.schemaVersion else {
            throw StoreError.schemaTooNew(found: version, supported: SQLiteStore.schemaVersion)
        }
        var head: (Int64, [UInt8]) = (0, [])
        if tables.contains("audit_records"),
           let row = try await sql.raw("SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1").first() {
            head = (try row.decode(column: "sequence", as: Int64.self), Array(try row.decode(column: "hash", as: Data.self)))
        }
        let rootKeyID = try await sql.raw("SELECT value FROM metadata WHERE name = 'root_key_id'").first()
            .map { String(decoding: try $0.decode(column: "value", as: Data.self), as: UTF8.self) }
        return Summary(schemaVersion: version, auditHeadSequence: head.0, auditHeadHash: head.1, rootKeyID: rootKeyID)
    }

    private static func withConnection<T: Sendable>(_ path: String, _ body: (any SQLDatabase) async throws -> T) async throws -> T {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: Logger(label: "custos.snapshot"))
        } catch {
            throw StoreError.database("cannot open \(path): \(error)")
        }
        do {
            let result = try await body(connection.sql())
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw SQLiteStore.mapError(error)
        }
    }
}
