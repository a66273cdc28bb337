import CustosCrypto
import CustosPKI
import CustosStore
import Foundation

/// The server-wide TLS client trust set (pinned keys, trusted keystore CAs) and the
/// revocation of certificates. Trust changes need the admin role and a node-wide
/// caller; every change is audited and bumps the TLS change counter in its transaction,
/// so a server polling `tlsChangeMarker()` reloads its trust without a restart.
extension KeyService {
    /// The value a server polls: it changes with every certificate or trust change.
    public func tlsChangeMarker() async throws -> Int64 {
        try await mappingErrors { try await store.tlsChangeCounter() }
    }

    /// The trust set as a handshake checks it. Rows whose MAC fails are left out of
    /// the trusted sets and their certificates count as revoked (fail closed).
    public func tlsClientTrust() async throws -> TLSClientTrust {
        try await mappingErrors {
            var trust = TLSClientTrust(pins: [], caCertificatesDER: [], revokedPins: [], revokedSerials: [])
            let certificates = try await store.allCertificates()
            var intact: [CertificateRecord] = []
            for row in certificates {
                let isIntact = try await isIntact(row)
                if isIntact, row.revokedAt == nil {
                    intact.append(row)
                } else {
                    if !isIntact {
                        logger.error("a certificate row does not match its MAC; treated as revoked", metadata: ["serial": "\(row.serial)"])
                    }
                    trust.revokedSerials.insert("\(row.issuerPin):\(row.serial)")
                    if let pin = try? PublicKeyPin(parsing: row.pin) { trust.revokedPins.insert(pin) }
                }
            }
            let now = clock()
            for entry in try await store.trustEntries() {
                guard isIntact(entry) else {
                    logger.error("a TLS trust row does not match its MAC; ignored", metadata: ["id": "\(entry.id)"])
                    continue
                }
                switch entry.kind {
                case .pin:
                    if let text = entry.pin, let pin = try? PublicKeyPin(parsing: text) { trust.pins.insert(pin) }
                case .authority:
                    guard let tenant = entry.tenantID, let keyID = entry.keyID,
                          let key = try await store.key(tenantID: tenant, id: keyID), key.status == .enabled else { continue }
                    for row in intact where row.keyID == keyID && row.isCA && row.notBefore <= now && now < row.notAfter {
                        trust.caCertificatesDER.append(row.der)
                    }
                }
            }
            return trust
        }
    }

    /// The trust set as listed (pins with labels, trusted CA keys).
    public func tlsTrust(by principal: Principal) async throws -> TLSTrustListing {
        try await mappingErrors {
            try principal.authorize(.manageTLSTrust, tenant: nil)
            var listing = TLSTrustListing(pins: [], authorities: [])
            for entry in try await store.trustEntries() where isIntact(entry) {
                switch entry.kind {
                case .pin:
                    if let text = entry.pin, let pin = try? PublicKeyPin(parsing: text) {
                        listing.pins.append(.init(pin: pin, label: entry.label, addedAt: entry.createdAt))
                    }
                case .authority:
                    if let tenant = entry.tenantID, let keyID = entry.keyID, let key = try await store.key(tenantID: tenant, id: keyID) {
                        let stored = try StoredKey(key)
                        listing.authorities.append(.init(tenant: stored.tenant, alias: stored.alias, addedAt: entry.createdAt))
                    }
                }
            }
            return listing
        }
    }

    public func trustClientPin(_ pin: PublicKeyPin, label: String?, by principal: Principal) async throws {
        try await audited(.tlsTrust, by: principal, tenant: nil) {
            try principal.authorize(.manageTLSTrust, tenant: nil)
            if let label { try Names.validateText(label, field: "pin label", maxBytes: 128) }
            let entry = withMAC(TLSTrustRecord(kind: .pin, pin: pin.hex, label: label, createdAt: clock()))
            var details = ["action": "add-pin", "pin": pin.hex]
            if let label { details["label"] = label }
            _ = try await store.insertTrust(entry, audit: [event(.tlsTrust, by: principal, tenant: nil, details: details)])
        }
    }

