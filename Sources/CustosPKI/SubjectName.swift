import CustosJSON
import SwiftASN1
import X509

/// A subject distinguished name written as "CN=…,O=…,OU=…,C=…" (RFC 4514 order: the
/// most specific attribute first). Only these attribute types, plus L and ST, and no
/// escapes, quotes or multi-valued RDNs: a name that needs them is refused rather than
/// guessed at.
public enum SubjectName {
    static let types: [String: ASN1ObjectIdentifier] = [
        "CN": .RDNAttributeType.commonName, "O": .RDNAttributeType.organizationName,
        "OU": .RDNAttributeType.organizationalUnitName, "C": .RDNAttributeType.countryName,
        "L": .RDNAttributeType.localityName, "ST": .RDNAttributeType.stateOrProvinceName,
    ]

    public static func parse(_ text: String) throws -> DistinguishedName {
        guard !TerminalText.containsUnsafe(text) else {
            throw PKIError.invalidCertificateField("the subject contains a control or bidirectional character")
        }
        guard text.utf8.count <= 1024 else { throw PKIError.invalidCertificateField("the subject is longer than 1024 bytes") }
        for forbidden in ["\\", "\"", "+", ";", "#", "<", ">"] where text.contains(forbidden) {
            throw PKIError.invalidCertificateField("the subject may not contain '\(forbidden)' (escapes and multi-valued names are not supported)")
        }
        var attributes: [RelativeDistinguishedName.Attribute] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2 else {
                throw PKIError.invalidCertificateField("subject part '\(part.trimmingCharacters(in: .whitespaces))' is not TYPE=value")
            }
            let type = pieces[0].trimmingCharacters(in: .whitespaces).uppercased()
            let value = pieces[1].trimmingCharacters(in: .whitespaces)
            guard let oid = types[type] else {
                throw PKIError.invalidCertificateField("subject attribute '\(pieces[0].trimmingCharacters(in: .whitespaces))' is not one of CN, O, OU, C, L, ST")
            }
            guard !value.isEmpty, value.count <= 64 else {
                throw PKIError.invalidCertificateField("subject attribute \(type) must have 1–64 characters")
            }
            if type == "C" {
                guard value.count == 2, value.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                    throw PKIError.invalidCertificateField("subject attribute C must be a two-letter upper-case country code")
                }
                attributes.append(try .init(type: oid, printableString: value))
            } else {
                attributes.append(.init(type: oid, utf8String: value))
            }
        }
        guard attributes.contains(where: { $0.type == .RDNAttributeType.commonName }) else {
            throw PKIError.invalidCertificateField("the subject needs a CN")
        }
        // RFC 4514 writes the last RDN of the DER sequence first.
        return DistinguishedName(attributes.reversed().map { RelativeDistinguishedName($0) })
    }
}
