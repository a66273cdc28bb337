/// Lower-case hexadecimal, for public values only (never for secrets).
public enum Hex {
    /// Lowercase hex. Inlinable so callers get a specialised copy: the generic one
    /// walked each byte through the `Sequence` witness table, and audit sealing
    /// encodes three digests per record.
    @inlinable
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        return String(unsafeUninitializedCapacity: input.count * 2) { out in
            var position = 0
            for byte in input {
                out[position] = digit(byte >> 4)
                out[position + 1] = digit(byte & 0x0f)
                position += 2
            }
            return position
        }
    }

    /// The ASCII digit of a nibble, without a branch or a table lookup on its value.
    @inlinable
    static func digit(_ nibble: UInt8) -> UInt8 {
        nibble &+ 48 &+ ((9 &- nibble) >> 7) &* 39
    }

    /// Decodes hex with an optional `0x` prefix; `nil` when any character is not hex
    /// or the length is odd.
    public static func decode(_ text: String) -> [UInt8]? {
        var utf8 = Array(text.utf8)
        if utf8.count >= 2, utf8[0] == UInt8(ascii: "0"), utf8[1] | 0x20 == UInt8(ascii: "x") {
            utf8.removeFirst(2)
        }
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func value(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Base64url without padding (RFC 7515), for JWKs.
public enum Base64URL {
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let standard = Data(bytes).base64EncodedString()
        return String(standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").prefix { $0 != "=" })
    }
}

import Foundation
