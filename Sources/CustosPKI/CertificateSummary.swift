import CustosCrypto
import Foundation
import SwiftASN1
import X509

/// The fields of a certificate Custos lists and stores, read once from its DER.
public struct CertificateSummary: Sendable, Equatable {
    public var serialHex: String
    public var subject: String
    public var issuer: String
    public var notBefore: Date
    public var notAfter: Date
    public var pin: PublicKeyPin
    public var isCA: Bool
    public var dnsNames: [String]
    public var ipAddresses: [String]
    /// "server", "client", "ca".
    public var usages: [String]

    public init(_ certificate: Certificate) throws {
        serialHex = Self.serialHex(certificate.serialNumber)
        subject = certificate.subject.description
        issuer = certificate.issuer.description
        notBefore = certificate.notValidBefore
        notAfter = certificate.notValidAfter
        pin = try PublicKeyPin(certificate)
        if case .isCertificateAuthority = try certificate.extensions.basicConstraints { isCA = true } else { isCA = false }
        var dns: [String] = []
        var ips: [String] = []
        for name in try certificate.extensions.subjectAlternativeNames ?? SubjectAlternativeNames() {
            switch name {
            case .dnsName(let value): dns.append(value)
            case .ipAddress(let octets): ips.append(AlternativeNames.ipText(Array(octets.bytes)))
            default: break
            }
        }
        dnsNames = dns
        ipAddresses = ips
        var usages: [String] = []
        if let eku = try certificate.extensions.extendedKeyUsage {
            if eku.contains(.serverAuth) { usages.append("server") }
            if eku.contains(.clientAuth) { usages.append("client") }
        }
        if isCA { usages.append("ca") }
        self.usages = usages
    }

    public init(derEncoded der: [UInt8]) throws {
        let certificate: Certificate
        do { certificate = try Certificate(derEncoded: der) } catch { throw PKIError.malformedCertificate("not a DER X.509 certificate") }
        try self.init(certificate)
    }

    /// Upper-case hex without leading zero bytes, as `openssl x509 -serial` prints it.
    public static func serialHex(_ serial: Certificate.SerialNumber) -> String {
        var bytes = Array(serial.bytes)
        while bytes.count > 1, bytes[0] == 0 { bytes.removeFirst() }
        return Hex.encode(bytes).uppercased()
    }
}

/// DER certificates to and from PEM.
public enum CertificatePEM {
    public static func encode(_ der: [UInt8]) -> String {
        PEMDocument(type: "CERTIFICATE", derBytes: der).pemString + "\n"
    }

    /// Every certificate of a PEM bundle, or the one DER certificate given.
    public static func decodeAll(_ bytes: [UInt8]) throws -> [[UInt8]] {
        guard let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN") else {
            _ = try CertificateSummary(derEncoded: bytes)
            return [bytes]
        }
        let documents: [PEMDocument]
        do { documents = try PEMDocument.parseMultiple(pemString: text) } catch { throw PKIError.malformedCertificate("not PEM certificates") }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.map(\.derBytes)
        guard !certificates.isEmpty else { throw PKIError.malformedCertificate("no CERTIFICATE block in the PEM text") }
        return certificates
    }
}
