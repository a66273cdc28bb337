import Crypto
import CustosJSON
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// A PKCS#10 request made elsewhere, accepted only when its signature verifies with
/// its own key, the key is of a type TLS peers accept, and its requested DNS and IP
/// names are valid. Other requested extensions are ignored: the issuer decides usages.
public struct CertificateRequest: Sendable {
    public let subject: DistinguishedName
    public let publicKey: Certificate.PublicKey
    public let dnsNames: [String]
    public let ipAddresses: [String]

    /// PEM ("CERTIFICATE REQUEST") or DER.
    public init(parsing bytes: [UInt8]) throws {
        let request: CertificateSigningRequest
        do {
            if let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN") {
                request = try CertificateSigningRequest(pemEncoded: text)
            } else {
                request = try CertificateSigningRequest(derEncoded: bytes)
            }
        } catch {
            throw PKIError.invalidRequest("not a PKCS#10 certificate request (PEM or DER), or its key type is not supported (P-256, P-384, Ed25519, RSA)")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw PKIError.invalidRequest("the certificate request's signature does not verify with its public key")
        }
        try Self.checkKeyType(request.publicKey)
        guard !TerminalText.containsUnsafe(request.subject.description) else {
            throw PKIError.invalidRequest("the certificate request's subject contains a control or bidirectional character")
        }
        guard request.subject.contains(where: { $0.contains { $0.type == .RDNAttributeType.commonName } }) else {
            throw PKIError.invalidRequest("the certificate request's subject has no CN")
        }
        var dns: [String] = []
        var ips: [String] = []
        if let extensions = try? request.attributes.extensionRequest?.extensions, let names = try extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .dnsName(let value): dns.append(try AlternativeNames.dnsName(value))
                case .ipAddress(let octets):
                    let bytes = Array(octets.bytes)
                    guard bytes.count == 4 || bytes.count == 16 else { throw PKIError.invalidRequest("the certificate request has an IP SAN of \(bytes.count) bytes") }
                    ips.append(AlternativeNames.ipText(bytes))
                default:
                    throw PKIError.invalidRequest("the certificate request asks for a SAN other than DNS or IP")
                }
            }
        }
        subject = request.subject
        publicKey = request.publicKey
        dnsNames = dns
        ipAddresses = ips
    }

    /// P-256, P-384, Ed25519 and RSA of 2048 bits or more; swift-certificates parses
    /// P-521 too, which Custos does not issue for.
    static func checkKeyType(_ key: Certificate.PublicKey) throws {
        if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil || Curve25519.Signing.PublicKey(key) != nil { return }
        if let rsa = _RSA.Signing.PublicKey(key) {
            guard rsa.keySizeInBits >= 2048 else { throw PKIError.unsupportedKey("the request's RSA key has \(rsa.keySizeInBits) bits; at least 2048 are required") }
            return
        }
        throw PKIError.unsupportedKey("the request's key type is not accepted for TLS (P-256, P-384, Ed25519 or RSA only)")
    }
}
