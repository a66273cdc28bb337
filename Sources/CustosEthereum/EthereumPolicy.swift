import BigInt
import CustosJSON

/// What an account may sign, checked before anything is signed. Every rule is optional:
/// a policy with none set allows everything. Values are in wei, and the daily limit
/// counts per chain (the same number of wei is a different asset on another chain)
/// over the UTC calendar day.
public struct EthereumPolicy: Hashable, Sendable {
    /// The chains a transaction may be for (nil: any). A transaction without replay
    /// protection names no chain, so it is refused once this is set.
    public var chainIDs: [UInt64]?
    /// The addresses a transaction may send to (nil: any). A contract creation has no
    /// recipient, so it is refused once this is set.
    public var recipients: [EthereumAddress]?
    /// The most one transaction may transfer.
    public var maxValue: BigUInt?
    /// The highest gasPrice, or maxFeePerGas, a transaction may offer.
    public var maxGasPrice: BigUInt?
    /// The most all transactions signed on one chain in one UTC day may transfer.
    public var dailyValueLimit: BigUInt?
    /// Whether EIP-191 messages and EIP-712 typed data may be signed (a typed-data
    /// permit can move tokens without a transaction, so a locked-down account refuses them).
    public var signMessages: Bool

    public init(chainIDs: [UInt64]? = nil, recipients: [EthereumAddress]? = nil, maxValue: BigUInt? = nil,
                maxGasPrice: BigUInt? = nil, dailyValueLimit: BigUInt? = nil, signMessages: Bool = true) {
        self.chainIDs = chainIDs
        self.recipients = recipients
        self.maxValue = maxValue
        self.maxGasPrice = maxGasPrice
        self.dailyValueLimit = dailyValueLimit
        self.signMessages = signMessages
    }

    /// A policy that restricts nothing.
    public static let unrestricted = EthereumPolicy()

    /// The most chain ids or recipients one policy lists.
    public static let maximumEntries = 1000

    static let fields: Set<String> = ["chain_ids", "recipients", "max_value", "max_gas_price", "daily_value_limit", "sign_messages"]

    /// Reads a policy written as `json` writes it; quantities may also be numbers or 0x hex.
    public init(json: JSONValue) throws(EthereumError) {
        let members = try EthereumField.object(json, "the policy")
        try EthereumField.onlyKnown(members, Self.fields, in: "the policy")
        func present(_ name: String) -> JSONValue? {
            guard let value = members[name], value != .null else { return nil }
            return value
        }
        func list<T>(_ name: String, _ read: (JSONValue, String) throws(EthereumError) -> T) throws(EthereumError) -> [T]? {
            guard let value = present(name) else { return nil }
            let elements = try EthereumField.array(value, name)
            guard !elements.isEmpty else { throw EthereumError.invalid("\(name) lists nothing: leave it out to allow any") }
            guard elements.count <= Self.maximumEntries else { throw EthereumError.invalid("\(name) lists more than \(Self.maximumEntries) entries") }
            var result: [T] = []
            for (index, element) in elements.enumerated() { result.append(try read(element, "\(name)[\(index)]")) }
            return result
        }
        chainIDs = try list("chain_ids") { v, name throws(EthereumError) in
            let id = try EthereumField.uint64(v, name)
            guard id >= 1 else { throw EthereumError.invalid("\(name) must be at least 1") }
            return id
        }
        recipients = try list("recipients") { v, name throws(EthereumError) in try EthereumField.address(v, name) }
        maxValue = try present("max_value").map { v throws(EthereumError) in try EthereumField.quantity(v, "max_value") }
        maxGasPrice = try present("max_gas_price").map { v throws(EthereumError) in try EthereumField.quantity(v, "max_gas_price") }
        dailyValueLimit = try present("daily_value_limit").map { v throws(EthereumError) in try EthereumField.quantity(v, "daily_value_limit") }
        switch present("sign_messages") {
        case nil: signMessages = true
        case .bool(let allowed)?: signMessages = allowed
        case let other?: throw EthereumError.invalid("sign_messages must be true or false, not \(other.kind)")
        }
        chainIDs = chainIDs.map { Array(Set($0)).sorted() }
        recipients = recipients.map { Array(Set($0)).sorted() }
    }

