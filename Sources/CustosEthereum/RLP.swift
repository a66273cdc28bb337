import Foundation
import BigInt

/// Recursive Length Prefix, Ethereum's serialisation (Yellow Paper, appendix B): byte
/// strings and lists of items.
///
/// Decoding is strict: only the one canonical encoding of an item is accepted (no long
/// form where the short one fits, no leading zeros in a length, a single byte below 0x80
/// as itself), and nothing may follow the item. Two encodings of one transaction would
/// give two hashes for the same signature.
public enum RLP: Hashable, Sendable {
    case bytes([UInt8])
    case list([RLP])

    /// How deep lists may nest in decoded input: a transaction needs 3 (access lists).
    public static let maximumDepth = 16

    // MARK: Encoding

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        append(to: &out)
        return out
    }

    private func append(to out: inout [UInt8]) {
        switch self {
        case .bytes(let bytes):
            if bytes.count == 1, bytes[0] < 0x80 {
                out.append(bytes[0])
            } else {
                Self.appendHeader(count: bytes.count, offset: 0x80, to: &out)
                out.append(contentsOf: bytes)
            }
        case .list(let items):
            var payload: [UInt8] = []
            for item in items { item.append(to: &payload) }
            Self.appendHeader(count: payload.count, offset: 0xc0, to: &out)
            out.append(contentsOf: payload)
        }
    }

    private static func appendHeader(count: Int, offset: UInt8, to out: inout [UInt8]) {
        if count <= 55 {
            out.append(offset + UInt8(count))
        } else {
            let length = minimalBigEndian(UInt64(count))
            out.append(offset + 55 + UInt8(length.count))
            out.append(contentsOf: length)
        }
    }

    /// An unsigned integer: big-endian with no leading zero bytes; zero is the empty string.
    public static func integer(_ value: UInt64) -> RLP { .bytes(minimalBigEndian(value)) }

    public static func integer(_ value: BigUInt) -> RLP { .bytes(value.isZero ? [] : Array(value.serialize())) }

    static func minimalBigEndian(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = value
        while rest > 0 {
            bytes.append(UInt8(truncatingIfNeeded: rest))
            rest >>= 8
        }
        return bytes.reversed()
    }

    // MARK: Decoding

    /// The one item that is exactly `data`.
    public static func decode(_ data: some Collection<UInt8>) throws(RLPError) -> RLP {
        let bytes = Array(data)
        var offset = 0
        let item = try decodeItem(bytes, at: &offset, end: bytes.count, depth: 0)
        guard offset == bytes.count else { throw RLPError("\(bytes.count - offset) bytes follow the encoded item") }
        return item
    }

    private static func decodeItem(_ data: [UInt8], at offset: inout Int, end: Int, depth: Int) throws(RLPError) -> RLP {
        guard offset < end else { throw RLPError("the input ends where an item should start") }
        let prefix = data[offset]
        offset += 1
        switch prefix {
        case 0x00...0x7f:
            return .bytes([prefix])
        case 0x80...0xbf:
            let count = try length(prefix, offset: 0x80, data, at: &offset, end: end)
            let payload = Array(data[offset..<(offset + count)])
            if count == 1, payload[0] < 0x80 { throw RLPError("a single byte below 0x80 is encoded as itself") }
            offset += count
            return .bytes(payload)
        default:
            guard depth < maximumDepth else { throw RLPError("lists nest deeper than \(maximumDepth)") }
            let count = try length(prefix, offset: 0xc0, data, at: &offset, end: end)
            let listEnd = offset + count
            var items: [RLP] = []
            while offset < listEnd {
                items.append(try decodeItem(data, at: &offset, end: listEnd, depth: depth + 1))
            }
            return .list(items)
        }
    }

    /// The payload length after `prefix`, checked to fit before `end` and to be canonical.
    private static func length(_ prefix: UInt8, offset base: UInt8, _ data: [UInt8], at offset: inout Int, end: Int) throws(RLPError) -> Int {
        let count: Int
        if prefix - base <= 55 {
            count = Int(prefix - base)
        } else {
            let lengthCount = Int(prefix - base - 55)
            guard end - offset >= lengthCount else { throw RLPError("the input ends inside a length") }
            guard data[offset] != 0 else { throw RLPError("a length has a leading zero byte") }
            guard lengthCount <= 4 else { throw RLPError("a length of \(lengthCount) bytes is too long") }
            var value = 0
            for byte in data[offset..<(offset + lengthCount)] { value = value << 8 | Int(byte) }
            offset += lengthCount
            guard value > 55 else { throw RLPError("a length of \(value) must use the short form") }
            count = value
        }
        guard end - offset >= count else { throw RLPError("an item of \(count) bytes runs past the end of its input") }
        return count
    }

    // MARK: Reading decoded items

    /// The bytes of a string item; a list is an error naming `field`.
    public func bytes(_ field: String) throws(RLPError) -> [UInt8] {
        guard case .bytes(let bytes) = self else { throw RLPError("\(field) must be a byte string, not a list") }
        return bytes
    }

    /// The items of a list; a byte string is an error naming `field`.
    public func items(_ field: String) throws(RLPError) -> [RLP] {
        guard case .list(let items) = self else { throw RLPError("\(field) must be a list") }
        return items
    }

    /// An unsigned integer of at most `bits` bits, in its canonical form (no leading zeros).
    public func integer(_ field: String, bits: Int = 256) throws(RLPError) -> BigUInt {
        let bytes = try bytes(field)
        guard bytes.first != 0 else { throw RLPError("\(field) has a leading zero byte") }
        guard bytes.count * 8 <= bits else { throw RLPError("\(field) is wider than \(bits) bits") }
        return BigUInt(Data(bytes))
    }

    public func uint64(_ field: String) throws(RLPError) -> UInt64 {
        let bytes = try bytes(field)
        guard bytes.first != 0 else { throw RLPError("\(field) has a leading zero byte") }
        guard bytes.count <= 8 else { throw RLPError("\(field) is wider than 64 bits") }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

public struct RLPError: Error, Equatable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { "malformed RLP: \(reason)" }
}
