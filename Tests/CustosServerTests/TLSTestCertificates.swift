import Crypto
import Foundation
import SwiftASN1
import X509

/// Certificates made in memory for the TLS tests.
struct TestIdentity {
    let certificate: Certificate
    let key: P256.Signing.PrivateKey

    var der: [UInt8] {
        var serializer = DER.Serializer()
        try! serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    var certificatePEM: String { try! certificate.serializeAsPEM().pemString }

    static func bigEndian(_ value: Int) -> [UInt8] {
        let bytes = withUnsafeBytes(of: UInt64(value).bigEndian, Array.init).drop { $0 == 0 }
        return bytes.first.map { $0 & 0x80 != 0 } == true ? [0] + bytes : Array(bytes)
    }

    /// Self-signed when `issuer` is nil.
    static func make(_ name: String, issuer: TestIdentity? = nil, ca: Bool = false, serial: Int = Int.random(in: 1...Int(Int32.max)),
                     from: TimeInterval = -86_400, to: TimeInterval = 30 * 86_400, now: Date = Date()) -> TestIdentity {
        let key = P256.Signing.PrivateKey()
        let subject = try! DistinguishedName { CommonName(name) }
        let extensions = try! Certificate.Extensions {
            if ca {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            } else {
                Critical(BasicConstraints.notCertificateAuthority)
            }
        }
        let certificate = try! Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: Self.bigEndian(serial)),
            publicKey: .init(key.publicKey), notValidBefore: now + from, notValidAfter: now + to,
            issuer: issuer?.certificate.subject ?? subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(issuer?.key ?? key))
        return TestIdentity(certificate: certificate, key: key)
    }
}