    public func untrustClientPin(_ pin: PublicKeyPin, by principal: Principal) async throws {
        try await audited(.tlsTrust, by: principal, tenant: nil) {
            try principal.authorize(.manageTLSTrust, tenant: nil)
            guard let entry = try await store.trustEntries().first(where: { $0.kind == .pin && $0.pin == pin.hex }) else {
                throw KeystoreError.invalidArgument("pin \(pin.hex) is not in the trust set")
            }
            try await store.deleteTrust(id: entry.id, audit: [event(.tlsTrust, by: principal, tenant: nil, details: ["action": "remove-pin", "pin": pin.hex])])
        }
    }

    /// Trusts the client certificates the CA key `alias` issues. The key must be an
    /// enabled TLS key with a CA certificate.
    public func trustCertificateAuthority(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws {
        try await audited(.tlsTrust, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageTLSTrust, tenant: nil)
            let issuer = try await issuer(tenant: tenant, alias: alias)
            let entry = withMAC(TLSTrustRecord(kind: .authority, tenantID: tenant.rawValue, keyID: issuer.record.id, createdAt: clock()))
            _ = try await store.insertTrust(entry, audit: [
                event(.tlsTrust, by: principal, tenant: tenant, keyID: issuer.record.id, details: ["action": "add-ca", "alias": alias.rawValue]),
            ])
        }
    }

    public func untrustCertificateAuthority(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws {
        try await audited(.tlsTrust, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageTLSTrust, tenant: nil)
            let record = try await record(tenant: tenant, alias: alias)
            guard let entry = try await store.trustEntries().first(where: { $0.kind == .authority && $0.keyID == record.id }) else {
                throw KeystoreError.invalidArgument("key '\(alias)' of tenant '\(tenant)' is not a trusted CA")
            }
            try await store.deleteTrust(id: entry.id, audit: [
                event(.tlsTrust, by: principal, tenant: tenant, keyID: record.id, details: ["action": "remove-ca", "alias": alias.rawValue]),
            ])
        }
    }

    /// Revokes a certificate of the tenant by its serial (hex, as listed).
    public func revokeCertificate(tenant: TenantID, serialHex: String, by principal: Principal) async throws -> CertificateInfo {
        try await audited(.tlsRevoke, by: principal, tenant: tenant) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let serial = serialHex.replacingOccurrences(of: ":", with: "").uppercased()
            guard !serial.isEmpty, serial.count <= 40, serial.allSatisfy(\.isHexDigit) else {
                throw KeystoreError.invalidArgument("a serial is 1–40 hex digits")
            }
            try await requireTenant(tenant)
            guard let row = try await store.certificate(tenantID: tenant.rawValue, serial: serial) else {
                throw KeystoreError.certificateNotFound(tenant: tenant.rawValue, serial: serial)
            }
            var revoked = try await checked(row)
            guard revoked.revokedAt == nil else { throw KeystoreError.invalidArgument("certificate \(serial) is already revoked") }
            revoked.revokedAt = clock()
            revoked = try await withMAC(revoked)
            try await store.revokeCertificate(id: row.id, at: revoked.revokedAt!, rowMAC: revoked.rowMAC, audit: [
                event(.tlsRevoke, by: principal, tenant: tenant, keyID: row.keyID, version: row.keyVersion,
                      details: ["serial": serial, "pin": row.pin]),
            ])
            return try await info(revoked)
        }
    }

    /// Revokes the certificate given as PEM or DER, which must be one the tenant's keys hold or issued.
    public func revokeCertificate(tenant: TenantID, certificate: [UInt8], by principal: Principal) async throws -> CertificateInfo {
        let der = try await auditedArguments(.tlsRevoke, tenant: tenant, by: principal) {
            try mappingCertificateErrors { try CertificatePEM.decodeAll(certificate)[0] }
        }
        let summary = try await auditedArguments(.tlsRevoke, tenant: tenant, by: principal) {
            try mappingCertificateErrors { try CertificateSummary(derEncoded: der) }
        }
        if let row = try await mappingErrors({ try await store.certificate(tenantID: tenant.rawValue, serial: summary.serialHex) }), row.der != der {
            _ = try await auditedArguments(.tlsRevoke, tenant: tenant, by: principal) { () throws -> Int in
                throw KeystoreError.invalidArgument("the certificate given differs from the stored one with serial \(summary.serialHex)")
            }
        }
        return try await revokeCertificate(tenant: tenant, serialHex: summary.serialHex, by: principal)
    }
}

/// `PKIError` as a `KeystoreError`, for synchronous argument checks.
func mappingCertificateErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as PKIError {
        throw KeystoreError.certificate(error)
    }
}
