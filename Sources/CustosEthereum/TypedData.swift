import BigInt
import CustosCrypto
import CustosJSON
import Foundation

/// EIP-712 typed structured data, as `eth_signTypedData_v4` sends it: `types`,
/// `primaryType`, `domain` and `message`, with nested structs and arrays (v4).
///
/// Checked against its types before anything is hashed: every member present with a
/// value of its type, no member the type does not declare, integers in range, `bytesN`
/// exactly N bytes. What a user is asked to sign is what is hashed, nothing filled in.
public struct TypedData: Sendable {
    public struct Member: Hashable, Sendable {
        public let name: String
        public let type: String
    }

    public let types: [String: [Member]]
    public let primaryType: String
    public let domain: [String: JSONValue]
    public let message: [String: JSONValue]
    /// Computed once: a message of many structs hashes each type's encoding once, not once per value.
    private var typeHashes: [String: [UInt8]] = [:]
    /// hashStruct(EIP712Domain, domain).
    public private(set) var domainSeparator: [UInt8] = []
    /// hashStruct(primaryType, message).
    public private(set) var messageHash: [UInt8] = []

    /// The most types one typed data declares, and members one type has: bounds the work of
    /// encoding the types (each type's encoding lists every type it reaches).
    public static let maximumTypes = 256
    public static let maximumMembers = 256

    /// The domain's members in the order EIP-712 lists them, for typed data that does
    /// not declare `EIP712Domain` (eth-account and ethers infer it the same way).
    static let domainFields: [(String, String)] = [
        ("name", "string"), ("version", "string"), ("chainId", "uint256"), ("verifyingContract", "address"), ("salt", "bytes32"),
    ]

    public init(json: JSONValue) throws(EthereumError) {
        let members = try EthereumField.object(json, "the typed data")
        try EthereumField.onlyKnown(members, ["types", "primaryType", "domain", "message"], in: "the typed data")
        guard let typesValue = members["types"] else { throw EthereumError.invalid("types is missing") }
        guard let primaryValue = members["primaryType"] else { throw EthereumError.invalid("primaryType is missing") }
        var types: [String: [Member]] = [:]
        let declared = try EthereumField.object(typesValue, "types")
        guard declared.count <= Self.maximumTypes else { throw EthereumError.invalid("types declares more than \(Self.maximumTypes) types") }
        for (name, definition) in declared {
            guard Self.isIdentifier(name) else { throw EthereumError.invalid("type name \"\(EthereumField.quoted(name))\" is not an identifier") }
            var seen: Set<String> = []
            let list = try EthereumField.array(definition, "types.\(name)")
            guard list.count <= Self.maximumMembers else { throw EthereumError.invalid("types.\(name) has more than \(Self.maximumMembers) members") }
            types[name] = try list.enumerated().map { (index, member) throws(EthereumError) in
                let where_ = "types.\(name)[\(index)]"
                let fields = try EthereumField.object(member, where_)
                try EthereumField.onlyKnown(fields, ["name", "type"], in: where_)
                let memberName = try EthereumField.string(fields["name"] ?? .null, "\(where_).name")
                let memberType = try EthereumField.string(fields["type"] ?? .null, "\(where_).type")
                guard Self.isIdentifier(memberName) else { throw EthereumError.invalid("\(where_).name is not an identifier") }
                guard seen.insert(memberName).inserted else { throw EthereumError.invalid("\(where_): member \(memberName) is declared twice") }
                return Member(name: memberName, type: memberType)
            }
        }
        self.primaryType = try EthereumField.string(primaryValue, "primaryType")
        let domain = try EthereumField.object(members["domain"] ?? .object([:]), "domain")
        self.domain = domain
        self.message = try EthereumField.object(members["message"] ?? .null, "message")
        if types["EIP712Domain"] == nil {
            // Inferred from the members present, in EIP-712's order.
            try EthereumField.onlyKnown(domain, Set(Self.domainFields.map(\.0)), in: "domain")
            types["EIP712Domain"] = Self.domainFields.filter { domain[$0.0] != nil }.map { Member(name: $0.0, type: $0.1) }
        }
        self.types = types
        // Every member's type must resolve, whether or not the message reaches it.
        for (name, members) in types {
            for member in members { try checkType(member.type, in: "types.\(name).\(member.name)") }
        }
        guard types[primaryType] != nil else { throw EthereumError.invalid("primaryType \(EthereumField.quoted(primaryType)) is not among types") }
        for name in types.keys { typeHashes[name] = Keccak256.hash(data: Array(encodeType(name).utf8)) }
        // Hashing here, once, checks the domain and message against their types.
        domainSeparator = try hashStruct("EIP712Domain", .object(domain), path: "domain")
        messageHash = try hashStruct(primaryType, .object(message), path: "message")
    }

