import CustosCrypto
import CustosPKI
import CustosStore
import Foundation

/// Reading certificates: listings, the material a TLS server presents.
extension KeyService {
    /// A tenant's certificates, or those of the key `alias`, oldest first.
    public func certificates(tenant: TenantID, alias: KeyAlias?, by principal: Principal) async throws -> [CertificateInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            try await requireTenant(tenant)
            var keyID: String?
            if let alias { keyID = try await record(tenant: tenant, alias: alias).id }
            var infos: [CertificateInfo] = []
            for row in try await store.certificates(tenantID: tenant.rawValue, keyID: keyID) {
                infos.append(try await info(try await checked(row)))
            }
            return infos
        }
    }

    /// For the server's own use (no principal, no audit record per call): the newest
    /// enabled version of the TLS key whose certificate is valid now and not revoked,
    /// with a signer for it.
    public func tlsServerMaterial(tenant: TenantID, alias: KeyAlias) async throws -> TLSServerMaterial {
        try await mappingErrors {
            let record = try await tlsRecord(tenant: tenant, alias: alias, fresh: true)
            let now = clock()
            let rows = try await store.certificates(tenantID: tenant.rawValue, keyID: record.id)
            let usable = rows.filter { $0.revokedAt == nil && $0.notBefore <= now && now < $0.notAfter && $0.keyVersion != nil }
            guard let row = usable.max(by: { ($0.keyVersion!, $0.id) < ($1.keyVersion!, $1.id) }), let version = row.keyVersion else {
                throw KeystoreError.invalidArgument("key '\(alias)' of tenant '\(tenant)' has no certificate valid now")
            }
            _ = try await checked(row)
            guard let signer = try await unlocked(record, version: version).signer else {
                throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: record.algorithm.identifier, operation: "serve TLS")
            }
            var chain = [row.der] + row.chain
            if chain.count > 1, let top = try? CertificateSummary(derEncoded: chain[chain.count - 1]), top.subject == top.issuer {
                chain.removeLast()
            }
            return TLSServerMaterial(chainDER: chain, signer: ServingKeySigner(base: signer, keys: self, tenant: tenant, alias: alias),
                                     keyVersion: version, notAfter: row.notAfter,
                                     pin: try PublicKeyPin(parsing: row.pin))
        }
    }

    /// The keystore's view of a stored certificate row.
    func info(_ row: CertificateRecord) async throws -> CertificateInfo {
        let summary = try CertificateSummary(derEncoded: row.der)
        let tenant = try TenantID(validating: row.tenantID)
        func alias(of keyID: String?) async throws -> KeyAlias? {
            guard let keyID, let key = try await store.key(tenantID: row.tenantID, id: keyID) else { return nil }
            return try StoredKey(key).alias
        }
        return CertificateInfo(
            tenant: tenant, alias: try await alias(of: row.keyID), keyVersion: row.keyVersion, summary: summary, revokedAt: row.revokedAt,
            issuerAlias: try await alias(of: row.issuerKeyID), chainDER: [row.der] + row.chain)
    }
}