    /// Quantities as decimal strings (wei), lists sorted: one policy has one text.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["sign_messages": .bool(signMessages)]
        if let chainIDs { members["chain_ids"] = .array(chainIDs.map { .number(String($0)) }) }
        if let recipients { members["recipients"] = .array(recipients.map { .string($0.checksummed) }) }
        if let maxValue { members["max_value"] = .string(String(maxValue)) }
        if let maxGasPrice { members["max_gas_price"] = .string(String(maxGasPrice)) }
        if let dailyValueLimit { members["daily_value_limit"] = .string(String(dailyValueLimit)) }
        return .object(members)
    }

    /// Refuses a transaction outside the policy, naming the first rule it breaks.
    /// `spentToday` is what the account already transferred on the transaction's chain today.
    public func check(_ transaction: EthereumTransaction, spentToday: BigUInt) throws(EthereumPolicyRefusal) {
        if let chainIDs {
            guard let chain = transaction.chainID else {
                throw EthereumPolicyRefusal(rule: "chain_ids", reason: "the transaction has no chain id (no replay protection); the account signs only for chain \(Self.list(chainIDs))")
            }
            guard chainIDs.contains(chain) else {
                throw EthereumPolicyRefusal(rule: "chain_ids", reason: "chain \(chain) is not one the account signs for (\(Self.list(chainIDs)))")
            }
        }
        if let recipients {
            guard let to = transaction.to else {
                throw EthereumPolicyRefusal(rule: "recipients", reason: "a contract creation has no recipient, and the account sends only to listed recipients")
            }
            guard recipients.contains(to) else {
                throw EthereumPolicyRefusal(rule: "recipients", reason: "\(to.checksummed) is not an allowed recipient")
            }
        }
        if let maxValue, transaction.value > maxValue {
            throw EthereumPolicyRefusal(rule: "max_value", reason: "value \(transaction.value) wei exceeds the maximum of \(maxValue) wei")
        }
        if let maxGasPrice, transaction.maximumGasPrice > maxGasPrice {
            throw EthereumPolicyRefusal(rule: "max_gas_price",
                                        reason: "a gas price of \(transaction.maximumGasPrice) wei exceeds the maximum of \(maxGasPrice) wei")
        }
        if let dailyValueLimit, spentToday + transaction.value > dailyValueLimit {
            throw EthereumPolicyRefusal(rule: "daily_value_limit",
                                        reason: "value \(transaction.value) wei would bring today's total to \(spentToday + transaction.value) wei, over the daily limit of \(dailyValueLimit) wei")
        }
    }

    /// Refuses a message or typed data when the account signs transactions only.
    public func checkMessage() throws(EthereumPolicyRefusal) {
        guard signMessages else {
            throw EthereumPolicyRefusal(rule: "sign_messages", reason: "the account signs transactions only, not messages or typed data")
        }
    }

    /// Refuses typed data whose domain names a chain outside `chain_ids`; `chain` is nil
    /// when the domain's chainId is beyond any chain id.
    public func checkTypedDataChain(_ chain: UInt64?) throws(EthereumPolicyRefusal) {
        if let chainIDs, !chainIDs.contains(where: { $0 == chain }) {
            throw EthereumPolicyRefusal(
                rule: "chain_ids", reason: "the typed data's domain is for chain \(chain.map(String.init) ?? "(out of range)"), not one the account signs for")
        }
    }

    private static func list(_ ids: [UInt64]) -> String { ids.map(String.init).joined(separator: ", ") }
}

/// A request outside an account's policy: the rule it breaks and why.
public struct EthereumPolicyRefusal: Error, Equatable, CustomStringConvertible {
    public let rule: String
    public let reason: String

    public init(rule: String, reason: String) {
        self.rule = rule
        self.reason = reason
    }

    public var description: String { "refused by the account's policy (\(rule)): \(reason)" }
}
