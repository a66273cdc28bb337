import CustosCrypto
import CustosPKI
import CustosStore
import Foundation
import SwiftASN1
import X509

/// Issuing certificates for keystore keys: CAs, node certificates, certificates from
/// CSRs and the rotation of a TLS key with a new certificate. The private halves stay
/// in their protection (memory or HSM): swift-certificates signs through the
/// keystore's signer. Every operation is audited and stores its rows in one
/// transaction with its audit record and a bump of the TLS change counter.
extension KeyService {
    /// An issuer ready to sign: its enabled TLS record, its current CA certificate row
    /// and a signer on the version that certificate belongs to.
    struct Issuer {
        let record: StoredKey
        let row: CertificateRecord
        let certificate: Certificate
        let key: CertificateSigningKey
        var chain: [[UInt8]] { [row.der] + row.chain }
    }

    // MARK: Authorities

    public func createCertificateAuthority(_ spec: CertificateAuthoritySpec, by principal: Principal) async throws -> CertificateInfo {
        try await audited(.tlsCACreate, by: principal, tenant: spec.tenant, alias: spec.alias) {
            try principal.authorize(.manageKeys, tenant: spec.tenant)
            let subject = try SubjectName.parse(spec.subject)
            if let pathLength = spec.pathLength, !(0...8).contains(pathLength) {
                throw KeystoreError.invalidArgument("path length must be 0–8")
            }
            let issuer = try await optionalIssuer(tenant: spec.tenant, alias: spec.issuer)
            _ = try CertificateSigningKey.signatureAlgorithm(for: spec.scheme)
            let keySpec = KeySpec(tenant: spec.tenant, alias: spec.alias, algorithm: .signing(spec.scheme), category: .tls)
            let profile = CertificateProfile.authority(pathLength: spec.pathLength ?? (spec.issuer == nil ? 1 : 0))
            let days = spec.days ?? (spec.issuer == nil ? 3650 : 1825)
            return try await issueForNewKey(keySpec, subject: subject, profile: profile, days: days, dnsNames: [], ipAddresses: [],
                                            issuer: issuer, operation: .tlsCACreate, by: principal)
        }
    }

    // MARK: Node certificates

    public func issueCertificate(_ spec: CertificateSpec, by principal: Principal) async throws -> CertificateInfo {
        try await audited(.tlsIssue, by: principal, tenant: spec.tenant, alias: spec.alias) {
            try principal.authorize(.manageKeys, tenant: spec.tenant)
            let subject = try SubjectName.parse(spec.subject)
            // SANs are checked before anything is generated or signed.
            _ = try spec.dnsNames.map(AlternativeNames.dnsName)
            _ = try spec.ipAddresses.map(AlternativeNames.ipAddress)
            let issuer = try await optionalIssuer(tenant: spec.tenant, alias: spec.issuer)
            let days = spec.days ?? CertificateSpec.defaultDays
            let profile = CertificateProfile.leaf(spec.usage)
            guard try await store.key(tenantID: spec.tenant.rawValue, alias: spec.alias.rawValue) != nil else {
                let scheme = spec.scheme ?? .ecdsaP384SHA384
                try CertificateSigningKey.requireCertifiable(scheme)
                let keySpec = KeySpec(tenant: spec.tenant, alias: spec.alias, algorithm: .signing(scheme), category: .tls)
                return try await issueForNewKey(keySpec, subject: subject, profile: profile, days: days, dnsNames: spec.dnsNames,
                                                ipAddresses: spec.ipAddresses, issuer: issuer, operation: .tlsIssue, by: principal)
            }
            let record = try await tlsRecord(tenant: spec.tenant, alias: spec.alias)
            if let scheme = spec.scheme, record.algorithm != .signing(scheme) {
                throw KeystoreError.invalidArgument("key '\(spec.alias)' is \(record.algorithm.identifier), not \(scheme)")
            }
            let version = record.primaryVersion
            guard let signer = try await unlocked(record, version: version).signer else {
                throw KeystoreError.wrongKeyKind(alias: spec.alias.rawValue, algorithm: record.algorithm.identifier, operation: "hold a TLS certificate")
            }
            let template = CertificateTemplate(subject: subject, publicKey: try CertificateSigningKey.certificatePublicKey(signer.publicKey),
                                               dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, profile: profile, days: days)
            let certificate = try await sign(template, selfKey: signer, issuer: issuer)
            let row = try await certificateRow(certificate, tenant: spec.tenant, keyID: record.id, version: version, issuer: issuer)
            let stored = try await store.insertCertificate(row, with: .none, audit: [
                issueEvent(.tlsIssue, row: row, tenant: spec.tenant, alias: spec.alias, issuer: issuer, by: principal),
            ])
            return try await info(stored)
        }
    }

