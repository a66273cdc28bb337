import BigInt
import CustosCrypto
import CustosJSON

/// A transaction as a caller asks for it to be signed: every field of
/// `EthereumTransaction` except that the chain id and the nonce may be left to the
/// signer (the tenant's chain, the account's next nonce).
public struct EthereumTransactionRequest: Sendable {
    public enum Chain: Hashable, Sendable {
        /// No `chainId` member: the signer's configured chain.
        case unspecified
        /// `"chainId": null`: a legacy transaction without replay protection.
        case withoutReplayProtection
        case id(UInt64)
    }

    public let kind: EthereumTransaction.Kind
    public let chain: Chain
    /// Nil: the signer picks the account's next nonce.
    public let nonce: UInt64?
    public let fees: EthereumTransaction.Fees
    public let gas: UInt64
    public let to: EthereumAddress?
    public let value: BigUInt
    public let data: [UInt8]
    public let accessList: [EthereumTransaction.AccessListEntry]
    /// The `from` member, for the caller to check against the signing account.
    public let from: EthereumAddress?

    /// Reads the JSON as `EthereumTransaction.parse(json:)` does, with `chainId` and
    /// `nonce` optional.
    public init(json: JSONValue) throws(EthereumError) {
        let members = try EthereumField.object(json, "the transaction")
        try EthereumField.onlyKnown(members, EthereumTransaction.jsonFields, in: "the transaction")
        func present(_ name: String) -> JSONValue? {
            guard let value = members[name], value != .null else { return nil }
            return value
        }
        let kind: EthereumTransaction.Kind
        if let type = present("type") {
            let number = try EthereumField.quantity(type, "type", bits: 8)
            guard let known = EthereumTransaction.Kind(rawValue: UInt8(number)) else {
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
        self.kind = kind
        switch members["chainId"] {
        case nil: chain = .unspecified
        case .null?: chain = .withoutReplayProtection
        case let value?: chain = .id(try EthereumField.uint64(value, "chainId"))
        }
        nonce = try present("nonce").map { v throws(EthereumError) in try EthereumField.uint64(v, "nonce") }
        if present("gas") != nil, present("gasLimit") != nil { throw EthereumError.invalid("give gas or gasLimit, not both") }
        guard let gasValue = present("gas") ?? present("gasLimit") else { throw EthereumError.invalid("gas is missing") }
        gas = try EthereumField.uint64(gasValue, "gas")
        switch kind {
        case .legacy, .accessList:
            if present("maxFeePerGas") != nil || present("maxPriorityFeePerGas") != nil {
                throw EthereumError.invalid("a \(kind.name) transaction has gasPrice, not maxFeePerGas or maxPriorityFeePerGas")
            }
            guard let price = present("gasPrice") else { throw EthereumError.invalid("gasPrice is missing") }
            fees = .gasPrice(try EthereumField.quantity(price, "gasPrice"))
        case .dynamicFee:
            guard present("gasPrice") == nil else {
                throw EthereumError.invalid("an EIP-1559 transaction has maxFeePerGas and maxPriorityFeePerGas, not gasPrice")
            }
            guard let cap = present("maxFeePerGas") else { throw EthereumError.invalid("maxFeePerGas is missing") }
            guard let tip = present("maxPriorityFeePerGas") else { throw EthereumError.invalid("maxPriorityFeePerGas is missing") }
            fees = .dynamic(maxPriorityFeePerGas: try EthereumField.quantity(tip, "maxPriorityFeePerGas"),
                            maxFeePerGas: try EthereumField.quantity(cap, "maxFeePerGas"))
        }
        // eth-account and web3 write a contract creation as "to": "0x" or omit it.
        if let target = present("to"), target != .string("0x"), target != .string("") {
            to = try EthereumField.address(target, "to")
        } else {
            to = nil
        }
        value = try present("value").map { v throws(EthereumError) in try EthereumField.quantity(v, "value") } ?? 0
        if present("data") != nil, present("input") != nil, members["data"] != members["input"] {
            throw EthereumError.invalid("data and input differ: give one")
        }
        data = try (present("data") ?? present("input")).map { v throws(EthereumError) in try EthereumField.bytes(v, "data") } ?? []
        var accessList: [EthereumTransaction.AccessListEntry] = []
        if let list = present("accessList") {
            guard kind != .legacy else { throw EthereumError.invalid("a legacy transaction has no access list") }
            for (index, entry) in try EthereumField.array(list, "accessList").enumerated() {
                let name = "accessList[\(index)]"
                let fields = try EthereumField.object(entry, name)
                try EthereumField.onlyKnown(fields, ["address", "storageKeys"], in: name)
                guard let address = fields["address"] else { throw EthereumError.invalid("\(name).address is missing") }
                let keys = try EthereumField.array(fields["storageKeys"] ?? .array([]), "\(name).storageKeys").enumerated().map { (i, key) throws(EthereumError) in
                    let bytes = try EthereumField.bytes(key, "\(name).storageKeys[\(i)]")
                    guard bytes.count == 32 else { throw EthereumError.invalid("\(name).storageKeys[\(i)] must be 32 bytes") }
                    return bytes
                }
                accessList.append(try EthereumTransaction.AccessListEntry(address: try EthereumField.address(address, "\(name).address"), storageKeys: keys))
            }
        }
        self.accessList = accessList
        from = try present("from").map { v throws(EthereumError) in try EthereumField.address(v, "from") }
    }

    /// A request for exactly this transaction (its chain and nonce set).
    public init(_ transaction: EthereumTransaction) {
        kind = transaction.kind
        chain = transaction.chainID.map { .id($0) } ?? .withoutReplayProtection
        nonce = transaction.nonce
        fees = transaction.fees
        gas = transaction.gas
        to = transaction.to
        value = transaction.value
        data = transaction.data
        accessList = transaction.accessList
        from = nil
    }

    /// The transaction with the chain and nonce filled in (every field checked again).
    public func transaction(chainID: UInt64?, nonce: UInt64) throws(EthereumError) -> EthereumTransaction {
        try EthereumTransaction(kind: kind, chainID: chainID, nonce: nonce, fees: fees, gas: gas, to: to,
                                value: value, data: data, accessList: accessList)
    }
}
