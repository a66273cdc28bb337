import CustosCrypto
import CustosJSON
import Foundation
import SwiftASN1
import X509
#if canImport(Glibc)
import Glibc
#endif

/// DNS and IP subject alternative names, checked strictly before they go into a
/// certificate or are accepted from a request.
public enum AlternativeNames {
    /// A host name of letters, digits and '-' labels (1–63 each, 253 in all, no '-' at
    /// either end of a label), lower-cased; `*.` allowed as the whole left-most label
    /// only, above at least two labels.
    public static func dnsName(_ text: String) throws -> String {
        let name = text.lowercased()
        let shown = "'\(TerminalText.escaped(String(text.prefix(80))))'"
        guard !name.isEmpty, name.utf8.count <= 253 else { throw PKIError.invalidCertificateField("DNS name \(shown) must have 1–253 characters") }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" {
            labels.removeFirst()
            guard labels.count >= 2 else { throw PKIError.invalidCertificateField("wildcard DNS name \(shown) needs at least two labels after '*.'") }
        }
        for label in labels {
            guard (1...63).contains(label.count),
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
                  label.first != "-", label.last != "-" else {
                throw PKIError.invalidCertificateField("DNS name \(shown) is not a valid host name (a '*.' wildcard may only be the left-most label)")
            }
        }
        return name
    }

    /// The network-order bytes of a strictly written IPv4 (dotted decimal, no leading
    /// zeros) or IPv6 address (no zone); anything else is refused.
    public static func ipAddress(_ text: String) throws -> [UInt8] {
        let shown = "'\(TerminalText.escaped(String(text.prefix(80))))'"
        if text.contains(":") {
            var address = in6_addr()
            guard !text.contains("%"), inet_pton(AF_INET6, text, &address) == 1 else {
                throw PKIError.invalidCertificateField("IP address \(shown) is not a valid IPv6 address")
            }
            return withUnsafeBytes(of: &address) { Array($0) }
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { throw PKIError.invalidCertificateField("IP address \(shown) is not a valid IPv4 address") }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part == "0" || part.first != "0", let value = UInt8(part) else {
                throw PKIError.invalidCertificateField("IP address \(shown) is not a valid IPv4 address")
            }
            bytes.append(value)
        }
        return bytes
    }

    /// The text form of the bytes of an IP SAN (4 or 16 bytes).
    public static func ipText(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return Hex.encode(bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return Hex.encode(bytes) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The extension for `dnsNames` and `ipAddresses`, each checked; nil when both are empty.
    static func general(dnsNames: [String], ipAddresses: [String]) throws -> [GeneralName] {
        try dnsNames.map { .dnsName(try dnsName($0)) } + ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice(try ipAddress($0)))) }
    }
}
