import CustosStore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Before a binary migrates an existing database to its newer schema, a copy of the database
/// as it was goes to `<data dir>/backups/pre-migration-FROM-to-TO-TIME.sqlite`: migrations run
/// forward only and an older Custos refuses a newer schema, so this copy is the way back
/// (docs/install.md, "Rolling back"). Taken without asking: a service restarted by systemd
/// after a package upgrade has nobody to pass a flag, and an upgrade that cannot be undone
/// must not depend on someone having remembered one.
public struct StoreUpgrade: Sendable, Equatable {
    public let from: Int
    public let to: Int
    /// The pre-migration copy of the database.
    public let backupPath: String

    public static let backupDirectoryName = "backups"

    /// Takes the copy when the database at `databasePath` is at an older schema than this binary's;
    /// nil for a new database or one already current. A newer schema is left to `SQLiteStore.open`,
    /// which refuses it (`schemaTooNew`) without touching it.
    public static func backUpIfMigrating(directory: String, databasePath: String, now: Date = Date()) async throws -> StoreUpgrade? {
        guard let from = try await SQLiteStore.storedSchemaVersion(path: databasePath),
              from > 0, from < SQLiteStore.schemaVersion else { return nil }
        let to = SQLiteStore.schemaVersion
        let backups = directory + "/" + backupDirectoryName
        if mkdir(backups, 0o700) != 0 && errno != EEXIST {
            throw KeystoreError.invalidArgument("cannot create \(backups): \(String(cString: strerror(errno)))")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let path = backups + "/pre-migration-\(from)-to-\(to)-\(formatter.string(from: now)).sqlite"
        do {
            try await SQLiteStore.copyDatabase(at: databasePath, to: path)
        } catch {
            throw KeystoreError.invalidArgument("the database needs a migration from schema \(from) to \(to), and its backup failed, so it was not migrated: \(error)")
        }
        return StoreUpgrade(from: from, to: to, backupPath: path)
    }
}

extension KeyService {
    /// The migration's audit record: which schemas, and where the way back is.
    func recordStoreUpgrade(_ upgrade: StoreUpgrade) async throws {
        let system = Principal(id: "keystore", tenant: nil, role: .admin)
        try await audit.recordNow([event(.storeMigrate, by: system, tenant: nil,
                                         details: ["from": String(upgrade.from), "to": String(upgrade.to), "backup": upgrade.backupPath])])
    }
}
