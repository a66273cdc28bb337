import CustosCrypto
import CustosStore
import Foundation

extension KeyService {
    // MARK: Reading

    public func key(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> KeyInfo {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            return info(record, versions: try await store.versions(keyID: record.id))
        }
    }

    public func keys(tenant: TenantID, ids: [String], by principal: Principal) async throws -> [KeyInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            return try await withAddresses(try await store.keys(tenantID: tenant.rawValue, ids: ids).map { try StoredKey($0) })
        }
    }

    /// Keys of `tenant` any of whose versions has this public key (its encoded form:
    /// SPKI DER, or the compressed point for BLS12-381).
    public func keys(tenant: TenantID, encodedPublicKey: [UInt8], by principal: Principal) async throws -> [KeyInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let fingerprint = Fingerprint(subjectPublicKeyInfo: encodedPublicKey).description
            return try await withAddresses(try await store.keys(tenantID: tenant.rawValue, fingerprint: fingerprint).map { try StoredKey($0) })
        }
    }

    public func listKeys(tenant: TenantID, filter: KeyFilter = KeyFilter(), page: PageRequest = PageRequest(),
                         by principal: Principal) async throws -> (keys: [KeyInfo], nextCursor: String?) {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            try await requireTenant(tenant)
            let result = try await store.listKeys(tenantID: tenant.rawValue, filter: filter, page: page)
            return (try await withAddresses(try result.keys.map { try StoredKey($0) }), result.nextCursor)
        }
    }

    /// The public key of a version (the primary one by default).
    public func publicKey(tenant: TenantID, alias: KeyAlias, version: Int? = nil, by principal: Principal) async throws -> PublicKeyExport {
        try await audited(.export, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            let algorithm = record.algorithm
            let number = version ?? record.primaryVersion
            guard let row = try await store.version(keyID: record.id, version: number), let der = row.publicKey else {
                if algorithm.isAsymmetric { throw KeystoreError.versionUnavailable(alias: alias.rawValue, version: number) }
                throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: record.algorithm.identifier, operation: "export a public key (it is symmetric)")
            }
            let export = try Self.publicKey(der: der, algorithm: algorithm)
            try await recordSuccess(event(.export, by: principal, tenant: tenant, keyID: record.id, version: number,
                                          details: ["alias": alias.rawValue, "fingerprint": row.fingerprint ?? ""]))
            return export
        }
    }

    public static func publicKey(der: [UInt8], algorithm: KeyAlgorithm) throws -> PublicKeyExport {
        switch algorithm {
        case .signing(let scheme): .signing(try SigningPublicKey(encodedRepresentation: der, scheme: scheme))
        case .keyAgreement(let agreement): .keyAgreement(try KeyAgreementPublicKey(derRepresentation: der, algorithm: agreement))
        case .symmetric: throw KeystoreError.invalidArgument("symmetric keys have no public key")
        }
    }

    /// The record of `alias`, decoded; names the tenant when it is the tenant that is missing.
    func record(tenant: TenantID, alias: KeyAlias) async throws -> StoredKey {
        guard let row = try await store.key(tenantID: tenant.rawValue, alias: alias.rawValue) else {
            try await requireTenant(tenant)
            throw KeystoreError.keyNotFound(tenant: tenant.rawValue, alias: alias.rawValue)
        }
        return try StoredKey(row)
    }

    /// Listings: an account's address needs its primary version's public key, read for accounts only.
    func withAddresses(_ records: [StoredKey]) async throws -> [KeyInfo] {
        var infos: [KeyInfo] = []
        for record in records {
            let isAccount = record.category == .accounts && record.algorithm == .signing(Self.accountScheme)
            let primary = isAccount ? try await store.version(keyID: record.id, version: record.primaryVersion) : nil
            infos.append(info(record, versions: nil, primary: primary))
        }
        return infos
    }

    /// The EIP-55 address of an account's primary version, given that version's row.
    static func ethereumAddress(_ key: StoredKey, _ primary: KeyVersionRecord?) -> String? {
        guard key.category == .accounts, key.algorithm == .signing(accountScheme), let der = primary?.publicKey,
              let publicKey = try? SigningPublicKey(encodedRepresentation: der, scheme: accountScheme),
              let bytes = publicKey.ethereumAddress else { return nil }
        return Secp256k1.checksumAddress(bytes)
    }

    func info(_ key: StoredKey, versions: [KeyVersionRecord]?, primary: KeyVersionRecord? = nil) -> KeyInfo {
        let record = key.row
        let fingerprint = versions?.first { $0.version == record.primaryVersion }?.fingerprint ?? record.primaryFingerprint
        return KeyInfo(
            id: record.id, tenant: key.tenant, alias: key.alias, category: key.category, algorithm: key.algorithm,
            status: record.status, primaryVersion: record.primaryVersion, fingerprint: fingerprint,
            shortID: fingerprint.flatMap { Fingerprint(string: $0)?.shortID },
            ethereumAddress: Self.ethereumAddress(key, primary ?? versions?.first { $0.version == record.primaryVersion }), externalID: record.externalID,
            labels: record.labels, protection: key.protection, createdAt: record.createdAt, updatedAt: record.updatedAt,
            versions: versions?.map { VersionInfo(version: $0.version, fingerprint: $0.fingerprint, createdAt: $0.createdAt, destroyed: $0.wrappedMaterial == nil) })
    }
}