    public static func parse(_ text: some Collection<UInt8>) throws(EthereumError) -> TypedData {
        do {
            return try TypedData(json: try JSONValue.parse(text))
        } catch let error as JSONValueError {
            throw EthereumError.invalid("the typed data: \(error)")
        } catch let error as EthereumError {
            throw error
        } catch {
            throw EthereumError.invalid("the typed data: \(error)")
        }
    }

    /// Keccak-256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message)): the digest signed.
    public var signingHash: [UInt8] {
        // A primaryType of EIP712Domain signs the domain alone (EIP-712, eth-account).
        let body = primaryType == "EIP712Domain" ? [] : messageHash
        return Keccak256.hash(data: [0x19, 0x01] + domainSeparator + body)
    }

    public func signer(signature: some Collection<UInt8>) throws(EthereumError) -> EthereumAddress {
        try PersonalMessage.recover(signature, digest: signingHash)
    }

    // MARK: encodeType, hashStruct, encodeData

    /// `Name(type1 name1,…)` followed by every struct it references, sorted by name.
    public func encodeType(_ name: String) -> String {
        var dependencies: Set<String> = []
        collectDependencies(name, into: &dependencies)
        dependencies.remove(name)
        return ([name] + dependencies.sorted()).map { type in
            type + "(" + (types[type] ?? []).map { "\($0.type) \($0.name)" }.joined(separator: ",") + ")"
        }.joined()
    }

    private func collectDependencies(_ name: String, into found: inout Set<String>) {
        guard types[name] != nil, found.insert(name).inserted else { return }
        for member in types[name] ?? [] { collectDependencies(Self.baseType(member.type), into: &found) }
    }

    public func typeHash(_ name: String) -> [UInt8] { typeHashes[name] ?? Keccak256.hash(data: Array(encodeType(name).utf8)) }

    func hashStruct(_ name: String, _ value: JSONValue, path: String) throws(EthereumError) -> [UInt8] {
        guard let members = types[name] else { throw EthereumError.invalid("\(path): type \(EthereumField.quoted(name)) is not among types") }
        let fields = try EthereumField.object(value, path)
        try EthereumField.onlyKnown(fields, Set(members.map(\.name)), in: path)
        var encoded = typeHash(name)
        for member in members {
            guard let field = fields[member.name] else { throw EthereumError.invalid("\(path).\(member.name) is missing") }
            encoded += try encodeData(member.type, field, path: "\(path).\(member.name)")
        }
        return Keccak256.hash(data: encoded)
    }

    /// One member's 32-byte encoding.
    func encodeData(_ type: String, _ value: JSONValue, path: String) throws(EthereumError) -> [UInt8] {
        if let (element, length) = Self.arrayElement(type) {
            let elements = try EthereumField.array(value, path)
            if let length, elements.count != length { throw EthereumError.invalid("\(path) must have \(length) elements, not \(elements.count)") }
            var concatenated: [UInt8] = []
            for (index, item) in elements.enumerated() {
                concatenated += try encodeData(element, item, path: "\(path)[\(index)]")
            }
            return Keccak256.hash(data: concatenated)
        }
        if types[type] != nil { return try hashStruct(type, value, path: path) }
        switch type {
        case "string":
            return Keccak256.hash(data: Array(try EthereumField.string(value, path).utf8))
        case "bytes":
            return Keccak256.hash(data: try EthereumField.bytes(value, path))
        case "bool":
            guard case .bool(let flag) = value else { throw EthereumError.invalid("\(path) must be true or false") }
            return [UInt8](repeating: 0, count: 31) + [flag ? 1 : 0]
        case "address":
            return [UInt8](repeating: 0, count: 12) + (try EthereumField.address(value, path)).bytes
        default:
            break
        }
        if let size = Self.fixedBytesSize(type) {
            let bytes = try EthereumField.bytes(value, path)
            guard bytes.count == size else { throw EthereumError.invalid("\(path) must be \(size) bytes, not \(bytes.count)") }
            return bytes + [UInt8](repeating: 0, count: 32 - size)
        }
        if let (signed, bits) = Self.integerType(type) {
            return try Self.integerWord(value, signed: signed, bits: bits, path: path)
        }
        throw EthereumError.invalid("\(path): unknown type \(EthereumField.quoted(type))")
    }

