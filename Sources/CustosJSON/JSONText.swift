/// JSON text for the few shapes written on every signature (audit details, signing
/// responses), without Foundation's `JSONEncoder`, which costs more per record than
/// the signature it describes. The output is byte for byte what `JSONEncoder` with
/// `.sortedKeys` writes: the same escapes (`\/` included unless `escapingSlashes` is
/// false, as with `.withoutEscapingSlashes`) and keys in UTF-8 order.
public struct JSONText: Sendable {
    public private(set) var bytes: [UInt8] = []
    let escapingSlashes: Bool

    public init(capacity: Int = 128, escapingSlashes: Bool = true) {
        bytes.reserveCapacity(capacity)
        self.escapingSlashes = escapingSlashes
    }

    /// Appends JSON punctuation or other text that needs no escaping.
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends text already known to be valid JSON (a number read by `JSONValue`).
    mutating func append(trustedText text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Appends a decimal integer.
    public mutating func integer(_ value: some BinaryInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Appends a quoted, escaped string.
    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { string(utf8: $0) }
    }

    private mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        // Runs that need no escaping (all of base64, identifiers) are copied whole.
        var runStart = 0
        for index in utf8.indices {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
                    || (byte == UInt8(ascii: "/") && escapingSlashes) else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            runStart = index + 1
            switch byte {
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: bytes.append(contentsOf: [UInt8(ascii: "\\"), byte])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `"key":` (after a comma unless `first`).
    public mutating func key(_ name: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }

    /// An object of string values with keys in UTF-8 order.
    public static func sortedObject(_ values: [String: String]) -> String {
        var text = JSONText(capacity: 32 + values.count * 48)
        text.raw("{")
        for (index, entry) in values.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
            if index > 0 { text.raw(",") }
            text.string(entry.key)
            text.raw(":")
            text.string(entry.value)
        }
        text.raw("}")
        return String(decoding: text.bytes, as: UTF8.self)
    }
}