    /// Signs a PKCS#10 request made elsewhere with the CA key `issuer`. The request's
    /// signature, key type and SANs are checked; its subject and SANs are kept, the
    /// usages are the issuer's choice.
    public func signCertificateRequest(tenant: TenantID, issuer alias: KeyAlias, csr: [UInt8], days: Int?, usage: CertificateUsage,
                                       by principal: Principal) async throws -> CertificateInfo {
        try await audited(.tlsSignCSR, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let request = try CertificateRequest(parsing: csr)
            let issuer = try await issuer(tenant: tenant, alias: alias)
            let template = CertificateTemplate(subject: request.subject, publicKey: request.publicKey, dnsNames: request.dnsNames,
                                               ipAddresses: request.ipAddresses, profile: .leaf(usage), days: days ?? CertificateSpec.defaultDays)
            let certificate = try await CertificateFactory.issue(template, signedBy: issuer.key, issuer: issuer.certificate, now: clock())
            let row = try await certificateRow(certificate, tenant: tenant, keyID: nil, version: nil, issuer: issuer)
            var details = ["serial": row.serial, "pin": row.pin, "issuer": alias.rawValue]
            details["subject"] = row.subject
            let stored = try await store.insertCertificate(row, with: .none, audit: [
                event(.tlsSignCSR, by: principal, tenant: tenant, keyID: issuer.record.id, version: issuer.row.keyVersion, details: details),
            ])
            return try await info(stored)
        }
    }

    // MARK: Rotation

