import CustosCrypto
import CustosStore
import Foundation

/// Key and version rows carry an HMAC, under a key derived from the tenant's record
/// key, of every column that says what the key is and may do (status, primary version,
/// scheme, category, protection, labels, public key, whether material exists, wrapping
/// generation; the material itself is authenticated by its own AEAD wrap).
/// A writer of the database without the root of trust cannot make a matching MAC, so
/// an edited row is refused as `corrupt-record` when it is read for use. Timestamps are
/// left out: they change nothing a key can do.
extension KeyService {
    static let rowMACsMetadata = "row_macs"

    static func macInput(_ key: KeyRecord) -> [UInt8] {
        let labels = key.labels.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        return BindingContext.make("custos.key-row.v1", [
            key.id, key.tenantID, key.alias, key.category, key.scheme, key.status.rawValue, String(key.primaryVersion),
            key.externalID.map { "=" + $0 } ?? "-", key.protection, String(labels.count),
        ] + labels)
    }

    static func macInput(_ version: KeyVersionRecord) -> [UInt8] {
        BindingContext.make("custos.key-version-row.v1", [
            version.keyID, String(version.version), version.publicKey.map(Hex.encode) ?? "-", version.fingerprint ?? "-",
            version.wrappedMaterial == nil ? "no-material" : "material", String(version.wrappingGeneration),
            version.destroyedAt == nil ? "live" : "destroyed",
        ])
    }

    func rowMAC(_ key: KeyRecord) async throws -> [UInt8] {
        try await keyring.rowMACKey(tenant: key.tenantID).authenticationCode(for: Self.macInput(key))
    }

    func rowMAC(_ version: KeyVersionRecord, tenant: String) async throws -> [UInt8] {
        try await keyring.rowMACKey(tenant: tenant).authenticationCode(for: Self.macInput(version))
    }

    func withMAC(_ key: KeyRecord) async throws -> KeyRecord {
        var key = key
        key.rowMAC = try await rowMAC(key)
        return key
    }

    func withMAC(_ version: KeyVersionRecord, tenant: String) async throws -> KeyVersionRecord {
        var version = version
        version.rowMAC = try await rowMAC(version, tenant: tenant)
        return version
    }

    /// The key row, refused as `corrupt-record` unless its MAC matches.
    func checkedRecord(tenant: TenantID, alias: KeyAlias) async throws -> StoredKey {
        let record = try await self.record(tenant: tenant, alias: alias)
        let key = try await keyring.rowMACKey(tenant: tenant.rawValue)
        guard let mac = record.row.rowMAC, key.isValidAuthenticationCode(mac, for: Self.macInput(record.row)) else {
            throw KeystoreError.corruptRecord("key record \(record.id) does not match its MAC: it was edited outside Custos")
        }
        return record
    }

    /// A version row of `record`, refused as `corrupt-record` unless its MAC matches.
    func checkVersion(_ row: KeyVersionRecord, of record: StoredKey) async throws {
        let key = try await keyring.rowMACKey(tenant: record.tenant.rawValue)
        guard let mac = row.rowMAC, key.isValidAuthenticationCode(mac, for: Self.macInput(row)) else {
            throw KeystoreError.corruptRecord("version \(row.version) of key record \(record.id) does not match its MAC: it was edited outside Custos")
        }
    }

    /// The versions of `record`, each checked against its MAC.
    func checkedVersions(of record: StoredKey) async throws -> [KeyVersionRecord] {
        let rows = try await store.versions(keyID: record.id)
        for row in rows { try await checkVersion(row, of: record) }
        return rows
    }

    /// Upgrade of a data directory written before row MACs: once, under the unsealed
    /// root, every row without a MAC gets one, in one audited transaction. After that a
    /// row without a MAC is as corrupt as one with a wrong MAC.
    func macRowsWrittenBeforeRowMACs() async throws {
        guard try await store.metadata(Self.rowMACsMetadata) == nil else { return }
        var keyMACs: [String: [UInt8]] = [:]
        var versionMACs: [String: [Int: [UInt8]]] = [:]
        for tenant in try await store.tenants() {
            var after: String?
            repeat {
                let page = try await store.listKeys(tenantID: tenant.id, filter: KeyFilter(), page: PageRequest(limit: PageRequest.maximumLimit, after: after))
                for key in page.keys {
                    if key.rowMAC == nil { keyMACs[key.id] = try await rowMAC(key) }
                    for version in try await store.versions(keyID: key.id) where version.rowMAC == nil {
                        versionMACs[key.id, default: [:]][version.version] = try await rowMAC(version, tenant: tenant.id)
                    }
                }
                after = page.nextCursor
            } while after != nil
        }
        if !keyMACs.isEmpty || !versionMACs.isEmpty {
            let system = Principal(id: "keystore", tenant: nil, role: .admin)
            let rows = keyMACs.count + versionMACs.values.reduce(0) { $0 + $1.count }
            try await store.setMissingRowMACs(keys: keyMACs, versions: versionMACs, audit: [
                event(.integrityUpgrade, by: system, tenant: nil, details: ["rows": String(rows)]),
            ])
            logger.notice("key rows written before row MACs were MAC'd", metadata: ["rows": "\(rows)"])
        }
        try await store.setMetadata(Self.rowMACsMetadata, Array("v1".utf8))
    }
}
