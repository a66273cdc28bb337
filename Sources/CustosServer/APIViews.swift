import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosPKI
import CustosStore
import Foundation

// The one place where keystore values become API bodies: the routes answer with
// these, and the command line's local mode prints the same bodies the server sends.

extension TenantResponse {
    public init(_ tenant: TenantInfo) {
        self.init(id: tenant.id.rawValue, createdAt: tenant.createdAt, wrappingGeneration: tenant.wrappingGeneration)
    }
}

extension TokenResponse {
    public init(_ token: TokenInfo) {
        self.init(id: token.id, tenant: token.tenant?.rawValue, role: token.role.rawValue, description: token.description,
                  createdAt: token.createdAt, expiresAt: token.expiresAt, revokedAt: token.revokedAt)
    }
}

extension KeyResponse {
    public init(_ key: KeyInfo) {
        self.init(id: key.id, tenant: key.tenant.rawValue, alias: key.alias.rawValue, category: key.category.rawValue,
                  scheme: key.algorithm.identifier, status: key.status.rawValue, primaryVersion: key.primaryVersion,
                  fingerprint: key.fingerprint, shortID: key.shortID, address: key.ethereumAddress, externalID: key.externalID,
                  labels: key.labels, protection: key.protection.description, createdAt: key.createdAt, updatedAt: key.updatedAt,
                  versions: key.versions?.map { Version(version: $0.version, fingerprint: $0.fingerprint, createdAt: $0.createdAt, destroyed: $0.destroyed) })
    }
}

extension SignResponse {
    public init(_ result: SignResult) {
        self.init(signature: Data(result.signature).base64EncodedString(), keyID: result.keyID, alias: result.alias.rawValue,
                  version: result.version, scheme: result.scheme.rawValue, format: result.format?.rawValue)
    }
}

extension VerifyResponse {
    public init(_ result: VerifyResult) {
        self.init(valid: result.valid, version: result.version)
    }
}

extension AuditRecordResponse {
    public init(record: AuditRecord) {
        self.init(sequence: record.sequence, time: record.time, actor: record.actor, tenant: record.tenantID,
                  operation: record.operation, keyID: record.keyID, keyVersion: record.keyVersion, outcome: record.outcome,
                  details: record.detailValues, previousHash: Hex.encode(record.previousHash), hash: Hex.encode(record.hash))
    }
}

extension AuditVerifyResponse {
    public init(result: AuditVerification) {
        self.init(intact: result.intact, recordsChecked: result.recordsChecked, headSequence: result.headSequence,
                  checkpointsChecked: result.checkpointsChecked,
                  findings: result.findings.map { .init(sequence: $0.sequence, kind: $0.kind.rawValue, detail: $0.detail) },
                  restoredForks: result.restoredForks.isEmpty ? nil : result.restoredForks)
    }
}

extension PublicKeyResponse {
    /// The public key of `key` in `format` (pem, der, jwk or raw); refuses a format the
    /// scheme has no encoding for.
    public init(_ export: PublicKeyExport, of key: KeyInfo, version: Int, format: String) throws {
        let fingerprint = Fingerprint(subjectPublicKeyInfo: export.encodedRepresentation).description
        let scheme = key.algorithm.identifier
        self.init(alias: key.alias.rawValue, version: version, scheme: scheme, fingerprint: fingerprint, format: format, publicKey: nil, jwk: nil)
        switch format {
        case "pem":
            guard let pem = export.pemRepresentation else { throw Problem.invalid("\(scheme) keys have no PEM/SPKI form; use raw or jwk") }
            publicKey = pem
        case "der":
            guard let der = export.derRepresentation else { throw Problem.invalid("\(scheme) keys have no PEM/SPKI form; use raw or jwk") }
            publicKey = Data(der).base64EncodedString()
        case "raw":
            guard let raw = export.rawRepresentation else { throw Problem.invalid("\(scheme) keys have no raw form; use pem or der") }
            publicKey = Data(raw).base64EncodedString()
        case "jwk":
            jwk = export.jwk
        default:
            throw Problem.invalid("format must be pem, der, jwk or raw")
        }
    }
}

// MARK: Requests into keystore values

extension KeySpec {
    /// The key a generation (or import) request asks for in `tenant`.
    public init(tenant: TenantID, _ request: GenerateKeyRequest) throws {
        do {
            self.init(tenant: tenant, alias: try KeyAlias(validating: request.alias), algorithm: try KeyAlgorithm(identifier: request.scheme),
                      category: try request.category.map(KeyCategory.init(identifier:)),
                      options: GenerationOptions(rsaKeySize: try request.rsaBits.map(RSAKeySize.init(bits:)) ?? .bits3072),
                      labels: request.labels ?? [:], externalID: request.externalID)
        } catch let error as CustosCryptoError {
            throw KeystoreError.crypto(error)
        }
    }
}

extension KeyFilter {
    /// The filters of a key listing; an unknown category or status is refused.
    public init(_ query: KeyListQuery) throws {
        // A prefix is the start of an alias, so it follows the alias rule (and its limit).
        if let prefix = query.aliasPrefix, !prefix.isEmpty { _ = try KeyAlias(validating: prefix) }
        self.init(aliasPrefix: query.aliasPrefix)
        category = try query.category.map { try KeyCategory(identifier: $0).rawValue }
        scheme = query.scheme
        if let status = query.status {
            guard let parsed = KeyStatus(rawValue: status) else { throw Problem.invalid("status must be enabled, disabled or destroyed") }
            self.status = parsed
        }
    }
}

