import Crypto
import CustosCrypto
import Foundation
import SwiftASN1
import X509

/// What a certificate is for.
public enum CertificateUsage: String, Sendable, CaseIterable, Codable {
    case server, client, both

    public init(parsing text: String) throws {
        guard let usage = CertificateUsage(rawValue: text.lowercased()) else {
            throw PKIError.invalidCertificateField("usage must be server, client or both")
        }
        self = usage
    }

    var extendedKeyUsages: [ExtendedKeyUsage.Usage] {
        switch self {
        case .server: [.serverAuth]
        case .client: [.clientAuth]
        case .both: [.serverAuth, .clientAuth]
        }
    }
}

/// An end-entity certificate (digitalSignature, the usage's extended key usages) or
/// an authority (keyCertSign and cRLSign, basicConstraints CA with a path length).
public enum CertificateProfile: Sendable, Equatable {
    case leaf(CertificateUsage)
    case authority(pathLength: Int?)
}

/// Everything of a certificate but its issuer.
public struct CertificateTemplate: Sendable {
    public var subject: DistinguishedName
    public var publicKey: Certificate.PublicKey
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public var profile: CertificateProfile
    public var days: Int

    public static let maximumDays = 9125

    public init(subject: DistinguishedName, publicKey: Certificate.PublicKey, dnsNames: [String] = [], ipAddresses: [String] = [],
                profile: CertificateProfile, days: Int) {
        self.subject = subject
        self.publicKey = publicKey
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.profile = profile
        self.days = days
    }
}

/// Builds and signs certificates. Pure: the clock and the randomness of serials are
/// the only inputs besides the arguments.
public enum CertificateFactory {
    /// notBefore is set this far before the moment of issue, so that a peer whose clock
    /// is a few minutes behind accepts a certificate issued just now.
    public static let backdating: TimeInterval = 300

    /// Signs `template` with `key`. `issuer` is the certificate of `key` (nil for a
    /// self-signed certificate, when `key` is the template's own key). Refused: an
    /// issuer that is not a CA or lacks keyCertSign, whose path length leaves no room
    /// for another authority, or whose validity ends before the new one would.
    public static func issue(_ template: CertificateTemplate, signedBy key: CertificateSigningKey, issuer: Certificate?,
                             now: Date) async throws -> Certificate {
        guard (1...CertificateTemplate.maximumDays).contains(template.days) else {
            throw PKIError.invalidCertificateField("validity must be 1–\(CertificateTemplate.maximumDays) days")
        }
        let signingKey = try CustomSigningKey(key)
        let notBefore = now.addingTimeInterval(-backdating)
        let notAfter = now.addingTimeInterval(TimeInterval(template.days) * 86_400)
        let issuerName: DistinguishedName
        let authorityKeyID: ArraySlice<UInt8>
        if let issuer {
            try checkIssuer(issuer, for: template.profile, notAfter: notAfter, now: now)
            guard issuer.publicKey == signingKey.publicKey else {
                throw PKIError.issuerRefused("the issuer certificate does not belong to the signing key")
            }
            issuerName = issuer.subject
            authorityKeyID = try issuer.extensions.subjectKeyIdentifier?.keyIdentifier ?? SubjectKeyIdentifier(hash: issuer.publicKey).keyIdentifier
        } else {
            guard signingKey.publicKey == template.publicKey else {
                throw PKIError.issuerRefused("a self-signed certificate must be signed by its own key")
            }
            issuerName = template.subject
            authorityKeyID = SubjectKeyIdentifier(hash: template.publicKey).keyIdentifier
        }
        let names = try AlternativeNames.general(dnsNames: template.dnsNames, ipAddresses: template.ipAddresses)
        let extensions = try Certificate.Extensions {
            switch template.profile {
            case .leaf(let usage):
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usage.extendedKeyUsages)
            case .authority(let pathLength):
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: pathLength))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            }
            SubjectKeyIdentifier(hash: template.publicKey)
            AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
            if !names.isEmpty { SubjectAlternativeNames(names) }
        }
        return try await Certificate(version: .v3, serialNumber: randomSerial(), publicKey: template.publicKey,
                                     notValidBefore: notBefore, notValidAfter: notAfter, issuer: issuerName, subject: template.subject,
                                     signatureAlgorithm: signingKey.defaultSignatureAlgorithm, extensions: extensions,
                                     issuerAsyncPrivateKey: Certificate.PrivateKey(signingKey))
    }

    /// 16 random bytes, positive, with the top byte at least 0x40 so the serial always
    /// has 32 hex digits (as `openssl x509 -serial` prints it) and 126 random bits.
    static func randomSerial() -> Certificate.SerialNumber {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[0] = (bytes[0] & 0x7F) | 0x40
        return Certificate.SerialNumber(bytes: bytes)
    }

    static func checkIssuer(_ issuer: Certificate, for profile: CertificateProfile, notAfter: Date, now: Date) throws {
        guard case .isCertificateAuthority(let issuerPathLength) = try issuer.extensions.basicConstraints else {
            throw PKIError.issuerRefused("the issuer's certificate is not a CA certificate")
        }
        guard try issuer.extensions.keyUsage?.keyCertSign ?? false else {
            throw PKIError.issuerRefused("the issuer's certificate does not allow signing certificates (no keyCertSign)")
        }
        if case .authority = profile, issuerPathLength == 0 {
            throw PKIError.issuerRefused("the issuer's path length (0) allows no intermediate CA below it")
        }
        guard issuer.notValidBefore <= now, now < issuer.notValidAfter else {
            throw PKIError.issuerRefused("the issuer's certificate is not valid now")
        }
        guard notAfter <= issuer.notValidAfter else {
            throw PKIError.issuerRefused("the requested validity ends after the issuer's certificate does (\(Self.day(issuer.notValidAfter))); ask for fewer days")
        }
    }

    static func day(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: date)
    }
}
