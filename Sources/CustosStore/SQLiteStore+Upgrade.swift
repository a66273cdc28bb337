import Foundation
import Logging
import SQLKit
import SQLiteNIO

#if canImport(Glibc)
import Glibc
#endif

// What an upgrade needs before `open` migrates: the schema a database file is at, and a
// consistent copy of it to roll back to (docs/install.md, "Upgrades and migrations").
extension SQLiteStore {
    /// The schema version of the database at `path`, read without changing it: nil when there is
    /// no file, 0 when no migration was ever applied.
    public static func storedSchemaVersion(path: String, logger: Logger = Logger(label: "custos.store")) async throws -> Int? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try await withConnection(path: path, logger: logger) { database in
            let tables = try await database.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").all()
            guard !tables.isEmpty else { return 0 }
            let row = try await database.raw("SELECT MAX(version) AS v FROM schema_migrations").first()
            return try row.flatMap { try $0.decodeNil(column: "v") ? nil : $0.decode(column: "v", as: Int.self) } ?? 0
        }
    }

    /// Writes a consistent copy of the database at `path` (committed transactions, WAL included)
    /// to `destination` with SQLite's VACUUM INTO: a new file, mode 0600, synced to disk.
    /// An existing `destination` is never overwritten.
    public static func copyDatabase(at path: String, to destination: String, logger: Logger = Logger(label: "custos.store")) async throws {
        // VACUUM INTO wants a missing or empty file; creating it here fixes its mode and
        // refuses to replace anything.
        let fd = Glibc.open(destination, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw StoreError.database("cannot create \(destination): \(String(cString: strerror(errno)))") }
        Glibc.close(fd)
        do {
            try await withConnection(path: path, logger: logger) { database in
                try await database.raw("VACUUM INTO \(bind: destination)").run()
            }
            let written = Glibc.open(destination, O_RDONLY)
            guard written >= 0, fsync(written) == 0 else {
                if written >= 0 { Glibc.close(written) }
                throw StoreError.database("cannot sync \(destination): \(String(cString: strerror(errno)))")
            }
            Glibc.close(written)
            let directory = Glibc.open((destination as NSString).deletingLastPathComponent, O_RDONLY)
            if directory >= 0 {
                fsync(directory)
                Glibc.close(directory)
            }
        } catch {
            unlink(destination)
            throw error
        }
    }

    private static func withConnection<T: Sendable>(path: String, logger: Logger, _ body: (any SQLDatabase) async throws -> T) async throws -> T {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw StoreError.database("cannot open \(path): \(error)")
        }
        do {
            let database = connection.sql()
            try await database.raw("PRAGMA busy_timeout = 10000").run()
            let result = try await body(database)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw mapError(error)
        }
    }
}