    /// A new key version with a certificate from the same issuer, with the same subject,
    /// SANs, usages and validity length, stored in one transaction with the version.
    public func rotateTLSKey(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> CertificateInfo {
        try await audited(.tlsRotate, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await tlsRecord(tenant: tenant, alias: alias, fresh: true)
            let rows = try await store.certificates(tenantID: tenant.rawValue, keyID: record.id)
            guard let current = rows.last(where: { $0.keyVersion == record.primaryVersion && $0.revokedAt == nil }) ?? rows.last else {
                throw KeystoreError.invalidArgument("key '\(alias)' has no certificate to rotate; issue one first")
            }
            let old = try Certificate(derEncoded: try await checked(current).der)
            let summary = try CertificateSummary(old)
            var issuer: Issuer?
            if current.issuerKeyID == nil, old.issuer != old.subject {
                throw KeystoreError.invalidArgument("the certificate of key '\(alias)' was issued outside Custos; rotate the key with 'key rotate' and import the new version's certificate")
            }
            if let issuerKeyID = current.issuerKeyID {
                guard let issuerRow = try await store.key(tenantID: tenant.rawValue, id: issuerKeyID) else {
                    throw KeystoreError.invalidArgument("the issuer of key '\(alias)''s certificate no longer exists")
                }
                issuer = try await self.issuer(tenant: tenant, alias: try StoredKey(issuerRow).alias)
            }
            let profile: CertificateProfile
            if summary.isCA {
                guard case .isCertificateAuthority(let pathLength) = try old.extensions.basicConstraints else { throw PKIError.malformedCertificate("CA without basic constraints") }
                profile = .authority(pathLength: pathLength)
            } else {
                let usage: CertificateUsage = summary.usages.contains("server") ? (summary.usages.contains("client") ? .both : .server) : .client
                profile = .leaf(usage)
            }
            let days = max(1, Int(((old.notValidAfter.timeIntervalSince(old.notValidBefore) - CertificateFactory.backdating) / 86_400).rounded()))
            // The new version's material, made with the key's protection but not stored yet.
            let versions = try await store.versions(keyID: record.id)
            let next = (versions.map(\.version).max() ?? 0) + 1
            var options = GenerationOptions()
            if case .signing(let scheme) = record.algorithm, scheme.isRSA,
               case .signing(let signer) = try await unlocked(record, version: record.primaryVersion),
               let size = (signer as? SigningPrivateKey)?.rsaKeySize ?? (signer as? HSMSigner)?.rsaKeySize {
                options.rsaKeySize = size
            }
            let context = MaterialContext(tenant: tenant.rawValue, keyID: record.id, alias: alias.rawValue, version: next, algorithm: record.algorithm)
            let protection = try await protection(for: record.protection)
            let material = try await protection.create(record.algorithm, options: options, context: context)
            guard let signer = try await protection.unlock(material.stored, wrappingGeneration: material.wrappingGeneration, context: context).signer else {
                throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: record.algorithm.identifier, operation: "hold a TLS certificate")
            }
            let template = CertificateTemplate(subject: old.subject, publicKey: try CertificateSigningKey.certificatePublicKey(signer.publicKey),
                                               dnsNames: summary.dnsNames, ipAddresses: summary.ipAddresses, profile: profile, days: days)
            let certificate = try await sign(template, selfKey: signer, issuer: issuer)
            let now = clock()
            let version = try await withMAC(KeyVersionRecord(keyID: record.id, version: next, material: material, createdAt: now),
                                            tenant: tenant.rawValue)
            var updated = record.row
            updated.primaryVersion = next
            let row = try await certificateRow(certificate, tenant: tenant, keyID: record.id, version: next, issuer: issuer)
            let stored = try await store.insertCertificate(row, with: .newVersion(version, updatedAt: now, keyMAC: try await rowMAC(updated)), audit: [
                issueEvent(.tlsRotate, row: row, tenant: tenant, alias: alias, issuer: issuer, by: principal),
            ])
            records.evict(tenant: tenant, alias: alias)
            logger.info("TLS key rotated", metadata: ["tenant": "\(tenant)", "alias": "\(alias)", "version": "\(next)"])
            return try await info(stored)
        }
    }

    // MARK: Shared steps

    /// Generates the key of `spec` (not stored yet), certifies it and stores key,
    /// version, certificate and audit record in one transaction.
    private func issueForNewKey(_ spec: KeySpec, subject: DistinguishedName, profile: CertificateProfile, days: Int, dnsNames: [String],
                                ipAddresses: [String], issuer: Issuer?, operation: AuditOperation, by principal: Principal) async throws -> CertificateInfo {
        let (keyID, context, protection) = try await prepareNewKey(spec)
        let material = try await protection.create(spec.algorithm, options: spec.options, context: context)
        guard let signer = try await protection.unlock(material.stored, wrappingGeneration: material.wrappingGeneration, context: context).signer else {
            throw KeystoreError.wrongKeyKind(alias: spec.alias.rawValue, algorithm: spec.algorithm.identifier, operation: "hold a TLS certificate")
        }
        let template = CertificateTemplate(subject: subject, publicKey: try CertificateSigningKey.certificatePublicKey(signer.publicKey),
                                           dnsNames: dnsNames, ipAddresses: ipAddresses, profile: profile, days: days)
        let certificate = try await sign(template, selfKey: signer, issuer: issuer)
        let (record, version) = try await macRows(makeRows(spec: spec, keyID: keyID, material: material, protection: protection.reference))
        let row = try await certificateRow(certificate, tenant: spec.tenant, keyID: keyID, version: 1, issuer: issuer)
        let stored = try await store.insertCertificate(row, with: .newKey(record, version), audit: [
            issueEvent(operation, row: row, tenant: spec.tenant, alias: spec.alias, issuer: issuer, by: principal, scheme: record.scheme),
        ])
        logger.info("certificate issued", metadata: ["tenant": "\(spec.tenant)", "alias": "\(spec.alias)", "serial": "\(row.serial)"])
        return try await info(stored)
    }

