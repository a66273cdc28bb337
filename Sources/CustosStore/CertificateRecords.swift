import Foundation

/// A certificate issued for a keystore key (or signed from a request): public data only.
public struct CertificateRecord: Sendable, Equatable {
    /// Assigned by the store when inserted.
    public var id: Int64
    public var tenantID: String
    /// The key and version the certificate certifies; nil for one signed from a CSR.
    public var keyID: String?
    public var keyVersion: Int?
    /// The CA key that signed it; nil for a self-signed certificate.
    public var issuerKeyID: String?
    /// The pin of the issuer's public key (the certificate's own pin when self-signed);
    /// with the serial it names the certificate across tenants.
    public var issuerPin: String
    public var serial: String
    public var subject: String
    public var notBefore: Date
    public var notAfter: Date
    /// SHA-256 of the subject public key info, hex.
    public var pin: String
    public var isCA: Bool
    public var der: [UInt8]
    /// The certificates above it, nearest first (empty when self-signed or a root).
    public var chain: [[UInt8]]
    public var createdAt: Date
    public var revokedAt: Date?
    /// HMAC under the tenant's record key (see the keystore's `RowIntegrity`).
    public var rowMAC: [UInt8]?

    public init(id: Int64 = 0, tenantID: String, keyID: String?, keyVersion: Int?, issuerKeyID: String?, issuerPin: String,
                serial: String, subject: String, notBefore: Date, notAfter: Date, pin: String, isCA: Bool, der: [UInt8],
                chain: [[UInt8]], createdAt: Date, revokedAt: Date? = nil, rowMAC: [UInt8]? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.keyID = keyID
        self.keyVersion = keyVersion
        self.issuerKeyID = issuerKeyID
        self.issuerPin = issuerPin
        self.serial = serial
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.pin = pin
        self.isCA = isCA
        self.der = der
        self.chain = chain
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.rowMAC = rowMAC
    }
}

/// What else changes in the transaction that stores a certificate: nothing, a new key
/// with its first version, or a new primary version of an existing key.
public enum CertificateKeyChange: Sendable {
    case none
    case newKey(KeyRecord, KeyVersionRecord)
    case newVersion(KeyVersionRecord, updatedAt: Date, keyMAC: [UInt8]?)
}

/// One entry of the server-wide TLS client trust set.
public struct TLSTrustRecord: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A client public key accepted by its pin.
        case pin
        /// A keystore CA key whose certificates vouch for clients.
        case authority
    }

    public var id: Int64
    public var kind: Kind
    /// For `pin`: the pin (hex).
    public var pin: String?
    public var label: String?
    /// For `authority`: the CA key.
    public var tenantID: String?
    public var keyID: String?
    public var createdAt: Date
    /// HMAC under a server-wide key derived from the root of trust; a row without a
    /// matching MAC is left out of the trust set.
    public var rowMAC: [UInt8]?

    public init(id: Int64 = 0, kind: Kind, pin: String? = nil, label: String? = nil, tenantID: String? = nil, keyID: String? = nil,
                createdAt: Date, rowMAC: [UInt8]? = nil) {
        self.id = id
        self.kind = kind
        self.pin = pin
        self.label = label
        self.tenantID = tenantID
        self.keyID = keyID
        self.createdAt = createdAt
        self.rowMAC = rowMAC
    }
}
