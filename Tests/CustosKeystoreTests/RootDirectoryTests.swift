import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// The data directory as an attacker who can write it sees it: planted or edited root
/// files must yield no key, load no code, and change nothing.
@Suite("Root files planted or edited in the data directory")
struct RootDirectoryTests {
    static let newPassphrase = "a different passphrase for the new root"

    static func secrets(overrides: [String: String] = [:]) -> RootSecrets {
        RootSecrets(passphrase: { SecretBytes(Array(Fixture.passphrase.utf8)) },
                    newPassphrase: { SecretBytes(Array(newPassphrase.utf8)) },
                    pkcs11PIN: { SecretBytes(Array("1234".utf8)) },
                    awsCredentials: { AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: SecretBytes(Array("secret".utf8))) },
                    overrides: overrides)
    }

    /// A fixture with one signing key, closed: the directory as it rests on disk.
    static func restingDirectory() async throws -> Fixture {
        let fixture = try await Fixture.make()
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        try await fixture.service.close()
        return fixture
    }

    /// A sealed root of a throwaway provider, to fill planted `root.json` files.
    static func stubRoot() async throws -> SealedRoot {
        try await SealedRoot.create(sealer: SwitchableSealer())
    }

    /// What a planter would write: a provider they control, or one that loads their code.
    static func plantedFiles(directory: String, marker: String) async throws -> [RootFile] {
        var tpm = RootFile(root: try await stubRoot(), tpm: TPMConfiguration(tcti: "cmd:touch \(marker)"))
        tpm.provider = "tpm"
        var pkcs11 = RootFile(root: try await stubRoot(), pkcs11: PKCS11Configuration(module: directory + "/evil.so", tokenLabel: "t"))
        pkcs11.provider = "pkcs11"
        var kms = RootFile(root: try await stubRoot(), kms: KMSConfiguration(endpoint: "http://127.0.0.1:9", region: "us-east-1", keyID: "k"))
        kms.provider = "kms"
        return [tpm, pkcs11, kms]
    }

    @Test func aPlantedPendingMigrationIsNeverResumedAndRunsNoCode() async throws {
        let fixture = try await Self.restingDirectory()
        defer { Task { await fixture.cleanUp() } }
        let marker = fixture.directory + "/marker"
        let rootBefore = try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath))
        let nextPath = fixture.directory + "/" + RootDirectory.pendingProviderFile
        for planted in try await Self.plantedFiles(directory: fixture.directory, marker: marker) {
            try planted.write(to: nextPath)
            let before = try await fixture.snapshot()
            // Any command: refused, naming the way to resume.
            await #expect { _ = try await RootDirectory.open(directory: fixture.directory, secrets: Self.secrets()) } throws: { error in
                "\(error)".contains("root migrate --resume")
            }
            // The operator's resume: refused before the new root's provider is touched.
            await #expect {
                _ = try await RootDirectory.openKeyService(directory: fixture.directory, databasePath: fixture.databasePath,
                                                           secrets: Self.secrets(), resume: true)
            } throws: { error in
                "\(error)".contains("not authorised by the current root")
            }
            #expect(!FileManager.default.fileExists(atPath: marker))
            #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.rootPath)) == rootBefore)
            #expect(try await fixture.snapshot() == before)
        }
        // The refusals are in the audit log, under the current root.
        try FileManager.default.removeItem(atPath: nextPath)
        let service = try await RootDirectory.openKeyService(directory: fixture.directory, databasePath: fixture.databasePath, secrets: Self.secrets())
        let records = try await service.store.auditRecords(AuditQuery(limit: 1000)).filter { $0.operation == "root.migrate" }
        try await service.close()
        #expect(records.count == 3 && records.allSatisfy { $0.outcome == "failure" && $0.detailValues["step"] == "refused" })
    }

    @Test func anAuthorisationMadeForAnotherFileOrRootIsRefused() async throws {
        let fixture = try await Self.restingDirectory()
        defer { Task { await fixture.cleanUp() } }
        let old = try PassphraseRoot.unseal(at: fixture.rootPath, passphrase: SecretBytes(Array(Fixture.passphrase.utf8)))
        let nextPath = fixture.directory + "/" + RootDirectory.pendingPassphraseFile
        let genuine = try PassphraseRoot.create(at: nextPath, passphrase: SecretBytes(Array(Self.newPassphrase.utf8)), cost: .init(logN: 10))
        try await MigrationAuthorization.write(directory: fixture.directory, next: RootDirectory.pendingPassphraseFile, contentsPath: nextPath, old: old, newRootKeyID: genuine.rootKeyID)
        // The authorised file swapped for another one (same passphrase, another root key).
        try FileManager.default.removeItem(atPath: nextPath)
        _ = try PassphraseRoot.create(at: nextPath, passphrase: SecretBytes(Array(Self.newPassphrase.utf8)), cost: .init(logN: 10))
        await #expect { _ = try await RootDirectory.open(directory: fixture.directory, secrets: Self.secrets(), resume: true) } throws: { error in
            "\(error)".contains("not authorised")
        }
        // An authorisation written by another root key.
        let stranger = try PassphraseRoot.create(at: fixture.directory + "/stranger.seal", passphrase: SecretBytes(Array(Self.newPassphrase.utf8)), cost: .init(logN: 10))
        try await MigrationAuthorization.write(directory: fixture.directory, next: RootDirectory.pendingPassphraseFile, contentsPath: nextPath, old: stranger, newRootKeyID: genuine.rootKeyID)
        await #expect(throws: KeystoreError.self) { _ = try await RootDirectory.open(directory: fixture.directory, secrets: Self.secrets(), resume: true) }
    }

    @Test func anInterruptedMigrationResumesOnlyWhenAsked() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let info = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let old = fixture.service.root
        let nextPath = fixture.directory + "/" + RootDirectory.pendingPassphraseFile
        let newRoot = try PassphraseRoot.create(at: nextPath, passphrase: SecretBytes(Array(Self.newPassphrase.utf8)), cost: .init(logN: 10))
        // Cut short after authorising and moving the rows, before the files switch.
        try await MigrationAuthorization.write(directory: fixture.directory, next: RootDirectory.pendingPassphraseFile, contentsPath: nextPath, old: old, newRootKeyID: newRoot.rootKeyID)
        _ = try await fixture.service.migrateRoot(to: newRoot)
        try await fixture.service.close()

        await #expect { _ = try await RootDirectory.open(directory: fixture.directory, secrets: Self.secrets()) } throws: { error in
            "\(error)".contains("root migrate --resume")
        }
        let service = try await RootDirectory.openKeyService(directory: fixture.directory, databasePath: fixture.databasePath,
                                                             secrets: Self.secrets(), resume: true)
        #expect(service.root.rootKeyID == newRoot.rootKeyID)
        let signed = try await service.sign(tenant: "node-1", alias: "k", message: [1, 2, 3], by: .local)
        #expect(signed.version == info.primaryVersion)
        let files = try FileManager.default.contentsOfDirectory(atPath: fixture.directory).filter { $0.hasPrefix("root") }.sorted()
        #expect(files == ["root.seal"])
        let records = try await service.store.auditRecords(AuditQuery(limit: 1000)).filter { $0.operation == "root.migrate" }
        #expect(records.map { $0.detailValues["step"] } == ["resumed"])
        #expect(records.first?.detailValues["from"] == old.rootKeyID && records.first?.detailValues["to"] == newRoot.rootKeyID)
        try await service.close()
    }

    @Test func everyMigrationStepAndEveryCheckIsAudited() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        let stagedPath = RootDirectory.stagedPath(directory: fixture.directory, passphrase: true)
        let newRoot = try PassphraseRoot.create(at: stagedPath, passphrase: SecretBytes(Array(Self.newPassphrase.utf8)), cost: .init(logN: 10))
        let result = try await RootDirectory.migrate(fixture.service, directory: fixture.directory, to: newRoot, stagedPath: stagedPath, by: .local)
        // One tenant: its wrapping key and its record key (generation 0, the row-MAC key).
        #expect(result.rewrapped == 2)
        #expect(!FileManager.default.fileExists(atPath: MigrationAuthorization.path(directory: fixture.directory)))
        let check = try await fixture.service.checkAllKeys(by: .local)
        #expect(check.checked == 1 && check.failures.isEmpty)
        await #expect(throws: KeystoreError.self) {
            _ = try await fixture.service.checkAllKeys(by: Principal(id: "token:signer", tenant: "node-1", role: .signer))
        }
        let records = try await fixture.service.store.auditRecords(AuditQuery(limit: 1000))
        let steps = records.filter { $0.operation == "root.migrate" }.map { $0.detailValues["step"] ?? "" }
        #expect(steps == ["started", "completed"])
        #expect(records.last { $0.operation == "root.migrate" }?.detailValues["rewrapped"] == "2")
        let checks = records.filter { $0.operation == "root.check" }
        #expect(checks.map(\.outcome) == ["success", "denied"])
        #expect(checks.first?.detailValues["checked"] == "1")
    }

    @Test func aDirectoryHoldingBothRootFilesIsRefused() async throws {
        let fixture = try await Self.restingDirectory()
        defer { Task { await fixture.cleanUp() } }
        var planted = RootFile(root: try await Self.stubRoot(), kms: KMSConfiguration(endpoint: "http://127.0.0.1:9", region: "us-east-1", keyID: "k"))
        planted.provider = "kms"
        try planted.write(to: fixture.directory + "/" + RootFile.fileName)
        await #expect { _ = try await RootDirectory.open(directory: fixture.directory, secrets: Self.secrets()) } throws: { error in
            "\(error)".contains("both root.json and root.seal")
        }
    }

    @Test func onlyAllowedTCTIsAreAccepted() throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("custos-tcti-\(UUID().uuidString)").path
        for tcti in ["cmd:touch \(marker)", "libtss2-tcti-cmd.so.0:touch \(marker)", "/tmp/evil.so", "pcap:device", ""] {
            #expect(throws: KeystoreError.self) { _ = try TPMSealer(configuration: TPMConfiguration(tcti: tcti)) }
        }
        for tcti in ["device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321", "mssim:host=localhost,port=2321", "tabrmd:bus_type=system", "device"] {
            #expect(throws: Never.self) { _ = try TPMSealer(configuration: TPMConfiguration(tcti: tcti)) }
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func onlyAllowedPKCS11ModulesLoad() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-p11-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let planted = directory + "/evil.so"
        FileManager.default.createFile(atPath: planted, contents: Data([0x7f, 0x45, 0x4c, 0x46]))
        #expect(throws: KeystoreError.self) {
            _ = try PKCS11Sealer(configuration: PKCS11Configuration(module: planted, tokenLabel: "t"), pin: SecretBytes(Array("1234".utf8)))
        }
        #expect(throws: KeystoreError.self) { try PKCS11Modules.check(planted, allowed: PKCS11Modules.defaults) }
        // A symbolic link to an allowed module does not make another path allowed, nor the reverse.
        let link = directory + "/link.so"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: planted)
        #expect(throws: KeystoreError.self) { try PKCS11Modules.check(planted, allowed: ["/usr/lib/softhsm/libsofthsm2.so"]) }
        #expect(throws: Never.self) { try PKCS11Modules.check(link, allowed: [planted]) }
        // Allowed by the operator but inside the data directory: still refused.
        #expect(throws: KeystoreError.self) { try PKCS11Modules.checkOutside(link, directory: directory) }
        #expect(PKCS11Modules.allowed(environment: ["CUSTOS_PKCS11_MODULES": "/opt/a.so:/opt/b.so"]).suffix(2) == ["/opt/a.so", "/opt/b.so"])
    }
}
