import CustosCrypto
import CustosPKI
import Foundation

/// A certificate Custos issued for one of its keys (or signed from a request): the
/// fields read from the certificate (`summary`, also readable directly: `info.serialHex`)
/// and where it stands in the keystore.
@dynamicMemberLookup
public struct CertificateInfo: Sendable, Equatable {
    public var tenant: TenantID
    /// The key it certifies; nil for a certificate signed from a CSR.
    public var alias: KeyAlias?
    public var keyVersion: Int?
    /// Serial (upper-case hex, as `openssl x509 -serial` prints it), subject and issuer
    /// (RFC 4514), validity, pin, names and usages.
    public var summary: CertificateSummary
    public var revokedAt: Date?
    /// The CA key that signed it; nil when self-signed.
    public var issuerAlias: KeyAlias?
    /// The certificate first, then those above it up to the root.
    public var chainDER: [[UInt8]]

    public subscript<Value>(dynamicMember field: KeyPath<CertificateSummary, Value>) -> Value { summary[keyPath: field] }
}

/// What a TLS server presents: its chain and a signer that never exports the key.
public struct TLSServerMaterial: Sendable {
    /// Leaf first; the root is left out (the peer has it).
    public var chainDER: [[UInt8]]
    public var signer: any KeySigner
    public var keyVersion: Int
    public var notAfter: Date
    public var pin: PublicKeyPin
}

/// The client credentials the trust set accepts, as a server checks them in a handshake.
public struct TLSClientTrust: Sendable, Equatable {
    public var pins: Set<PublicKeyPin>
    /// Certificates of the trusted keystore CAs (every valid, unrevoked one of each key).
    public var caCertificatesDER: [[UInt8]]
    /// Pins of the keys of revoked certificates: revoking a certificate revokes its key.
    public var revokedPins: Set<PublicKeyPin>
    /// "issuerPinHex:serialHex" of every revoked certificate.
    public var revokedSerials: Set<String>
}

/// The trust set as listed: pins with their labels, trusted CA keys.
public struct TLSTrustListing: Sendable, Equatable {
    public struct Pin: Sendable, Equatable {
        public var pin: PublicKeyPin
        public var label: String?
        public var addedAt: Date
    }

    public struct Authority: Sendable, Equatable {
        public var tenant: TenantID
        public var alias: KeyAlias
        public var addedAt: Date
    }

    public var pins: [Pin]
    public var authorities: [Authority]
}

/// A root CA (no `issuer`) or an intermediate signed by the CA key `issuer`; its key is
/// generated, category TLS.
public struct CertificateAuthoritySpec: Sendable {
    public var tenant: TenantID
    public var alias: KeyAlias
    public var subject: String
    public var scheme: SignatureScheme
    /// Default 3650 for a root, 1825 for an intermediate.
    public var days: Int?
    public var issuer: KeyAlias?
    /// basicConstraints pathLen; default 1 for a root, 0 for an intermediate.
    public var pathLength: Int?

    public init(tenant: TenantID, alias: KeyAlias, subject: String, scheme: SignatureScheme = .ecdsaP384SHA384, days: Int? = nil,
                issuer: KeyAlias? = nil, pathLength: Int? = nil) {
        self.tenant = tenant
        self.alias = alias
        self.subject = subject
        self.scheme = scheme
        self.days = days
        self.issuer = issuer
        self.pathLength = pathLength
    }
}

/// A certificate for the TLS key `alias`: its primary version if it exists, else a new
/// key of `scheme` (default ecdsa-p384-sha384). `issuer` nil means self-signed.
public struct CertificateSpec: Sendable {
    public var tenant: TenantID
    public var alias: KeyAlias
    public var subject: String
    public var issuer: KeyAlias?
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public var usage: CertificateUsage
    /// Default 365.
    public var days: Int?
    public var scheme: SignatureScheme?

    public init(tenant: TenantID, alias: KeyAlias, subject: String, issuer: KeyAlias?, dnsNames: [String] = [], ipAddresses: [String] = [],
                usage: CertificateUsage = .both, days: Int? = nil, scheme: SignatureScheme? = nil) {
        self.tenant = tenant
        self.alias = alias
        self.subject = subject
        self.issuer = issuer
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.usage = usage
        self.days = days
        self.scheme = scheme
    }

    public static let defaultDays = 365
}