    /// A declared member type must name a struct in `types` or an atomic or dynamic type,
    /// with any number of `[]` or `[n]` after it.
    private func checkType(_ type: String, in path: String) throws(EthereumError) {
        let base = Self.baseType(type)
        guard types[base] != nil || ["string", "bytes", "bool", "address"].contains(base)
                || Self.fixedBytesSize(base) != nil || Self.integerType(base) != nil else {
            throw EthereumError.invalid("\(path): unknown type \(EthereumField.quoted(type))")
        }
    }

    // MARK: Type names

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 256 else { return false }
        let letters = CharacterSet.letters.union(CharacterSet(charactersIn: "_$"))
        return letters.contains(first) && name.unicodeScalars.allSatisfy { letters.contains($0) || ("0"..."9").contains($0) }
    }

    /// `T` of `T[]` or `T[n]`, and n.
    static func arrayElement(_ type: String) -> (String, Int?)? {
        guard type.hasSuffix("]"), let open = type.lastIndex(of: "[") else { return nil }
        let inside = type[type.index(after: open)..<type.index(before: type.endIndex)]
        let element = String(type[..<open])
        if inside.isEmpty { return (element, nil) }
        guard let length = Int(inside), length >= 0, inside.allSatisfy(\.isASCII) else { return nil }
        return (element, length)
    }

    static func baseType(_ type: String) -> String {
        var base = type
        while let (element, _) = arrayElement(base) { base = element }
        return base
    }

    static func fixedBytesSize(_ type: String) -> Int? {
        guard type.hasPrefix("bytes"), let size = Int(type.dropFirst(5)), (1...32).contains(size),
              type.dropFirst(5).first != "0" else { return nil }
        return size
    }

    static func integerType(_ type: String) -> (signed: Bool, bits: Int)? {
        let signed = type.hasPrefix("int")
        guard signed || type.hasPrefix("uint") else { return nil }
        let digits = type.dropFirst(signed ? 3 : 4)
        guard let bits = Int(digits), bits % 8 == 0, (8...256).contains(bits), digits.first != "0" else { return nil }
        return (signed, bits)
    }

    /// A JSON number, decimal string or 0x string as a 32-byte big-endian two's complement word.
    static func integerWord(_ value: JSONValue, signed: Bool, bits: Int, path: String) throws(EthereumError) -> [UInt8] {
        var negative = false
        var magnitudeValue = value
        switch value {
        case .number(let text) where text.hasPrefix("-"):
            negative = true
            magnitudeValue = .number(String(text.dropFirst()))
        case .string(let text) where text.hasPrefix("-"):
            negative = true
            magnitudeValue = .string(String(text.dropFirst()))
        default: break
        }
        let magnitude = try EthereumField.quantity(magnitudeValue, path)
        if negative, !signed { throw EthereumError.invalid("\(path) must not be negative") }
        let limit = BigUInt(1) << (signed ? bits - 1 : bits)
        guard negative ? magnitude <= limit : magnitude < limit else {
            throw EthereumError.invalid("\(path) does not fit in \(signed ? "int" : "uint")\(bits)")
        }
        let word = negative && !magnitude.isZero ? (BigUInt(1) << 256) - magnitude : magnitude
        return SignedEthereumTransaction.word(word)
    }
}