extension SignatureFormat {
    /// The `format` field of a signing or verification request (absent: the scheme's default).
    public static func parse(_ text: String?) throws -> SignatureFormat? {
        guard let text else { return nil }
        guard let format = SignatureFormat(rawValue: text) else { throw Problem.invalid("format must be der or raw") }
        return format
    }
}

extension KeyService {
    /// Rotate, disable, enable or destroy, as the API names them.
    public func changeState(_ change: KeyStateChange, tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> KeyInfo {
        switch change {
        case .rotate: try await rotate(tenant: tenant, alias: alias, by: principal)
        case .disable: try await disable(tenant: tenant, alias: alias, by: principal)
        case .enable: try await enable(tenant: tenant, alias: alias, by: principal)
        case .destroy: try await destroy(tenant: tenant, alias: alias, by: principal)
        }
    }
}

// MARK: TLS certificates and the trust set

extension CertificateResponse {
    /// `now` fixes `days_left` (whole days until notAfter, negative once expired).
    public init(_ certificate: CertificateInfo, now: Date = Date()) {
        self.init(tenant: certificate.tenant.rawValue, alias: certificate.alias?.rawValue, keyVersion: certificate.keyVersion,
                  serial: certificate.serialHex, subject: certificate.subject, issuer: certificate.issuer,
                  issuerAlias: certificate.issuerAlias?.rawValue, notBefore: certificate.notBefore, notAfter: certificate.notAfter,
                  daysLeft: Int((certificate.notAfter.timeIntervalSince(now) / 86_400).rounded(.down)),
                  pin: certificate.pin.hex, pinSHA256: certificate.pin.base64, isCA: certificate.isCA, dnsNames: certificate.dnsNames,
                  ipAddresses: certificate.ipAddresses, usages: certificate.usages, revokedAt: certificate.revokedAt,
                  chainPEM: certificate.chainDER.map(CertificatePEM.encode).joined())
    }
}

extension CertificateListResponse {
    public init(_ certificates: [CertificateInfo], now: Date = Date()) {
        self.init(certificates: certificates.map { CertificateResponse($0, now: now) })
    }
}

extension TLSTrustResponse {
    public init(_ listing: TLSTrustListing) {
        self.init(pins: listing.pins.map { Pin(pin: $0.pin.hex, label: $0.label, addedAt: $0.addedAt) },
                  authorities: listing.authorities.map { Authority(tenant: $0.tenant.rawValue, alias: $0.alias.rawValue, addedAt: $0.addedAt) })
    }
}

extension CertificateUsage {
    /// The usage of a request body or option (`both` when absent).
    public init(option: String?) throws {
        do {
            self = try option.map(CertificateUsage.init(parsing:)) ?? .both
        } catch let error as PKIError {
            throw KeystoreError.certificate(error)
        }
    }
}

extension CertificateAuthoritySpec {
    /// The spec of a `CreateCertificateAuthorityRequest` (the API's body and the command line's).
    public init(tenant: TenantID, _ request: CreateCertificateAuthorityRequest) throws {
        self.init(tenant: tenant, alias: try KeyAlias(validating: request.alias), subject: request.subject,
                  scheme: try request.scheme.map(SignatureScheme.init(identifier:)) ?? .ecdsaP384SHA384, days: request.days,
                  issuer: try request.issuer.map(KeyAlias.init(validating:)), pathLength: request.pathLength)
    }
}

extension CertificateSpec {
    /// The spec of an `IssueCertificateRequest`: exactly one of an issuer and self-signed.
    public init(tenant: TenantID, _ request: IssueCertificateRequest) throws {
        let issuer = try request.issuer.map(KeyAlias.init(validating:))
        guard (issuer == nil) == (request.selfSigned == true) else {
            throw KeystoreError.invalidArgument("give an issuer or self-signed, not both and not neither")
        }
        self.init(tenant: tenant, alias: try KeyAlias(validating: request.alias), subject: request.subject, issuer: issuer,
                  dnsNames: request.dnsNames ?? [], ipAddresses: request.ipAddresses ?? [], usage: try CertificateUsage(option: request.usage),
                  days: request.days, scheme: try request.scheme.map(SignatureScheme.init(identifier:)))
    }
}

/// A certificate or CSR in a request body: PEM text, or base64 DER.
public enum EncodedObject {
    public static let maximumBytes = 64 * 1024

    public static func bytes(_ text: String, field: String) throws -> [UInt8] {
        guard text.utf8.count <= maximumBytes else { throw KeystoreError.invalidArgument("\(field) is longer than \(maximumBytes) bytes") }
        if text.hasPrefix("-----BEGIN") { return Array(text.utf8) }
        guard let der = Base64Text.decode(text) else { throw KeystoreError.invalidArgument("\(field) must be PEM text or base64 DER") }
        return der
    }
}

extension KeyService {
    /// Revocation by the body's serial or certificate (exactly one).
    public func revokeCertificate(tenant: TenantID, _ request: RevokeCertificateRequest, by principal: Principal) async throws -> CertificateInfo {
        switch (request.serial, request.certificate) {
        case (let serial?, nil):
            return try await revokeCertificate(tenant: tenant, serialHex: serial, by: principal)
        case (nil, let certificate?):
            let der = try await auditedArguments(.tlsRevoke, tenant: tenant, by: principal) { try EncodedObject.bytes(certificate, field: "certificate") }
            return try await revokeCertificate(tenant: tenant, certificate: der, by: principal)
        default:
            throw KeystoreError.invalidArgument("give serial or certificate, not both and not neither")
        }
    }
}
