import CustosCrypto
import CustosStore
import Foundation
import Synchronization
import Testing

@testable import CustosKeystore

/// A provider whose access can be revoked and granted: it seals with a key of its own,
/// and refuses while revoked, like a disabled KMS key or a removed token.
final class SwitchableSealer: RootSealer, @unchecked Sendable {
    let provider = "test-hsm"
    private let key = AEADKey()
    let revoked = Atomic<Bool>(false)
    let unsealCount = Atomic<Int>(0)

    func prepare() async throws {}

    func seal(_ rootKey: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
        try rootKey.withUnsafeBytes { try key.seal($0, associatedData: context) }
    }

    func unseal(_ sealed: [UInt8], context: [UInt8]) async throws -> SecretBytes {
        unsealCount.add(1, ordering: .relaxed)
        if revoked.load(ordering: .relaxed) { throw KeystoreError.unsealFailed("test-hsm: access revoked") }
        return try key.open(sealed, associatedData: context)
    }
}

@Suite("Sealed root of trust and the kill switch")
struct SealedRootTests {
    func service(_ sealer: SwitchableSealer) async throws -> (KeyService, SealedRoot, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-root-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let root = try await SealedRoot.create(sealer: sealer)
        let store = try await SQLiteStore.open(path: directory + "/custos.sqlite")
        let service = try await KeyService(store: store, root: root)
        _ = try await service.createTenant("node-1", by: .local)
        return (service, root, directory)
    }

    @Test func refusalDropsKeysAndRecoveryNeedsNoRestart() async throws {
        let sealer = SwitchableSealer()
        let (service, root, directory) = try await service(sealer)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let info = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.sign(tenant: "node-1", alias: "k", message: [1, 2, 3], by: .local)
        #expect(service.rootStatus.isReady)

        var changes = service.rootStatusChanges().makeAsyncIterator()
        #expect(await changes.next() == .unsealed(provider: "test-hsm", rootKeyID: root.rootKeyID))

        sealer.revoked.store(true, ordering: .relaxed)
        let status = await service.refreshRoot()
        #expect(status == .refused(provider: "test-hsm", reason: "test-hsm: access revoked"))
        #expect(!service.rootStatus.isReady)
        #expect(await changes.next() == status)
        // The key was cached: it is gone, and nothing is unwrapped while refused.
        await #expect {
            try await service.sign(tenant: "node-1", alias: "k", message: [1, 2, 3], by: .local)
        } throws: { error in
            "\(error)".contains("test-hsm refuses access")
        }
        await #expect(throws: KeystoreError.self) {
            try await root.unwrap([UInt8](repeating: 0, count: 60), context: [])
        }
        await #expect(throws: KeystoreError.self) {
            try await service.generateKey(KeySpec(tenant: "node-1", alias: "k2", algorithm: .signing(.ed25519)), by: .local)
        }
        // Verification needs no private key and keeps working.
        let before = sealer.unsealCount.load(ordering: .relaxed)
        _ = try await service.publicKey(tenant: "node-1", alias: "k", by: .local)
        #expect(sealer.unsealCount.load(ordering: .relaxed) == before)

        sealer.revoked.store(false, ordering: .relaxed)
        #expect(await service.refreshRoot().isReady)
        #expect(await changes.next() == .unsealed(provider: "test-hsm", rootKeyID: root.rootKeyID))
        let signed = try await service.sign(tenant: "node-1", alias: "k", message: [1, 2, 3], by: .local)
        #expect(signed.version == 1)
        #expect(info.alias == "k")
        try await service.close()
    }

    @Test func unsealRefusedAtStartIsAClearError() async throws {
        let sealer = SwitchableSealer()
        let root = try await SealedRoot.create(sealer: sealer)
        sealer.revoked.store(true, ordering: .relaxed)
        await #expect {
            _ = try await SealedRoot.unseal(sealer: sealer, sealedRootKey: root.sealedRootKey, rootKeyID: root.rootKeyID)
        } throws: { error in
            (error as? KeystoreError) == .unsealFailed("test-hsm: access revoked")
        }
        sealer.revoked.store(false, ordering: .relaxed)
        // Another root key id (a swapped root file) is refused too.
        await #expect(throws: KeystoreError.self) {
            _ = try await SealedRoot.unseal(sealer: sealer, sealedRootKey: root.sealedRootKey, rootKeyID: "0011223344556677")
        }
        let reopened = try await SealedRoot.unseal(sealer: sealer, sealedRootKey: root.sealedRootKey, rootKeyID: root.rootKeyID)
        #expect(reopened.status.isReady)
    }

    @Test func monitorNoticesRevocation() async throws {
        let sealer = SwitchableSealer()
        let (service, _, directory) = try await service(sealer)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let monitor = service.monitorRoot(every: .milliseconds(20))
        defer { monitor.cancel() }
        sealer.revoked.store(true, ordering: .relaxed)
        var waited = 0
        while service.rootStatus.isReady && waited < 200 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(!service.rootStatus.isReady)
        sealer.revoked.store(false, ordering: .relaxed)
        waited = 0
        while !service.rootStatus.isReady && waited < 200 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(service.rootStatus.isReady)
        monitor.cancel()
        try await service.close()
    }

    @Test func migrationIsOnlineAndBindsTheStoreToTheNewRoot() async throws {
        let (service, oldRoot, directory) = try await service(SwitchableSealer())
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for index in 2...40 { _ = try await service.createTenant(try TenantID(validating: "node-\(index)"), by: .local) }
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "k", algorithm: .signing(.ed25519)), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: "node-40", alias: "k", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        let newRoot = try await SealedRoot.create(sealer: SwitchableSealer())

        // Signing goes on while the wrapping keys move.
        let signer = Task {
            var count = 0
            for _ in 0..<200 {
                _ = try await service.sign(tenant: "node-1", alias: "k", message: [7], by: .local)
                count += 1
            }
            return count
        }
        let result = try await service.migrateRoot(to: newRoot)
        // 40 tenants, and the record keys (generation 0) of the two that have keys.
        #expect(result.rewrapped == 42 && result.alreadyMoved == 0)
        #expect(try await signer.value == 200)
        #expect(service.root.rootKeyID == newRoot.rootKeyID)
        // New tenants go under the new root; every key still opens with no cache.
        _ = try await service.createTenant("late", by: .local)
        let store = service.store
        #expect(try await store.allWrappingKeys().allSatisfy { $0.rootKeyID == newRoot.rootKeyID })
        try await service.close()

        let reopenedStore = try await SQLiteStore.open(path: directory + "/custos.sqlite")
        await #expect(throws: KeystoreError.rootKeyMismatch) {
            _ = try await KeyService(store: reopenedStore, root: oldRoot)
        }
        let reopened = try await KeyService(store: reopenedStore, root: newRoot)
        let check = try await reopened.checkAllKeys(by: .local)
        #expect(check.checked == 2 && check.failures.isEmpty)
        // Running it again finds nothing to move.
        let again = try await KeyService.completeRootMigration(store: reopenedStore, from: oldRoot, to: newRoot)
        #expect(again.rewrapped == 0 && again.alreadyMoved == 43)
        try await reopened.close()
    }

    @Test func theUnauthenticatedSummaryOfARefusalNamesNoSetting() {
        let status = RootStatus.refused(provider: "pkcs11", reason: "pkcs11: no token (module /opt/evil.so, token 'secret-label')")
        #expect(status.summary == "refused by pkcs11")
        #expect(RootStatus.unsealed(provider: "kms", rootKeyID: "0011").summary == "unsealed (kms)")
    }
}
