/// The deterministic CBOR subset of docs/cluster.md "Encoding": unsigned integers, byte
/// strings, UTF-8 text strings, arrays and `null`, every length and integer in its shortest
/// form. Everything the cluster signs or exchanges goes through here, so the decoder is
/// strict: what it accepts re-encodes to the same bytes.
public indirect enum CBORValue: Equatable, Sendable {
    case unsigned(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBORValue])
    case null

    /// Byte-exact: Swift's `String ==` treats canonically equivalent texts as equal (U+212A
    /// KELVIN SIGN == "K"), which encode differently; two values are equal only when their
    /// encodings are.
    public static func == (a: CBORValue, b: CBORValue) -> Bool {
        switch (a, b) {
        case (.unsigned(let x), .unsigned(let y)): x == y
        case (.bytes(let x), .bytes(let y)): x == y
        case (.text(let x), .text(let y)): x.utf8.elementsEqual(y.utf8)
        case (.array(let x), .array(let y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    /// Deterministic encoding.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        CBOR.append(self, to: &out)
        return out
    }
}

/// Why a byte string is not accepted as deterministic CBOR. Never carries the input itself.
public enum CBORError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ends inside an item.
    case truncated
    /// Bytes follow the top-level item.
    case trailingBytes(count: Int)
    /// An integer or length not in its shortest form.
    case nonShortestForm
    /// Indefinite-length string or array (additional information 31).
    case indefiniteLength
    /// Additional information 28–30.
    case reservedAdditionalInformation
    /// A major type outside the subset (negative integer, map, tag, float or simple value other than null).
    case unsupportedType(majorType: UInt8)
    case unsupportedSimpleValue(UInt8)
    case invalidUTF8
    case nestingTooDeep(limit: Int)
    /// A string or array longer than the caller's limit.
    case lengthOverLimit(limit: Int)

    public var description: String {
        switch self {
        case .truncated: "CBOR input ends inside an item"
        case .trailingBytes(let n): "\(n) trailing byte(s) after the CBOR item"
        case .nonShortestForm: "CBOR integer or length not in its shortest form"
        case .indefiniteLength: "indefinite-length CBOR item"
        case .reservedAdditionalInformation: "reserved CBOR additional information (28–30)"
        case .unsupportedType(let t): "CBOR major type \(t) is not allowed"
        case .unsupportedSimpleValue(let v): "CBOR simple value \(v) is not allowed (only null)"
        case .invalidUTF8: "CBOR text string is not valid UTF-8"
        case .nestingTooDeep(let limit): "CBOR nesting deeper than \(limit)"
        case .lengthOverLimit(let limit): "CBOR string or array longer than \(limit)"
        }
    }
}

public enum CBOR {
    /// Arrays may nest this deep (a top-level array is depth 1).
    public static let maximumDepth = 8

    public static func encode(_ value: CBORValue) -> [UInt8] { value.encoded }

    /// Decodes exactly one item filling `bytes`. `maximumLength` bounds every string's byte
    /// count and every array's element count (checked before anything is allocated).
    public static func decode(_ bytes: [UInt8], maximumLength: Int = 1 << 20) throws(CBORError) -> CBORValue {
        var reader = Reader(bytes: bytes, maximumLength: maximumLength)
        let value = try reader.item(depth: 0)
        if reader.position != bytes.count { throw .trailingBytes(count: bytes.count - reader.position) }
        return value
    }

    // MARK: Writing

    static func append(_ value: CBORValue, to out: inout [UInt8]) {
        switch value {
        case .unsigned(let n): appendHead(0, n, to: &out)
        case .bytes(let b):
            appendHead(2, UInt64(b.count), to: &out)
            out.append(contentsOf: b)
        case .text(let s):
            let utf8 = s.utf8
            appendHead(3, UInt64(utf8.count), to: &out)
            out.append(contentsOf: utf8)
        case .array(let items):
            appendHead(4, UInt64(items.count), to: &out)
            for item in items { append(item, to: &out) }
        case .null: out.append(0xf6)
        }
    }

    static func appendHead(_ major: UInt8, _ n: UInt64, to out: inout [UInt8]) {
        let m = major << 5
        switch n {
        case 0..<24: out.append(m | UInt8(n))
        case 24...0xff: out.append(contentsOf: [m | 24, UInt8(n)])
        case 0x100...0xffff: out.append(contentsOf: [m | 25, UInt8(n >> 8), UInt8(n & 0xff)])
        case 0x1_0000...0xffff_ffff:
            out.append(m | 26)
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8((n >> UInt64(shift)) & 0xff)) }
        default:
            out.append(m | 27)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((n >> UInt64(shift)) & 0xff)) }
        }
    }

    // MARK: Reading

    struct Reader {
        let bytes: [UInt8]
        let maximumLength: Int
        var position = 0

        init(bytes: [UInt8], maximumLength: Int) {
            self.bytes = bytes
            self.maximumLength = maximumLength
        }

        mutating func byte() throws(CBORError) -> UInt8 {
            guard position < bytes.count else { throw .truncated }
            defer { position += 1 }
            return bytes[position]
        }

        /// The argument of a head, refusing non-shortest forms and indefinite lengths.
        mutating func argument(_ info: UInt8) throws(CBORError) -> UInt64 {
            switch info {
            case 0..<24: return UInt64(info)
            case 24...27:
                let width = 1 << Int(info - 24)
                guard bytes.count - position >= width else { throw .truncated }
                var n: UInt64 = 0
                for i in 0..<width { n = n << 8 | UInt64(bytes[position + i]) }
                position += width
                let minimum: UInt64 = switch width {
                case 1: 24
                case 2: 0x100
                case 4: 0x1_0000
                default: 0x1_0000_0000
                }
                guard n >= minimum else { throw .nonShortestForm }
                return n
            case 31: throw .indefiniteLength
            default: throw .reservedAdditionalInformation
            }
        }

        mutating func length(_ info: UInt8) throws(CBORError) -> Int {
            let n = try argument(info)
            guard n <= UInt64(maximumLength) else { throw .lengthOverLimit(limit: maximumLength) }
            return Int(n)
        }

        mutating func item(depth: Int) throws(CBORError) -> CBORValue {
            let head = try byte()
            let major = head >> 5
            let info = head & 0x1f
            switch major {
            case 0:
                return .unsigned(try argument(info))
            case 2, 3:
                let count = try length(info)
                guard bytes.count - position >= count else { throw .truncated }
                let slice = Array(bytes[position..<(position + count)])
                position += count
                if major == 2 { return .bytes(slice) }
                guard let text = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8 }
                return .text(text)
            case 4:
                guard depth < CBOR.maximumDepth else { throw .nestingTooDeep(limit: CBOR.maximumDepth) }
                let count = try length(info)
                // Each element takes at least one byte: a count beyond the input is truncation.
                guard bytes.count - position >= count else { throw .truncated }
                var items: [CBORValue] = []
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try item(depth: depth + 1)) }
                return .array(items)
            case 7:
                switch info {
                case 22: return .null
                case 0..<24: throw .unsupportedSimpleValue(info)
                case 24: throw .unsupportedSimpleValue(try byte())
                case 25...27: throw .unsupportedType(majorType: 7)  // floats
                case 31: throw .indefiniteLength  // the "break" that ends an indefinite item
                default: throw .reservedAdditionalInformation
                }
            default:
                throw .unsupportedType(majorType: major)
            }
        }
    }
}
