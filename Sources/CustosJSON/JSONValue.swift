/// A JSON value read exactly (RFC 8259): numbers keep their text, so a uint256 in an
/// Ethereum message is never rounded through `Double` or `Decimal` as `JSONSerialization`
/// rounds it; a repeated key in an object is refused rather than one copy silently kept.
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// The number as written, already checked against the JSON grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// How deep arrays and objects may nest.
    public static let maximumDepth = 64

    /// The one value that is `text`, with only white space around it.
    public static func parse(_ text: some Collection<UInt8>) throws(JSONValueError) -> JSONValue {
        var reader = Reader(bytes: Array(text))
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.position == reader.bytes.count else { throw reader.error("text follows the JSON value") }
        return value
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// A short name of the value's kind, for error messages that must not echo input.
    /// The text of a string value; nil for every other kind.
    public var stringValue: String? {
        if case .string(let text) = self { text } else { nil }
    }

    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// JSON text with keys in UTF-8 order and no white space; numbers as they were read.
    public var text: String {
        var out = JSONText(escapingSlashes: false)
        write(to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    private func write(to out: inout JSONText) {
        switch self {
        case .null: out.raw("null")
        case .bool(let flag): flag ? out.raw("true") : out.raw("false")
        case .number(let text): out.append(trustedText: text)
        case .string(let text): out.string(text)
        case .array(let elements):
            out.raw("[")
            for (index, element) in elements.enumerated() {
                if index > 0 { out.raw(",") }
                element.write(to: &out)
            }
            out.raw("]")
        case .object(let members):
            out.raw("{")
            for (index, member) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if index > 0 { out.raw(",") }
                out.string(member.key)
                out.raw(":")
                member.value.write(to: &out)
            }
            out.raw("}")
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        func error(_ reason: String) -> JSONValueError { JSONValueError(reason: reason, offset: position) }

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
        }

        mutating func value(depth: Int) throws(JSONValueError) -> JSONValue {
            skipSpace()
            guard position < bytes.count else { throw error("the text ends where a value should start") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                guard depth < JSONValue.maximumDepth else { throw error("values nest deeper than \(JSONValue.maximumDepth)") }
                position += 1
                var members: [String: JSONValue] = [:]
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("an object key must be a string") }
                    let key = try string()
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("a ':' must follow an object key") }
                    position += 1
                    let member = try value(depth: depth + 1)
                    guard members.updateValue(member, forKey: key) == nil else {
                        throw error("the key \"\(key.prefix(64))\" appears twice in one object")
                    }
                    skipSpace()
                    guard position < bytes.count else { throw error("the text ends inside an object") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                    throw error("',' or '}' expected in an object")
                }
            case UInt8(ascii: "["):
                guard depth < JSONValue.maximumDepth else { throw error("values nest deeper than \(JSONValue.maximumDepth)") }
                position += 1
                var elements: [JSONValue] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                while true {
                    elements.append(try value(depth: depth + 1))
                    skipSpace()
                    guard position < bytes.count else { throw error("the text ends inside an array") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                    throw error("',' or ']' expected in an array")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default:
                return .number(try number())
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONValueError) {
            let expected = word.withUTF8Buffer { Array($0) }
            guard bytes.count - position >= expected.count, Array(bytes[position..<(position + expected.count)]) == expected else {
                throw error("unexpected text where a value should be")
            }
            position += expected.count
        }

        /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func number() throws(JSONValueError) -> String {
            let start = position
            func digits(_ reader: inout Reader) -> Int {
                let from = reader.position
                while reader.position < reader.bytes.count, (0x30...0x39).contains(reader.bytes[reader.position]) { reader.position += 1 }
                return reader.position - from
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
            let leading = position
            guard digits(&self) > 0 else { throw error("unexpected text where a value should be") }
            if bytes[leading] == UInt8(ascii: "0"), position - leading > 1 { throw error("a number has a leading zero") }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits(&self) > 0 else { throw error("a digit must follow the decimal point") }
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits(&self) > 0 else { throw error("a digit must follow the exponent") }
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func string() throws(JSONValueError) -> String {
            position += 1
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw error("the text ends inside a string") }
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
                    return text
                case 0x00..<0x20:
                    throw error("a control character must be escaped in a string")
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw error("the text ends inside an escape") }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xd800..<0xdc00).contains(scalar) {
                            guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                                throw error("a high surrogate must be followed by a low one")
                            }
                            position += 2
                            let low = try hex4()
                            guard (0xdc00..<0xe000).contains(low) else { throw error("a high surrogate must be followed by a low one") }
                            scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                        }
                        guard let character = Unicode.Scalar(scalar) else { throw error("a lone surrogate in a string") }
                        out.append(contentsOf: Array(String(character).utf8))
                    default:
                        throw error("an unknown escape in a string")
                    }
                default:
                    out.append(byte)
                }
            }
        }

        mutating func hex4() throws(JSONValueError) -> UInt32 {
            guard bytes.count - position >= 4 else { throw error("the text ends inside an escape") }
            var value: UInt32 = 0
            for byte in bytes[position..<(position + 4)] {
                let digit: UInt8
                switch byte {
                case 0x30...0x39: digit = byte - 0x30
                case 0x41...0x46: digit = byte - 0x41 + 10
                case 0x61...0x66: digit = byte - 0x61 + 10
                default: throw error("\\u needs four hex digits")
                }
                value = value << 4 | UInt32(digit)
            }
            position += 4
            return value
        }
    }
}

public struct JSONValueError: Error, Equatable, CustomStringConvertible {
    public let reason: String
    /// The byte offset in the text where reading stopped.
    public let offset: Int
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}
