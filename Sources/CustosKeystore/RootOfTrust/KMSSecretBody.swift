import CustosCrypto
import Foundation

/// JSON bodies of the KMS calls that carry the root key, handled as bytes so that the
/// key never sits in a Swift String (which cannot be wiped). Every intermediate buffer
/// is zeroized; what URLSession copies internally is out of reach.
enum KMSSecretBody {
    /// `fields` as sorted-key JSON, with `"Plaintext": base64(plaintext)` spliced in at
    /// its sorted place when given. The caller wipes the result.
    static func json(_ fields: [String: Any], plaintext: SecretBytes? = nil) throws -> [UInt8] {
        guard let plaintext else { return Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) }
        guard fields.keys.allSatisfy({ $0 < "Plaintext" }) else {
            throw KeystoreError.invalidArgument("kms: a field sorts after Plaintext")
        }
        var encoded = plaintext.withUnsafeBytes { raw -> [UInt8] in
            var copy = Data(raw)
            defer { copy.withUnsafeMutableBytes { SecretBytes.zeroize($0) } }
            var text = copy.base64EncodedData()
            defer { text.withUnsafeMutableBytes { SecretBytes.zeroize($0) } }
            return Array(text)
        }
        defer { SecretBytes.zeroize(&encoded) }
        var head = Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
        guard head.last == UInt8(ascii: "}") else { throw KeystoreError.invalidArgument("kms: unexpected JSON") }
        head.removeLast()
        let separator: [UInt8] = head.count > 1 ? Array(",".utf8) : []
        return head + separator + Array("\"Plaintext\":\"".utf8) + encoded + Array("\"}".utf8)
    }

    /// The base64-decoded string value of the top-level `"Plaintext"` member, read from
    /// the bytes; nil when absent or not base64.
    static func plaintext(in body: [UInt8]) -> SecretBytes? {
        let key = Array("\"Plaintext\"".utf8)
        guard body.count > key.count, let start = (0...(body.count - key.count)).first(where: { Array(body[$0..<$0 + key.count]) == key }) else {
            return nil
        }
        var index = start + key.count
        func skipSpace() { while index < body.count, [0x20, 0x09, 0x0a, 0x0d].contains(body[index]) { index += 1 } }
        skipSpace()
        guard index < body.count, body[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        skipSpace()
        guard index < body.count, body[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        var encoded: [UInt8] = []
        defer { SecretBytes.zeroize(&encoded) }
        while index < body.count, body[index] != UInt8(ascii: "\"") {
            // JSON may escape "/" as "\/"; base64 needs no other escape.
            if body[index] != UInt8(ascii: "\\") { encoded.append(body[index]) }
            index += 1
        }
        guard index < body.count, var decoded = Data(base64Encoded: Data(encoded)) else { return nil }
        defer { decoded.withUnsafeMutableBytes { SecretBytes.zeroize($0) } }
        return decoded.withUnsafeBytes { SecretBytes($0) }
    }
}
