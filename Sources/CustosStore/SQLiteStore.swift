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
    let database: any SQLDatabase
    public nonisolated let path: String

    public static func open(path: String, logger: Logger = Logger(label: "custos.store")) async throws -> SQLiteStore {
        try await open(path: path, logger: logger, migratingThrough: schemaVersion)
    }

    /// Opens with the migrations applied up to `version` only: how the migration tests make
    /// a database of an older schema.
    static func open(path: String, logger: Logger = Logger(label: "custos.store"), migratingThrough version: Int) async throws -> SQLiteStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw StoreError.database("cannot open \(path): \(error)")
        }
        let store = SQLiteStore(connection: connection, path: path)
        do {
            try await store.configure()
            try await store.migrate(through: version)
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
        do {
            return try await body()
        } catch let error as DecodingError {
            throw Self.mapError(error)
        }
    }

    static func mapError(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let error = error as? DecodingError { return StoreError.database(rowTypeMismatch(error)) }
        return StoreError.database(String(describing: error))
    }

    /// A row whose column holds another type than the schema's (edited behind the store's back):
    /// named by its column, never by the stored value, which may be binary or a secret.
    static func rowTypeMismatch(_ error: DecodingError) -> String {
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        @unknown default:
            path = []
        }
        let column = path.map(\.stringValue).joined(separator: ".").unicodeScalars
            .filter { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "_" || $0 == ".") }
        return "a stored row does not have the expected type" + (column.isEmpty ? "" : " in column '\(String(String.UnicodeScalarView(column)))'")
    }

    static func blob(_ bytes: [UInt8]?) -> Data? { bytes.map { Data($0) } }
}

extension JSONEncoder {
    /// Deterministic output, so identical records serialise identically.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
