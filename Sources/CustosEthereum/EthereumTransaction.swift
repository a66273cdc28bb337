import BigInt
import CustosCrypto
import CustosJSON
import Foundation

/// An unsigned Ethereum transaction: legacy (with or without EIP-155 replay protection),
/// EIP-2930 (type 1, access list) or EIP-1559 (type 2, priority fee). Built only through
/// initialisers that check the fields fit the type, so a signed transaction always
/// encodes the way an Ethereum node decodes it.
public struct EthereumTransaction: Hashable, Sendable {
    /// The EIP-2718 type.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case legacy = 0
        case accessList = 1
        case dynamicFee = 2

        public var name: String {
            switch self {
            case .legacy: "legacy"
            case .accessList: "eip2930"
            case .dynamicFee: "eip1559"
            }
        }
    }

    public enum Fees: Hashable, Sendable {
        /// Legacy and type 1.
        case gasPrice(BigUInt)
        /// Type 2.
        case dynamic(maxPriorityFeePerGas: BigUInt, maxFeePerGas: BigUInt)
    }

    public struct AccessListEntry: Hashable, Sendable {
        public let address: EthereumAddress
        public let storageKeys: [[UInt8]]

        public init(address: EthereumAddress, storageKeys: [[UInt8]]) throws(EthereumError) {
            guard storageKeys.allSatisfy({ $0.count == 32 }) else { throw EthereumError.invalid("a storage key is 32 bytes") }
            self.address = address
            self.storageKeys = storageKeys
        }
    }

    public let kind: Kind
    /// Nil only for a legacy transaction signed without replay protection (before EIP-155).
    public let chainID: UInt64?
    public let nonce: UInt64
    public let fees: Fees
    public let gas: UInt64
    /// Nil for a contract creation.
    public let to: EthereumAddress?
    public let value: BigUInt
    public let data: [UInt8]
    public let accessList: [AccessListEntry]

    public init(kind: Kind, chainID: UInt64?, nonce: UInt64, fees: Fees, gas: UInt64, to: EthereumAddress?,
                value: BigUInt, data: [UInt8], accessList: [AccessListEntry] = []) throws(EthereumError) {
        switch (kind, fees) {
        case (.legacy, .gasPrice), (.accessList, .gasPrice): break
        case (.dynamicFee, .dynamic(let tip, let cap)):
            guard tip <= cap else { throw EthereumError.invalid("maxPriorityFeePerGas must not exceed maxFeePerGas") }
        case (.dynamicFee, .gasPrice): throw EthereumError.invalid("an EIP-1559 transaction has maxFeePerGas and maxPriorityFeePerGas, not gasPrice")
        case (_, .dynamic): throw EthereumError.invalid("a \(kind.name) transaction has gasPrice, not maxFeePerGas or maxPriorityFeePerGas")
        }
        guard kind != .legacy || accessList.isEmpty else { throw EthereumError.invalid("a legacy transaction has no access list") }
        guard kind == .legacy || chainID != nil else { throw EthereumError.invalid("a \(kind.name) transaction needs a chain id") }
        if let chainID {
            guard chainID >= 1 else { throw EthereumError.invalid("chainId must be at least 1") }
            // v = chainId × 2 + 36 must fit a 64-bit word for the legacy encoding.
            guard chainID <= (UInt64.max - 36) / 2 else { throw EthereumError.invalid("chainId is too large") }
        }
        guard value.bitWidth <= 256 else { throw EthereumError.invalid("value does not fit in 256 bits") }
        switch fees {
        case .gasPrice(let price):
            guard price.bitWidth <= 256 else { throw EthereumError.invalid("gasPrice does not fit in 256 bits") }
        case .dynamic(let tip, let cap):
            guard tip.bitWidth <= 256, cap.bitWidth <= 256 else { throw EthereumError.invalid("a fee does not fit in 256 bits") }
        }
        self.kind = kind
        self.chainID = chainID
        self.nonce = nonce
        self.fees = fees
        self.gas = gas
        self.to = to
        self.value = value
        self.data = data
        self.accessList = accessList
    }

    /// The highest price per gas the sender may pay: gasPrice, or maxFeePerGas.
    public var maximumGasPrice: BigUInt {
        switch fees {
        case .gasPrice(let price): price
        case .dynamic(_, let cap): cap
        }
    }

    // MARK: Encoding

    /// The fields every type shares, in the order of its RLP list.
    var fieldItems: [RLP] {
        let target: RLP = .bytes(to?.bytes ?? [])
        let list: RLP = .list(accessList.map { .list([.bytes($0.address.bytes), .list($0.storageKeys.map { .bytes($0) })]) })
        switch (kind, fees) {
        case (.legacy, .gasPrice(let price)):
            return [.integer(nonce), .integer(price), .integer(gas), target, .integer(value), .bytes(data)]
        case (.accessList, .gasPrice(let price)):
            return [.integer(chainID!), .integer(nonce), .integer(price), .integer(gas), target, .integer(value), .bytes(data), list]
        case (.dynamicFee, .dynamic(let tip, let cap)):
            return [.integer(chainID!), .integer(nonce), .integer(tip), .integer(cap), .integer(gas), target, .integer(value), .bytes(data), list]
        default:
            preconditionFailure("fees checked against the kind at initialisation")
        }
    }

    /// What the signature covers.
    public var signingPayload: [UInt8] {
        switch kind {
        case .legacy:
            // EIP-155: the six fields, then (chainId, 0, 0).
            var items = fieldItems
            if let chainID { items += [.integer(chainID), .bytes([]), .bytes([])] }
            return RLP.list(items).encoded
        case .accessList, .dynamicFee:
            return [kind.rawValue] + RLP.list(fieldItems).encoded
        }
    }

    /// Keccak-256 of the signing payload: the digest the account's key signs.
    public var signingHash: [UInt8] { Keccak256.hash(data: signingPayload) }

    /// The transaction with its signature. The signature must be low-s (EIP-2): libsecp256k1
    /// only makes low-s ones.
    public func signed(with signature: Secp256k1.RecoverableSignature) throws(EthereumError) -> SignedEthereumTransaction {
        guard signature.signature.isLowS else { throw EthereumError.refused("the signature has a high s (EIP-2)") }
        guard signature.recoveryID <= 1 else { throw EthereumError.refused("the signature's recovery id does not fit a transaction") }
        return SignedEthereumTransaction(transaction: self, signature: signature)
    }

    // MARK: JSON

    static let jsonFields: Set<String> = [
        "type", "chainId", "nonce", "gas", "gasLimit", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas",
        "to", "value", "data", "input", "accessList", "from",
    ]

    /// A transaction as web3 tooling writes it (eth-account's dict, JSON-RPC's
    /// `eth_signTransaction` object): quantities as numbers, decimal or 0x strings.
    ///
    /// `chainId` must be present: a number, or `null` for a legacy transaction without
    /// replay protection. `type` is optional: 2 when a fee cap is given, 1 with only an
    /// access list, else 0. `from`, if given, is returned for the caller to check against
    /// the signing account.
    public static func parse(json: JSONValue) throws(EthereumError) -> (transaction: EthereumTransaction, from: EthereumAddress?) {
        let members = try Field.object(json, "the transaction")
        try Field.onlyKnown(members, jsonFields, in: "the transaction")
        func present(_ name: String) -> JSONValue? {
            guard let value = members[name], value != .null else { return nil }
            return value
        }
        let kind: Kind
        if let type = present("type") {
            let number = try Field.quantity(type, "type", bits: 8)
            guard let known = Kind(rawValue: UInt8(number)) else {
                throw EthereumError.refused("transaction type \(number) is not supported (0, 1 and 2 are)")
            }
            kind = known
        } else if present("maxFeePerGas") != nil || present("maxPriorityFeePerGas") != nil {
            kind = .dynamicFee
        } else if present("accessList") != nil {
            kind = .accessList
        } else {
            kind = .legacy
        }
        guard let chainValue = members["chainId"] else {
            throw EthereumError.invalid("chainId is missing (a legacy transaction without replay protection says \"chainId\": null)")
        }
        let chainID: UInt64? = chainValue == .null ? nil : try Field.uint64(chainValue, "chainId")
        guard let nonceValue = present("nonce") else { throw EthereumError.invalid("nonce is missing") }
        let nonce = try Field.uint64(nonceValue, "nonce")
        if present("gas") != nil, present("gasLimit") != nil { throw EthereumError.invalid("give gas or gasLimit, not both") }
        guard let gasValue = present("gas") ?? present("gasLimit") else { throw EthereumError.invalid("gas is missing") }
        let gas = try Field.uint64(gasValue, "gas")
        let fees: Fees
        switch kind {
        case .legacy, .accessList:
            if present("maxFeePerGas") != nil || present("maxPriorityFeePerGas") != nil {
                throw EthereumError.invalid("a \(kind.name) transaction has gasPrice, not maxFeePerGas or maxPriorityFeePerGas")
            }
            guard let price = present("gasPrice") else { throw EthereumError.invalid("gasPrice is missing") }
            fees = .gasPrice(try Field.quantity(price, "gasPrice"))
        case .dynamicFee:
            guard present("gasPrice") == nil else {
                throw EthereumError.invalid("an EIP-1559 transaction has maxFeePerGas and maxPriorityFeePerGas, not gasPrice")
            }
            guard let cap = present("maxFeePerGas") else { throw EthereumError.invalid("maxFeePerGas is missing") }
            guard let tip = present("maxPriorityFeePerGas") else { throw EthereumError.invalid("maxPriorityFeePerGas is missing") }
            fees = .dynamic(maxPriorityFeePerGas: try Field.quantity(tip, "maxPriorityFeePerGas"),
                            maxFeePerGas: try Field.quantity(cap, "maxFeePerGas"))
        }
        var to: EthereumAddress?
        if let target = present("to") {
            // eth-account and web3 write a contract creation as "to": "0x" or omit it.
            if target != .string("0x"), target != .string("") { to = try Field.address(target, "to") }
        }
        let value = try present("value").map { v throws(EthereumError) in try Field.quantity(v, "value") } ?? 0
        if present("data") != nil, present("input") != nil, members["data"] != members["input"] {
            throw EthereumError.invalid("data and input differ: give one")
        }
        let data = try (present("data") ?? present("input")).map { v throws(EthereumError) in try Field.bytes(v, "data") } ?? []
        var accessList: [AccessListEntry] = []
        if let list = present("accessList") {
            guard kind != .legacy else { throw EthereumError.invalid("a legacy transaction has no access list") }
            for (index, entry) in try Field.array(list, "accessList").enumerated() {
                let name = "accessList[\(index)]"
                let fields = try Field.object(entry, name)
                try Field.onlyKnown(fields, ["address", "storageKeys"], in: name)
                guard let address = fields["address"] else { throw EthereumError.invalid("\(name).address is missing") }
                let keys = try Field.array(fields["storageKeys"] ?? .array([]), "\(name).storageKeys").enumerated().map { (i, key) throws(EthereumError) in
                    let bytes = try Field.bytes(key, "\(name).storageKeys[\(i)]")
                    guard bytes.count == 32 else { throw EthereumError.invalid("\(name).storageKeys[\(i)] must be 32 bytes") }
                    return bytes
                }
                accessList.append(try AccessListEntry(address: try Field.address(address, "\(name).address"), storageKeys: keys))
            }
        }
        let from = try present("from").map { v throws(EthereumError) in try Field.address(v, "from") }
        let transaction = try EthereumTransaction(kind: kind, chainID: chainID, nonce: nonce, fees: fees, gas: gas, to: to,
                                                  value: value, data: data, accessList: accessList)
        return (transaction, from)
    }

    /// The fields as JSON-RPC writes them (quantities as 0x hex), for `decode-tx` and the API.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "type": .string(Field.quantityText(BigUInt(kind.rawValue))),
            "chainId": chainID.map { .string(Field.quantityText(BigUInt($0))) } ?? .null,
            "nonce": .string(Field.quantityText(BigUInt(nonce))),
            "gas": .string(Field.quantityText(BigUInt(gas))),
            "to": to.map { .string($0.checksummed) } ?? .null,
            "value": .string(Field.quantityText(value)),
            "input": .string("0x" + Hex.encode(data)),
        ]
        switch fees {
        case .gasPrice(let price): members["gasPrice"] = .string(Field.quantityText(price))
        case .dynamic(let tip, let cap):
            members["maxPriorityFeePerGas"] = .string(Field.quantityText(tip))
            members["maxFeePerGas"] = .string(Field.quantityText(cap))
        }
        if kind != .legacy {
            members["accessList"] = .array(accessList.map {
                .object(["address": .string($0.address.checksummed),
                         "storageKeys": .array($0.storageKeys.map { .string("0x" + Hex.encode($0)) })])
            })
        }
        return .object(members)
    }
}
