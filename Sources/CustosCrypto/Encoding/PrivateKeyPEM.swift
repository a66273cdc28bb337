import Foundation

/// Decodes a private-key PEM document held as bytes. Private keys never pass through a
/// Swift `String`: the armour is located in the byte buffer and only the base64 body is
/// decoded, into zeroize-on-free storage.
enum PrivateKeyPEM {
    static let labels: Set<String> = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]

    static func looksLikePEM(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        while index < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[index]) { index += 1 }
        let prefix = Array("-----BEGIN ".utf8)
        guard bytes.count - index >= prefix.count else { return false }
        return (0..<prefix.count).allSatisfy { bytes[index + $0] == prefix[$0] }
    }

    /// Returns the label (public, e.g. "PRIVATE KEY") and the DER body.
    static func decode(_ secret: SecretBytes) throws -> (label: String, der: SecretBytes) {
        try secret.withUnsafeBytes { bytes in
            let begin = Array("-----BEGIN ".utf8), dashes = Array("-----".utf8)
            guard let beginAt = find(begin, in: bytes, from: 0) else {
                throw CustosCryptoError.malformedPEM("no '-----BEGIN' line")
            }
            let labelStart = beginAt + begin.count
            guard let labelEnd = find(dashes, in: bytes, from: labelStart) else {
                throw CustosCryptoError.malformedPEM("unterminated BEGIN line")
            }
            let labelBytes = Array(bytes[labelStart..<labelEnd])
            guard labelBytes.count <= 40, let label = String(bytes: labelBytes, encoding: .ascii),
                  labels.contains(label) else {
                throw CustosCryptoError.malformedPEM("not a private key document (expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)")
            }
            let footer = Array("-----END \(label)-----".utf8)
            let bodyStart = labelEnd + dashes.count
            guard let endAt = find(footer, in: bytes, from: bodyStart) else {
                throw CustosCryptoError.malformedPEM("no matching '-----END \(label)-----' line")
            }
            var body = Data(bytes[bodyStart..<endAt])
            defer { body.withUnsafeMutableBytes { SecretBytes.zeroize($0) } }
            let allowed = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n \t".utf8))
            guard body.allSatisfy({ allowed.contains($0) }) else {
                throw CustosCryptoError.malformedPEM("body is not base64")
            }
            guard var der = Data(base64Encoded: body, options: .ignoreUnknownCharacters), !der.isEmpty else {
                throw CustosCryptoError.malformedPEM("body is not valid base64")
            }
            defer { der.withUnsafeMutableBytes { SecretBytes.zeroize($0) } }
            return (label, SecretBytes(der))
        }
    }

    private static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if (0..<needle.count).allSatisfy({ haystack[index + $0] == needle[$0] }) { return index }
            index += 1
        }
        return nil
    }
}
