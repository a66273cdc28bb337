/// Request bodies that have a direct reader for their common shape, tried before
/// `JSONDecoder` on the signing hot path (Codable decoding of a 100-item batch cost
/// more than a tenth of the server's time spent on signing it).
///
/// A reader accepts only what `JSONDecoder` would decode to the same value: objects
/// whose values are plain ASCII strings (no escapes), with only the type's own keys,
/// each at most once. Anything else (escapes, `null`, numbers, non-ASCII, other or
/// repeated keys, a missing field, trailing bytes) makes it return `nil`, and `JSONDecoder` decides, with its errors.
public protocol DirectlyReadable: Decodable {
    static func read(json: UnsafeRawBufferPointer) -> Self?
}

extension SignRequest: DirectlyReadable {
    public static func read(json: UnsafeRawBufferPointer) -> SignRequest? {
        var scanner = PlainJSONScanner(json)
        guard let fields = scanner.stringObject(), scanner.isAtEnd, fields.alias == nil, let message = fields.message else { return nil }
        return SignRequest(message: message, format: fields.format)
    }
}

extension BatchSignRequest: DirectlyReadable {
    public static func read(json: UnsafeRawBufferPointer) -> BatchSignRequest? {
        var scanner = PlainJSONScanner(json)
        var items: [Item]?
        let parsed = scanner.object { scanner, key in
            guard key.elementsEqual("items".utf8), items == nil else { return false }
            var list: [Item] = []
            let parsedItems = scanner.array { scanner in
                guard let fields = scanner.stringObject(), let alias = fields.alias, let message = fields.message else { return false }
                list.append(Item(alias: alias, message: message, format: fields.format))
                return true
            }
            items = list
            return parsedItems
        }
        guard parsed, scanner.isAtEnd, let items else { return nil }
        return BatchSignRequest(items: items)
    }
}

/// The string fields a signing request or batch item may carry.
struct SigningFields {
    var alias: String?
    var message: String?
    var format: String?
}

/// Scans the plain subset of JSON described on `DirectlyReadable`; every method
/// returns `nil` or `false` on anything outside it.
struct PlainJSONScanner {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool {
        mutating get {
            skipSpace()
            return position == bytes.count
        }
    }

    private mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0a, 0x0d: position += 1
            default: return
            }
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipSpace()
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// A string of printable ASCII without escapes, as its raw bytes.
    private mutating func rawString() -> UnsafeRawBufferPointer? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return UnsafeRawBufferPointer(rebasing: bytes[start..<position - 1])
            }
            guard byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\\") else { return nil }
            position += 1
        }
        return nil
    }

    mutating func string() -> String? {
        rawString().map { String(decoding: $0, as: UTF8.self) }
    }

    /// `{ "key": value, ... }`, where `member` reads each value (the key is given raw).
    mutating func object(_ member: (inout PlainJSONScanner, UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "{")) else { return false }
        if consume(UInt8(ascii: "}")) { return true }
        repeat {
            guard let key = rawString(), consume(UInt8(ascii: ":")), member(&self, key) else { return false }
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "}"))
    }

    /// `[ element, ... ]`, where `element` reads each one.
    mutating func array(_ element: (inout PlainJSONScanner) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "[")) else { return false }
        if consume(UInt8(ascii: "]")) { return true }
        repeat {
            guard element(&self) else { return false }
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "]"))
    }

    /// An object whose keys are among `alias`, `message` and `format`, each at most
    /// once, with string values.
    mutating func stringObject() -> SigningFields? {
        var fields = SigningFields()
        let parsed = object { scanner, key in
            guard let value = scanner.string() else { return false }
            if key.elementsEqual("alias".utf8), fields.alias == nil {
                fields.alias = value
            } else if key.elementsEqual("message".utf8), fields.message == nil {
                fields.message = value
            } else if key.elementsEqual("format".utf8), fields.format == nil {
                fields.format = value
            } else {
                return false
            }
            return true
        }
        return parsed ? fields : nil
    }
}
