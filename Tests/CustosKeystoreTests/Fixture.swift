import CustosCrypto
import CustosStore
import Foundation
import SQLKit
import SQLiteKit
import SQLiteNIO

@testable import CustosKeystore

/// A keystore on a fresh temporary data directory, with a cheap scrypt cost. It
/// owns the current service, so cleaning up always closes the live connection.
final class Fixture: @unchecked Sendable {
    static let passphrase = "correct horse battery staple"
    let directory: String
    private(set) var service: KeyService

    init(directory: String, service: KeyService) {
        self.directory = directory
        self.service = service
    }

    var databasePath: String { directory + "/custos.sqlite" }
    var rootPath: String { directory + "/" + PassphraseRoot.fileName }

    static func make(tenant: String? = "node-1", clock: @escaping @Sendable () -> Date = { Date() }) async throws -> Fixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName,
                                             passphrase: SecretBytes(Array(passphrase.utf8)), cost: .init(logN: 10))
        let store = try await SQLiteStore.open(path: directory + "/custos.sqlite")
        let service = try await KeyService(store: store, root: root, clock: clock)
        if let tenant { _ = try await service.createTenant(try TenantID(validating: tenant), by: .local) }
        return Fixture(directory: directory, service: service)
    }

    /// Closes and opens the data directory again, as a restart would; `change` runs
    /// in between, on the files at rest (as a writer of the data directory would).
    func reopened(afterChanging change: () throws -> Void = {}) async throws -> Fixture {
        try await service.close()
        try change()
        let root = try PassphraseRoot.unseal(at: rootPath, passphrase: SecretBytes(Array(Fixture.passphrase.utf8)))
        let store = try await SQLiteStore.open(path: databasePath)
        service = try await KeyService(store: store, root: root)
        return self
    }

    func cleanUp() async {
        try? await service.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Every row of every table, in a canonical order: two equal snapshots mean the
    /// store did not change. The audit log is left out on purpose: a refused operation
    /// does append its failure record (AuditLogTests check those).
    func snapshot() async throws -> String {
        try await Raw.withDatabase(databasePath) { database in
            var out = ""
            for table in ["metadata", "tenants", "wrapping_keys", "keys", "key_versions", "schema_migrations", "api_tokens", "audit_checkpoints",
                          "certificates", "tls_trust", "tls_changes", "cluster_membership", "cluster_key_sets", "cluster_approvals",
                          "cluster_shares", "cluster_floors", "cluster_checkpoint_decisions", "cluster_log", "cluster_certificates",
                          "cluster_stable_checkpoints"] {
                let rows = try await database.raw("SELECT * FROM \(unsafeRaw: table) ORDER BY 1, 2").all()
                out += "== \(table)\n"
                for row in rows {
                    out += row.allColumns.sorted().map { column in
                        let text = (try? row.decode(column: column, as: String?.self)).flatMap { $0 } ?? ""
                        let number = (try? row.decode(column: column, as: Double?.self)).flatMap { $0 }.map { "\($0)" } ?? ""
                        let blob = (try? row.decode(column: column, as: Data?.self)).flatMap { $0 }.map { Hex.encode($0) } ?? ""
                        return "\(column)=\(text)|\(number)|\(blob)"
                    }.joined(separator: ",") + "\n"
                }
            }
            return out
        }
    }

    /// Runs raw SQL against the database file (to tamper with it as an attacker would).
    func execute(_ sql: SQLQueryString) async throws {
        try await Raw.withDatabase(databasePath) { database in try await database.raw(sql).run() }
    }

    func blob(_ sql: SQLQueryString) async throws -> [UInt8] {
        try await Raw.withDatabase(databasePath) { database in
            let row = try await database.raw(sql).first()
            return Array(try row!.decode(column: "b", as: Data.self))
        }
    }
}

enum Raw {
    static func withDatabase<T: Sendable>(_ path: String, _ body: (any SQLDatabase) async throws -> T) async throws -> T {
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        do {
            _ = try await connection.sql().raw("PRAGMA busy_timeout = 5000").all()
            let result = try await body(connection.sql())
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

extension SecretBytes {
    convenience init(utf8 text: String) { self.init(Array(text.utf8)) }
}
