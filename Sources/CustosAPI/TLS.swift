import CustosMacros
import Foundation

// TLS certificates issued from keystore keys, and the server-wide client trust set.

/// A certificate Custos issued (or imported for one of its keys): public data only.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct CertificateResponse: Codable, Sendable, Equatable {
    public var tenant: String
    /// The keystore key the certificate belongs to; absent for one signed from a CSR.
    public var alias: String?
    public var keyVersion: Int?
    /// Hex, as `openssl x509 -serial` prints it (without the `serial=` prefix).
    public var serial: String
    public var subject: String
    public var issuer: String
    /// The alias of the CA key that signed it; absent for a self-signed certificate.
    public var issuerAlias: String?
    public var notBefore: Date
    public var notAfter: Date
    public var daysLeft: Int
    /// SHA-256 of the SubjectPublicKeyInfo, hex (RFC 7469 pin).
    public var pin: String
    /// The same pin in RFC 7469's base64 form.
    public var pinSHA256: String
    public var isCA: Bool
    public var dnsNames: [String]
    public var ipAddresses: [String]
    /// server, client (extended key usages); ca for an authority.
    public var usages: [String]
    public var revokedAt: Date?
    /// The certificate and the chain above it (leaf first, up to the root), PEM.
    public var chainPEM: String
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct CertificateListResponse: Codable, Sendable, Equatable {
    public var certificates: [CertificateResponse]
}

/// A root CA (no `issuer`) or an intermediate signed by the CA key `issuer`.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct CreateCertificateAuthorityRequest: Codable, Sendable {
    public var alias: String
    /// "CN=…,O=…,OU=…,C=…".
    public var subject: String
    public var scheme: String? = nil
    public var days: Int? = nil
    public var issuer: String? = nil
    /// basicConstraints path length (default 1 for a root, 0 for an intermediate).
    public var pathLength: Int? = nil
}

/// A certificate for the TLS key `alias` (generated with `scheme` if it does not exist),
/// signed by the CA key `issuer`, or self-signed when `self_signed` is true.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct IssueCertificateRequest: Codable, Sendable {
    public var alias: String
    public var subject: String
    public var issuer: String? = nil
    public var selfSigned: Bool? = nil
    public var dnsNames: [String]? = nil
    public var ipAddresses: [String]? = nil
    /// server, client or both (the default).
    public var usage: String? = nil
    public var days: Int? = nil
    public var scheme: String? = nil
}

/// A PKCS#10 request made elsewhere, signed by the CA key `issuer`.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct SignCertificateRequestRequest: Codable, Sendable {
    public var issuer: String
    /// PEM text, or base64 DER.
    public var csr: String
    public var usage: String? = nil
    public var days: Int? = nil
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct RevokeCertificateRequest: Codable, Sendable {
    /// Hex serial of a certificate this tenant's CAs issued, or
    public var serial: String? = nil
    /// the certificate itself (PEM text or base64 DER).
    public var certificate: String? = nil
}

/// A certificate issued elsewhere for the primary version of a keystore TLS key.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ImportCertificateRequest: Codable, Sendable {
    /// PEM text (the certificate, then its chain), or base64 DER of one certificate.
    public var certificate: String
}

/// The server-wide set of client credentials accepted over mutual TLS (besides the
/// configuration file's): pinned public keys and trusted keystore CAs.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct TLSTrustResponse: Codable, Sendable, Equatable {
    public var pins: [Pin]
    public var authorities: [Authority]

    @PublicMemberwiseInit
    @SnakeCaseCodingKeys
    public struct Pin: Codable, Sendable, Equatable {
        public var pin: String
        public var label: String?
        public var addedAt: Date
    }

    @PublicMemberwiseInit
    @SnakeCaseCodingKeys
    public struct Authority: Codable, Sendable, Equatable {
        public var tenant: String
        public var alias: String
        public var addedAt: Date
    }
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct TrustPinRequest: Codable, Sendable {
    /// 64 hex digits or RFC 7469 base64.
    public var pin: String
    public var label: String? = nil
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct TrustAuthorityRequest: Codable, Sendable {
    public var tenant: String
    public var alias: String
}