    private func sign(_ template: CertificateTemplate, selfKey: any KeySigner, issuer: Issuer?) async throws -> Certificate {
        if let issuer {
            return try await CertificateFactory.issue(template, signedBy: issuer.key, issuer: issuer.certificate, now: clock())
        }
        return try await CertificateFactory.issue(template, signedBy: try Self.certificateKey(selfKey), issuer: nil, now: clock())
    }

    static func certificateKey(_ signer: any KeySigner) throws -> CertificateSigningKey {
        let format: SignatureFormat? = signer.scheme.isECDSA ? .der : nil
        return try CertificateSigningKey(scheme: signer.scheme, publicKey: signer.publicKey) { try await signer.sign($0, format: format).bytes }
    }

    private func optionalIssuer(tenant: TenantID, alias: KeyAlias?) async throws -> Issuer? {
        guard let alias else { return nil }
        return try await issuer(tenant: tenant, alias: alias)
    }

    /// The enabled TLS key `alias` with a CA certificate for its primary version.
    func issuer(tenant: TenantID, alias: KeyAlias) async throws -> Issuer {
        let record = try await tlsRecord(tenant: tenant, alias: alias, role: "issue certificates")
        let rows = try await store.certificates(tenantID: tenant.rawValue, keyID: record.id)
        guard let row = rows.last(where: { $0.keyVersion == record.primaryVersion && $0.revokedAt == nil }) else {
            throw PKIError.issuerRefused("key '\(alias)' has no valid certificate to issue under")
        }
        guard row.isCA else { throw PKIError.issuerRefused("key '\(alias)' holds a certificate that is not a CA certificate") }
        let certificate = try Certificate(derEncoded: try await checked(row).der)
        guard let signer = try await unlocked(record, version: record.primaryVersion).signer else {
            throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: record.algorithm.identifier, operation: "issue certificates")
        }
        return Issuer(record: record, row: row, certificate: certificate, key: try Self.certificateKey(signer))
    }

    /// An enabled key of category TLS (checked against its MAC).
    func tlsRecord(tenant: TenantID, alias: KeyAlias, fresh: Bool = false, role: String = "hold a TLS certificate") async throws -> StoredKey {
        let record = try await usableRecord(tenant: tenant, alias: alias, fresh: fresh)
        guard record.category == .tls else {
            throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: "a \(record.category.rawValue) key (not TLS)", operation: role)
        }
        return record
    }

    private func certificateRow(_ certificate: Certificate, tenant: TenantID, keyID: String?, version: Int?, issuer: Issuer?) async throws -> CertificateRecord {
        let summary = try CertificateSummary(certificate)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let der = serializer.serializedBytes
        return try await withMAC(CertificateRecord(
            tenantID: tenant.rawValue, keyID: keyID, keyVersion: version, issuerKeyID: issuer?.record.id,
            issuerPin: issuer?.row.pin ?? summary.pin.hex, serial: summary.serialHex, subject: summary.subject,
            notBefore: summary.notBefore, notAfter: summary.notAfter, pin: summary.pin.hex, isCA: summary.isCA, der: der,
            chain: issuer?.chain ?? [], createdAt: clock()))
    }

    private func issueEvent(_ operation: AuditOperation, row: CertificateRecord, tenant: TenantID, alias: KeyAlias, issuer: Issuer?, by principal: Principal,
                            scheme: String? = nil) -> AuditEvent {
        var details = ["alias": alias.rawValue, "serial": row.serial, "pin": row.pin, "subject": row.subject]
        if let issuer { details["issuer"] = issuer.record.alias.rawValue } else { details["issuer"] = "self-signed" }
        if let scheme { details["scheme"] = scheme }
        return event(operation, by: principal, tenant: tenant, keyID: row.keyID, version: row.keyVersion, details: details)
    }
}
