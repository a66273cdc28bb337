import Crypto
import CustosCrypto
import CustosJSON
import Foundation
import SwiftASN1
import X509

/// A public-key pin as in RFC 7469: SHA-256 of the DER SubjectPublicKeyInfo. A pin
/// survives re-issuing a certificate for the same key and changes when the key does.
/// Written as 64 hex digits (the form Custos prints) or as RFC 7469's base64
/// (`pin-sha256="…"`, what `openssl … | base64` gives); both parse.
public struct PublicKeyPin: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let digest: [UInt8]

    public init(subjectPublicKeyInfo der: [UInt8]) {
        digest = Array(SHA256.hash(data: der))
    }

    public init(_ certificate: Certificate) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate.publicKey)
        self.init(subjectPublicKeyInfo: serializer.serializedBytes)
    }

    /// The pin of a DER certificate's subject public key.
    public init(certificateDER der: [UInt8]) throws {
        do {
            try self.init(Certificate(derEncoded: der))
        } catch {
            throw PKIError.malformedCertificate("not a DER X.509 certificate")
        }
    }

    /// 64 hex digits (`:` separators allowed), `sha256/<base64>` or bare base64 of 32 bytes.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let hex = trimmed.replacingOccurrences(of: ":", with: "")
        if hex.count == 64, let bytes = Hex.decode(hex.lowercased()) {
            digest = bytes
            return
        }
        let base64 = trimmed.hasPrefix("sha256/") ? String(trimmed.dropFirst(7)) : trimmed
        if base64.count == 44, let data = Data(base64Encoded: base64), data.count == 32, data.base64EncodedString() == base64 {
            digest = Array(data)
            return
        }
        throw PKIError.invalidPin("'\(TerminalText.escaped(String(text.prefix(80))))' is not a SHA-256 public-key pin (64 hex digits, or base64 of 32 bytes)")
    }

    /// Lower-case hex, the form Custos prints and stores.
    public var hex: String { Hex.encode(digest) }
    /// RFC 7469's form: base64 of the digest.
    public var base64: String { Data(digest).base64EncodedString() }
    public var description: String { hex }

    public static func < (lhs: PublicKeyPin, rhs: PublicKeyPin) -> Bool { lhs.hex < rhs.hex }
}

/// What the certificate layer refuses, with a message that names the problem.
public enum PKIError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidPin(String)
    case malformedCertificate(String)
    /// A subject, a SAN, a usage or a validity that cannot go in a certificate.
    case invalidCertificateField(String)
    /// A key scheme that cannot sign or be certified (secp256k1, BLS, ML-DSA, …).
    case unsupportedKey(String)
    /// A PKCS#10 request that does not parse or whose signature does not verify.
    case invalidRequest(String)
    /// The issuer cannot sign this certificate (not a CA, validity beyond its own, path length).
    case issuerRefused(String)

    public var description: String {
        switch self {
        case .invalidPin(let message), .malformedCertificate(let message), .invalidCertificateField(let message),
             .unsupportedKey(let message), .invalidRequest(let message), .issuerRefused(let message): message
        }
    }
}

