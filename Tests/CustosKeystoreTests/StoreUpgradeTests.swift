import CustosCrypto
import Foundation
import Testing

@testable import CustosKeystore
@testable import CustosStore

/// An upgrade across a schema migration: the copy taken before it, the audit record of it, a
/// newer schema refused untouched, and a failed backup that leaves the database unmigrated.
@Suite("Store upgrades: pre-migration backup, audit, refusal")
struct StoreUpgradeTests {
    static let secrets = RootSecrets(passphrase: { SecretBytes(Array(Fixture.passphrase.utf8)) }, newPassphrase: { SecretBytes([]) },
                                     pkcs11PIN: { SecretBytes([]) },
                                     awsCredentials: { AWSCredentials(accessKeyID: "unused", secretAccessKey: SecretBytes([])) })

    /// A data directory as the release before schema 7 left it: a tenant and a signing key.
    static func directory(atSchema version: Int) async throws -> (directory: String, database: String, signature: [UInt8]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-upgrade-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName,
                                             passphrase: SecretBytes(Array(Fixture.passphrase.utf8)), cost: .init(logN: 10))
        let database = directory + "/custos.sqlite"
        let store = try await SQLiteStore.open(path: database, migratingThrough: version)
        let service = try await KeyService(store: store, root: root)
        _ = try await service.createTenant(try TenantID(validating: "node-1"), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let signed = try await service.sign(tenant: "node-1", alias: "k", message: [1, 2, 3], by: .local)
        try await service.close()
        return (directory, database, signed.signature)
    }

    static func backups(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/backups")) ?? []).sorted()
    }

    @Test func migratingTakesABackupFirstAndAuditsTheMigration() async throws {
        let (directory, database, signature) = try await Self.directory(atSchema: 6)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await SQLiteStore.storedSchemaVersion(path: database) == 6)

        let service = try await RootDirectory.openKeyService(directory: directory, databasePath: database, secrets: Self.secrets)
        // The key made under schema 6 still verifies its old signature and signs.
        #expect(try await service.verify(tenant: "node-1", alias: "k", message: [1, 2, 3], signature: signature, by: .local).valid)
        _ = try await service.sign(tenant: "node-1", alias: "k", message: [4], by: .local)
        let records = try await service.store.auditRecords(AuditQuery(limit: 1000)).filter { $0.operation == "store.migrate" }
        let verification = try await service.audit.verify()
        try await service.close()
        #expect(try await SQLiteStore.storedSchemaVersion(path: database) == SQLiteStore.schemaVersion)

        let names = Self.backups(in: directory)
        try #require(names.count == 1)
        #expect(names[0].hasPrefix("pre-migration-6-to-\(SQLiteStore.schemaVersion)-") && names[0].hasSuffix("Z.sqlite"))
        let backup = directory + "/backups/" + names[0]
        // The copy is the database as it was: schema 6, its key row, and closed to other users.
        #expect(try await SQLiteStore.storedSchemaVersion(path: backup) == 6)
        let attributes = try FileManager.default.attributesOfItem(atPath: backup)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: directory + "/backups")[.posixPermissions] as? Int) == 0o700)
        let old = try await SQLiteStore.open(path: backup, migratingThrough: 6)
        #expect(try await old.rows("SELECT alias FROM keys").map { try $0.decode(column: "alias", as: String.self) } == ["k"])
        try await old.close()

        // One audit record names both schemas and the backup; the chain still verifies.
        try #require(records.count == 1)
        #expect(records[0].detailValues["from"] == "6")
        #expect(records[0].detailValues["to"] == String(SQLiteStore.schemaVersion))
        #expect(records[0].detailValues["backup"] == backup)
        #expect(verification.intact, "\(verification.findings)")

        // Opening a current database again takes no second backup.
        let again = try await RootDirectory.openKeyService(directory: directory, databasePath: database, secrets: Self.secrets)
        try await again.close()
        #expect(Self.backups(in: directory) == names)
    }

    @Test func aFailedBackupLeavesTheDatabaseUnmigrated() async throws {
        let (directory, database, _) = try await Self.directory(atSchema: 6)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A file where the backup directory belongs: the copy cannot be written.
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: directory + "/backups"))
        await #expect {
            _ = try await RootDirectory.openKeyService(directory: directory, databasePath: database, secrets: Self.secrets)
        } throws: { error in
            "\(error)".contains("migration from schema 6 to \(SQLiteStore.schemaVersion)") && "\(error)".contains("not migrated")
        }
        #expect(try await SQLiteStore.storedSchemaVersion(path: database) == 6)
    }

    @Test func aWrongPassphraseMigratesNothing() async throws {
        let (directory, database, _) = try await Self.directory(atSchema: 6)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wrong = RootSecrets(passphrase: { SecretBytes(Array("not the passphrase".utf8)) }, newPassphrase: { SecretBytes([]) },
                                pkcs11PIN: { SecretBytes([]) },
                                awsCredentials: { AWSCredentials(accessKeyID: "unused", secretAccessKey: SecretBytes([])) })
        await #expect(throws: (any Error).self) {
            _ = try await RootDirectory.openKeyService(directory: directory, databasePath: database, secrets: wrong)
        }
        #expect(try await SQLiteStore.storedSchemaVersion(path: database) == 6)
        #expect(Self.backups(in: directory).isEmpty)
    }

    @Test func aNewerSchemaIsRefusedUntouchedAndWithoutABackup() async throws {
        let (directory, database, _) = try await Self.directory(atSchema: SQLiteStore.schemaVersion)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let newer = SQLiteStore.schemaVersion + 1
        let store = try await SQLiteStore.open(path: database)
        try await store.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (\(bind: newer), 0)")
        try await store.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        await #expect {
            _ = try await RootDirectory.openKeyService(directory: directory, databasePath: database, secrets: Self.secrets)
        } throws: { error in
            "\(error)".contains("schema is version \(newer) but this Custos supports up to \(SQLiteStore.schemaVersion)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == before)
        #expect(Self.backups(in: directory).isEmpty)
    }

    @Test func aCopyNeverReplacesAnExistingFile() async throws {
        let (directory, database, _) = try await Self.directory(atSchema: 6)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/taken.sqlite"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: target))
        await #expect(throws: StoreError.self) { try await SQLiteStore.copyDatabase(at: database, to: target) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("keep me".utf8))
    }
}
