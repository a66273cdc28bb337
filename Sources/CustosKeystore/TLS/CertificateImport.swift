import CustosCrypto
import CustosPKI
import CustosStore
import Foundation
import X509

extension KeyService {
    /// Stores a certificate issued outside Custos for the primary version of the TLS
    /// key `alias`: PEM (the certificate first, then its chain) or one DER certificate.
    /// Refused unless the certificate's public key is that version's, each certificate
    /// of the chain is signed by the next, and the certificate is valid now. Without a
    /// chain the certificate must be self-issued (the issuer's pin names revocations).
    public func importCertificate(tenant: TenantID, alias: KeyAlias, certificate encoded: [UInt8], by principal: Principal) async throws -> CertificateInfo {
        try await audited(.tlsImport, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let ders = try CertificatePEM.decodeAll(encoded)
            guard ders.count <= 8 else { throw KeystoreError.invalidArgument("at most 8 certificates (the certificate and its chain)") }
            let certificates = try ders.map { der -> Certificate in
                do { return try Certificate(derEncoded: der) } catch { throw PKIError.malformedCertificate("not a DER X.509 certificate") }
            }
            let record = try await tlsRecord(tenant: tenant, alias: alias)
            let version = record.primaryVersion
            guard let row = try await checkedVersions(of: record).first(where: { $0.version == version }), let publicKey = row.publicKey else {
                throw KeystoreError.versionUnavailable(alias: alias.rawValue, version: version)
            }
            let leaf = try CertificateSummary(certificates[0])
            guard leaf.pin == PublicKeyPin(subjectPublicKeyInfo: publicKey) else {
                throw KeystoreError.invalidArgument("the certificate's public key is not the public key of version \(version) of key '\(alias)'")
            }
            for (child, parent) in zip(certificates, certificates.dropFirst()) where !parent.publicKey.isValidSignature(child.signature, for: child) {
                throw KeystoreError.invalidArgument("the chain is broken: '\(child.subject)' is not signed by the certificate after it")
            }
            let now = clock()
            guard leaf.notBefore <= now, now < leaf.notAfter else { throw KeystoreError.invalidArgument("the certificate is not valid now") }
            let issuerPin: PublicKeyPin
            if certificates.count > 1 {
                issuerPin = try PublicKeyPin(certificates[1])
            } else {
                guard certificates[0].issuer == certificates[0].subject, certificates[0].publicKey.isValidSignature(certificates[0].signature, for: certificates[0]) else {
                    throw KeystoreError.invalidArgument("give the certificate with its chain (at least its issuer's certificate), or a self-signed certificate")
                }
                issuerPin = leaf.pin
            }
            let stored = try await store.insertCertificate(try await withMAC(CertificateRecord(
                tenantID: tenant.rawValue, keyID: record.id, keyVersion: version, issuerKeyID: nil, issuerPin: issuerPin.hex,
                serial: leaf.serialHex, subject: leaf.subject, notBefore: leaf.notBefore, notAfter: leaf.notAfter, pin: leaf.pin.hex,
                isCA: leaf.isCA, der: ders[0], chain: Array(ders.dropFirst()), createdAt: now)), with: .none, audit: [
                    event(.tlsImport, by: principal, tenant: tenant, keyID: record.id, version: version,
                          details: ["alias": alias.rawValue, "serial": leaf.serialHex, "pin": leaf.pin.hex, "subject": leaf.subject]),
                ])
            return try await info(stored)
        }
    }
}
