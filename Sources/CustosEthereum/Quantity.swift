import BigInt
import CustosCrypto
import CustosJSON

/// Reading the fields of Ethereum JSON (transactions, typed data, JSON-RPC parameters).
/// Each error names the field and never echoes its value.
public enum EthereumField {
    /// An unsigned integer given as a JSON integer, a decimal string or a 0x hex string,
    /// of at most `bits` bits.
    public static func quantity(_ value: JSONValue, _ field: String, bits: Int = 256) throws(EthereumError) -> BigUInt {
        let parsed: BigUInt?
        switch value {
        case .number(let text):
            // 2^256 has 78 digits: a longer number is refused before it is converted
            // (a conversion costs more than linear time in the digits).
            guard text.utf8.count <= 79 else { throw EthereumError.invalid("\(field) has more digits than any 256-bit number") }
            guard !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
                throw EthereumError.invalid("\(field) must be a whole number")
            }
            guard !text.hasPrefix("-") else { throw EthereumError.invalid("\(field) must not be negative") }
            parsed = BigUInt(text, radix: 10)
        case .string(let text):
            if text.hasPrefix("0x") || text.hasPrefix("0X") {
                let digits = text.dropFirst(2)
                guard !digits.isEmpty, digits.count <= 64, digits.allSatisfy(\.isHexDigit) else {
                    throw EthereumError.invalid("\(field) must be 0x and 1 to 64 hex digits")
                }
                parsed = BigUInt(digits, radix: 16)
            } else {
                guard !text.isEmpty, text.count <= 78, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw EthereumError.invalid("\(field) must be a decimal or 0x-prefixed hex whole number")
                }
                parsed = BigUInt(text, radix: 10)
            }
        default:
            throw EthereumError.invalid("\(field) must be a number or a string, not \(value.kind)")
        }
        guard let parsed else { throw EthereumError.invalid("\(field) is not a whole number") }
        guard parsed.bitWidth <= bits else { throw EthereumError.invalid("\(field) does not fit in \(bits) bits") }
        return parsed
    }

    public static func uint64(_ value: JSONValue, _ field: String) throws(EthereumError) -> UInt64 {
        UInt64(try quantity(value, field, bits: 64))
    }

    /// Bytes as a 0x hex string ("0x" alone is empty).
    public static func bytes(_ value: JSONValue, _ field: String) throws(EthereumError) -> [UInt8] {
        guard case .string(let text) = value, text.hasPrefix("0x") || text.hasPrefix("0X"), let bytes = Hex.decode(text) else {
            throw EthereumError.invalid("\(field) must be 0x-prefixed hex with an even number of digits")
        }
        return bytes
    }

    public static func address(_ value: JSONValue, _ field: String) throws(EthereumError) -> EthereumAddress {
        guard case .string(let text) = value else { throw EthereumError.invalid("\(field) must be a 0x address string") }
        return try EthereumAddress(text, field: field)
    }

    public static func string(_ value: JSONValue, _ field: String) throws(EthereumError) -> String {
        guard case .string(let text) = value else { throw EthereumError.invalid("\(field) must be a string, not \(value.kind)") }
        return text
    }

    public static func object(_ value: JSONValue, _ field: String) throws(EthereumError) -> [String: JSONValue] {
        guard case .object(let members) = value else { throw EthereumError.invalid("\(field) must be an object, not \(value.kind)") }
        return members
    }

    public static func array(_ value: JSONValue, _ field: String) throws(EthereumError) -> [JSONValue] {
        guard case .array(let elements) = value else { throw EthereumError.invalid("\(field) must be an array, not \(value.kind)") }
        return elements
    }

    /// Refuses members not in `known`, so a misspelt field ("gasprice") is not ignored.
    public static func onlyKnown(_ members: [String: JSONValue], _ known: Set<String>, in what: String) throws(EthereumError) {
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw EthereumError.invalid("\(what) has an unknown field \"\(quoted(unknown))\"")
        }
    }

    /// A name from the input, for an error message: its first 64 Unicode scalars (not
    /// characters: one character may hold any number of combining marks), with control and
    /// bidi characters escaped.
    public static func quoted(_ text: String) -> String {
        let head = String(String.UnicodeScalarView(text.unicodeScalars.prefix(64)))
        return TerminalText.escaped(head) + (text.unicodeScalars.count > 64 ? "…" : "")
    }

    /// 0x and lower-case hex of a quantity with no leading zeros (JSON-RPC QUANTITY).
    public static func quantityText(_ value: BigUInt) -> String { "0x" + String(value, radix: 16) }
}
