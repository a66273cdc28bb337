import Crypto
import CustosCrypto
import CustosStore
import Foundation

/// Certificate rows are MAC'd under the tenant's row-MAC key like key rows: a row
/// holds no secret, but an edited one could detach a certificate from its key or
/// clear a revocation. A certificate row whose MAC fails is refused when read for use,
/// and counts as revoked in the trust set (fail closed).
///
/// Trust rows (pins, trusted CAs) are server-wide, so they are MAC'd under a key
/// derived from the audit secret, itself under the root of trust. A row added or
/// altered outside Custos has no matching MAC and is left out of the trust set: an
/// edit of the database can narrow trust (delete a row) but not widen it, except by
/// deleting a revoked certificate's row, which the audit log still records.
extension KeyService {
    static func macInput(_ certificate: CertificateRecord) -> [UInt8] {
        BindingContext.make("custos.certificate-row.v1", [
            certificate.tenantID, certificate.keyID ?? "-", certificate.keyVersion.map(String.init) ?? "-", certificate.issuerKeyID ?? "-",
            certificate.issuerPin, certificate.serial, certificate.pin, certificate.isCA ? "ca" : "leaf",
            Hex.encode(SHA256.hash(data: certificate.der)),
            Hex.encode(SHA256.hash(data: certificate.chain.flatMap { SHA256.hash(data: $0) })),
            certificate.revokedAt == nil ? "valid" : "revoked",
        ])
    }

    static func macInput(_ entry: TLSTrustRecord) -> [UInt8] {
        BindingContext.make("custos.tls-trust-row.v1", [
            entry.kind.rawValue, entry.pin ?? "-", entry.label.map { "=" + $0 } ?? "-", entry.tenantID ?? "-", entry.keyID ?? "-",
        ])
    }

    func withMAC(_ certificate: CertificateRecord) async throws -> CertificateRecord {
        var certificate = certificate
        certificate.rowMAC = try await keyring.rowMACKey(tenant: certificate.tenantID).authenticationCode(for: Self.macInput(certificate))
        return certificate
    }

    func isIntact(_ certificate: CertificateRecord) async throws -> Bool {
        guard let mac = certificate.rowMAC else { return false }
        return try await keyring.rowMACKey(tenant: certificate.tenantID).isValidAuthenticationCode(mac, for: Self.macInput(certificate))
    }

    /// The row, refused as `corrupt-record` unless its MAC matches.
    func checked(_ certificate: CertificateRecord) async throws -> CertificateRecord {
        guard try await isIntact(certificate) else {
            throw KeystoreError.corruptRecord("certificate \(certificate.serial) of tenant '\(certificate.tenantID)' does not match its MAC: it was edited outside Custos")
        }
        return certificate
    }

    func withMAC(_ entry: TLSTrustRecord) -> TLSTrustRecord {
        var entry = entry
        entry.rowMAC = audit.trustRowKey.authenticationCode(for: Self.macInput(entry))
        return entry
    }

    func isIntact(_ entry: TLSTrustRecord) -> Bool {
        guard let mac = entry.rowMAC else { return false }
        return audit.trustRowKey.isValidAuthenticationCode(mac, for: Self.macInput(entry))
    }
}
