import CustosCrypto
import CustosStore
import Foundation

extension KeyService {
    // MARK: Reading

    public func key(tenant: String, alias: String, by principal: Principal) async throws -> KeyInfo {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            return info(record: record, versions: try await store.versions(keyID: record.id))
        }
    }

    public func keys(tenant: String, ids: [String], by principal: Principal) async throws -> [KeyInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            return try await store.keys(tenantID: tenant, ids: ids).map { info(record: $0, versions: nil) }
        }
    }

    /// Keys of `tenant` any of whose versions has this public key (its encoded form:
    /// SPKI DER, or the compressed point for BLS12-381).
    public func keys(tenant: String, encodedPublicKey: [UInt8], by principal: Principal) async throws -> [KeyInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let fingerprint = Fingerprint(subjectPublicKeyInfo: encodedPublicKey).description
            return try await store.keys(tenantID: tenant, fingerprint: fingerprint).map { info(record: $0, versions: nil) }
        }
    }

    public func listKeys(tenant: String, filter: KeyFilter = KeyFilter(), page: PageRequest = PageRequest(),
                         by principal: Principal) async throws -> (keys: [KeyInfo], nextCursor: String?) {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            try await requireTenant(tenant)
            let result = try await store.listKeys(tenantID: tenant, filter: filter, page: page)
            return (result.keys.map { info(record: $0, versions: nil) }, result.nextCursor)
        }
    }

    /// The public key of a version (the primary one by default).
    public func publicKey(tenant: String, alias: String, version: Int? = nil, by principal: Principal) async throws -> PublicKeyExport {
        try await audited(.export, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await record(tenant: tenant, alias: alias)
            let algorithm = try KeyAlgorithm(identifier: record.scheme)
            let number = version ?? record.primaryVersion
            guard let row = try await store.version(keyID: record.id, version: number), let der = row.publicKey else {
                if algorithm.isAsymmetric { throw KeystoreError.versionUnavailable(alias: alias, version: number) }
                throw KeystoreError.wrongKeyKind(alias: alias, algorithm: record.scheme, operation: "export a public key (it is symmetric)")
            }
            let export = try Self.publicKey(der: der, algorithm: algorithm)
            try await recordSuccess(event(.export, by: principal, tenant: tenant, keyID: record.id, version: number,
                                          details: ["alias": alias, "fingerprint": row.fingerprint ?? ""]))
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

    func record(tenant: String, alias: String) async throws -> KeyRecord {
        try Names.validateTenant(tenant)
        guard let record = try await store.key(tenantID: tenant, alias: alias) else {
            try await requireTenant(tenant)
            throw KeystoreError.keyNotFound(tenant: tenant, alias: alias)
        }
        return record
    }

    func info(record: KeyRecord, versions: [KeyVersionRecord]?) -> KeyInfo {
        let fingerprint = versions?.first { $0.version == record.primaryVersion }?.fingerprint ?? record.primaryFingerprint
        return KeyInfo(
            id: record.id, tenant: record.tenantID, alias: record.alias, category: record.category, scheme: record.scheme,
            status: record.status.rawValue, primaryVersion: record.primaryVersion, fingerprint: fingerprint,
            shortID: fingerprint.flatMap { Fingerprint(string: $0)?.shortID }, externalID: record.externalID,
            labels: record.labels, protection: record.protection, createdAt: record.createdAt, updatedAt: record.updatedAt,
            versions: versions?.map { VersionInfo(version: $0.version, fingerprint: $0.fingerprint, createdAt: $0.createdAt, destroyed: $0.wrappedMaterial == nil) })
    }
}
