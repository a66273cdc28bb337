import CustosCrypto
import CustosStore
import Foundation

/// `custos.shred`, next to the database: per tenant, the oldest wrapping-key generation
/// still in use, raised by every destroy. It lives outside the database so that
/// restoring an older `custos.sqlite` (which still holds retired generations, and the
/// material of keys destroyed since) does not bring a destroyed key back: the keyring
/// refuses generations below the floor. Each entry is MAC'd under the tenant's record
/// key, so lowering a floor needs the root of trust. Once the ledger exists the
/// database says so (metadata `shred_ledger`), and a missing ledger is refused.
final class ShredLedger: Sendable {
    static let fileName = "custos.shred"
    static let metadataName = "shred_ledger"
    let path: String

    init(path: String) {
        self.path = path
    }

    private struct Entry: Codable {
        var floor: Int
        var mac: String
    }

    private static func input(tenant: String, floor: Int) -> [UInt8] {
        BindingContext.make("custos.shred-floor.v1", [tenant, String(floor)])
    }

    /// Loads and checks the ledger into the keyring; creates it on first use.
    func open(keyring: WrappingKeyring, store: any Store) async throws {
        guard FileManager.default.fileExists(atPath: path) else {
            if try await store.metadata(Self.metadataName) != nil {
                throw KeystoreError.corruptRecord("the shred ledger \(Self.fileName) is missing: destroyed keys could come back from an older database")
            }
            try AtomicFile.write(Array("{}".utf8), to: path)
            _ = try await store.setMetadataIfAbsent(Self.metadataName, Array("v1".utf8))
            return
        }
        for (tenant, entry) in try read() {
            let key = try await keyring.rowMACKey(tenant: tenant)
            guard let mac = Hex.decode(entry.mac), key.isValidAuthenticationCode(mac, for: Self.input(tenant: tenant, floor: entry.floor)) else {
                throw KeystoreError.corruptRecord("the shred ledger entry of tenant '\(tenant.prefix(80))' does not match its MAC")
            }
            keyring.setFloor(tenant: tenant, generation: entry.floor)
        }
        _ = try await store.setMetadataIfAbsent(Self.metadataName, Array("v1".utf8))
    }

    /// Raises the tenant's floor (never lowers it) and writes the ledger atomically.
    func raise(tenant: String, to floor: Int, keyring: WrappingKeyring) async throws {
        var entries = try read()
        guard (entries[tenant]?.floor ?? 0) < floor else { return }
        let mac = try await keyring.rowMACKey(tenant: tenant).authenticationCode(for: Self.input(tenant: tenant, floor: floor))
        entries[tenant] = Entry(floor: floor, mac: Hex.encode(mac))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(entries)), to: path)
        keyring.setFloor(tenant: tenant, generation: floor)
    }

    private func read() throws -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        do {
            return try JSONDecoder().decode([String: Entry].self, from: data)
        } catch {
            throw KeystoreError.corruptRecord("the shred ledger \(Self.fileName) cannot be read")
        }
    }
}
