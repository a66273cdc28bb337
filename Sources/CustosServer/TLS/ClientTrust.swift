import Crypto
import CustosCrypto
import CustosPKI
import Foundation
@_spi(FixedExpiryValidationTime) import X509

/// Which client certificates may complete a handshake: pinned keys (RFC 7469 SPKI pins,
/// or for `tls.client_pins` compatibility the SHA-256 of the whole certificate), or
/// certificates whose chain verifies to a trusted CA; minus revoked keys and serials.
struct ClientTrust: Sendable {
    /// SPKI pins, and whole-certificate digests (both 32-byte SHA-256 values).
    var pins: Set<PublicKeyPin> = []
    var caCertificates: [Certificate] = []
    var revokedPins: Set<PublicKeyPin> = []
    /// `issuerPinHex:serialHex`: the issuer's SPKI pin and the certificate's serial number.
    var revokedSerials: Set<String> = []

    /// Nobody can be accepted: with client certificates required, every handshake fails.
    var acceptsNobody: Bool { pins.isEmpty && caCertificates.isEmpty }

    func union(_ other: ClientTrust) -> ClientTrust {
        ClientTrust(pins: pins.union(other.pins), caCertificates: caCertificates + other.caCertificates,
                    revokedPins: revokedPins.union(other.revokedPins), revokedSerials: revokedSerials.union(other.revokedSerials))
    }

    /// The keystore's form: the issuer's pin in hex, the serial as `openssl x509 -serial` prints it.
    static func revocationKey(issuer: PublicKeyPin, serial: Certificate.SerialNumber) -> String {
        "\(issuer.hex):\(CertificateSummary.serialHex(serial))"
    }
}

enum ClientCertificateDecision: Equatable, Sendable {
    case accepted(by: String)
    /// The reason, one word, for logs and the refusal metric.
    case refused(String)

    var isAccepted: Bool { if case .accepted = self { true } else { false } }
}

extension ClientTrust {
    /// The one place a client certificate is judged. `chainDER` is what the client sent,
    /// leaf first.
    func decide(chainDER: [[UInt8]], now: Date = Date()) async -> ClientCertificateDecision {
        guard let leafDER = chainDER.first, let leaf = try? Certificate(derEncoded: leafDER), let pin = try? PublicKeyPin(leaf) else {
            return .refused("malformed")
        }
        guard leaf.notValidBefore <= now else { return .refused("not-yet-valid") }
        guard now <= leaf.notValidAfter else { return .refused("expired") }
        guard !revokedPins.contains(pin) else { return .refused("revoked") }

        let sent = chainDER.dropFirst().compactMap { try? Certificate(derEncoded: $0) }
        let wholeCertificate = PublicKeyPin(digest: Array(SHA256.hash(data: leafDER)))
        if pins.contains(pin) || pins.contains(wholeCertificate) {
            // A pinned certificate is usually self-signed; otherwise its issuer is the
            // next certificate sent, when there is one.
            let issuer = leaf.issuer == leaf.subject ? leaf : sent.first { $0.subject == leaf.issuer }
            if let issuer, let issuerPin = try? PublicKeyPin(issuer),
               revokedSerials.contains(Self.revocationKey(issuer: issuerPin, serial: leaf.serialNumber)) {
                return .refused("revoked")
            }
            return .accepted(by: "pin")
        }
        guard !caCertificates.isEmpty else { return .refused("unknown") }

        var verifier = Verifier(rootCertificates: CertificateStore(caCertificates)) { RFC5280Policy(fixedExpiryValidationTime: now) }
        guard case .validCertificate(let validated) = await verifier.validate(leaf: leaf, intermediates: CertificateStore(sent)) else {
            return .refused("unknown")
        }
        let chain = Array(validated)
        for (certificate, issuer) in zip(chain, chain.dropFirst()) {
            guard let certificatePin = try? PublicKeyPin(certificate), let issuerPin = try? PublicKeyPin(issuer) else { return .refused("malformed") }
            if revokedPins.contains(certificatePin)
                || revokedSerials.contains(Self.revocationKey(issuer: issuerPin, serial: certificate.serialNumber)) {
                return .refused("revoked")
            }
        }
        return .accepted(by: "ca")
    }
}

extension PublicKeyPin {
    /// A SHA-256 value used as a pin (a whole-certificate fingerprint). Only called
    /// with SHA-256 output, always 32 bytes, which always parses.
    init(digest: [UInt8]) {
        precondition(digest.count == 32)
        self = try! PublicKeyPin(parsing: Hex.encode(digest))
    }
}
