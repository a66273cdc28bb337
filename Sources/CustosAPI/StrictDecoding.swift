import Foundation

// Decoding that accepts one spelling of each value, on both sides of the API: a
// request or response that two parsers could read differently is refused.

public enum Base64Text {
    /// The bytes of canonical base64 (RFC 4648 §4: standard alphabet, padded, no
    /// whitespace, unused bits zero); nil for anything else, such as `aGVsbG9=`,
    /// which Foundation decodes to "hello" like `aGVsbG8=`.
    public static func decode(_ text: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: text) else { return nil }
        let canonical = data.base64EncodedString().utf8
        // Compared without an early exit: the text may be a plaintext or a MAC.
        guard canonical.count == text.utf8.count else { return nil }
        var difference: UInt8 = 0
        for (a, b) in zip(canonical, text.utf8) { difference |= a ^ b }
        return difference == 0 ? Array(data) : nil
    }

    /// The canonical spelling `decode` accepts.
    public static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}

public enum JSONDuplicateKeys {
    /// The path (`items[0].alias`) of the first key repeated within one object of the
    /// JSON text `bytes`, or nil when there is none or the text is not JSON (the
    /// decoder then reports the error). Keys are compared after unescaping, so
    /// `"message"` and `"\u006dessage"` are the same key.
    public static func first(in bytes: UnsafeRawBufferPointer) -> String? {
        var scanner = Scanner(bytes: bytes)
        return scanner.value(path: "", depth: 0)
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position = 0
        var failed = false

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
        }

        mutating func peek() -> UInt8? {
            skipSpace()
            return position < bytes.count ? bytes[position] : nil
        }

        /// Reads one value; returns the path of a duplicate key inside it, if any.
        mutating func value(path: String, depth: Int) -> String? {
            guard depth < 512, let byte = peek() else { failed = true; return nil }
            switch byte {
            case UInt8(ascii: "{"):
                position += 1
                var keys: Set<String> = []
                if peek() == UInt8(ascii: "}") { position += 1; return nil }
                while !failed {
                    guard peek() == UInt8(ascii: "\""), let key = string() else { failed = true; return nil }
                    let child = path.isEmpty ? String(key.prefix(64)) : path + "." + key.prefix(64)
                    if !keys.insert(key).inserted { return child }
                    guard peek() == UInt8(ascii: ":") else { failed = true; return nil }
                    position += 1
                    if let found = value(path: child, depth: depth + 1) { return found }
                    switch peek() {
                    case UInt8(ascii: ","): position += 1
                    case UInt8(ascii: "}"): position += 1; return nil
                    default: failed = true
                    }
                }
                return nil
            case UInt8(ascii: "["):
                position += 1
                if peek() == UInt8(ascii: "]") { position += 1; return nil }
                var index = 0
                while !failed {
                    if let found = value(path: "\(path)[\(index)]", depth: depth + 1) { return found }
                    index += 1
                    switch peek() {
                    case UInt8(ascii: ","): position += 1
                    case UInt8(ascii: "]"): position += 1; return nil
                    default: failed = true
                    }
                }
                return nil
            case UInt8(ascii: "\""):
                if string() == nil { failed = true }
                return nil
            default:
                // A number, true, false or null: skipped to the next delimiter.
                while position < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) {
                    position += 1
                }
                return nil
            }
        }

        /// A string at `position` (on its opening quote), unescaped.
        mutating func string() -> String? {
            position += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() {
                scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                raw.removeAll(keepingCapacity: true)
            }
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    flush()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    flush()
                    guard position < bytes.count else { return nil }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "u"):
                        guard var unit = hex4() else { return nil }
                        // A surrogate pair spells one scalar; a lone surrogate stays distinct.
                        if (0xD800..<0xDC00).contains(unit), position + 1 < bytes.count,
                           bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                            position += 2
                            guard let low = hex4() else { return nil }
                            unit = 0x10000 &+ ((unit &- 0xD800) << 10) &+ (low &- 0xDC00)
                        }
                        scalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    default: scalars.append(Unicode.Scalar(escape))
                    }
                default:
                    raw.append(byte)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard position + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = Character(Unicode.Scalar(bytes[position])).hexDigitValue else { return nil }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }
    }
}
