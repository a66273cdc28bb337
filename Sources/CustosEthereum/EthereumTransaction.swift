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
    /// `chainId` and `nonce` must be present: `chainId` a number, or `null` for a legacy
    /// transaction without replay protection. (`EthereumTransactionRequest` leaves both to
    /// the signer.) `type` is optional: 2 when a fee cap is given, 1 with only an access
    /// list, else 0. `from`, if given, is returned for the caller to check against the
    /// signing account.
    public static func parse(json: JSONValue) throws(EthereumError) -> (transaction: EthereumTransaction, from: EthereumAddress?) {
        let request = try EthereumTransactionRequest(json: json)
        let chainID: UInt64?
        switch request.chain {
        case .unspecified:
            throw EthereumError.invalid("chainId is missing (a legacy transaction without replay protection says \"chainId\": null)")
        case .withoutReplayProtection: chainID = nil
        case .id(let id): chainID = id
        }
        guard let nonce = request.nonce else { throw EthereumError.invalid("nonce is missing") }
        return (try request.transaction(chainID: chainID, nonce: nonce), request.from)
    }

    /// The fields as JSON-RPC writes them (quantities as 0x hex), for `decode-tx` and the API.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "type": .string(EthereumField.quantityText(BigUInt(kind.rawValue))),
            "chainId": chainID.map { .string(EthereumField.quantityText(BigUInt($0))) } ?? .null,
            "nonce": .string(EthereumField.quantityText(BigUInt(nonce))),
            "gas": .string(EthereumField.quantityText(BigUInt(gas))),
            "to": to.map { .string($0.checksummed) } ?? .null,
            "value": .string(EthereumField.quantityText(value)),
            "input": .string("0x" + Hex.encode(data)),
        ]
        switch fees {
        case .gasPrice(let price): members["gasPrice"] = .string(EthereumField.quantityText(price))
        case .dynamic(let tip, let cap):
            members["maxPriorityFeePerGas"] = .string(EthereumField.quantityText(tip))
            members["maxFeePerGas"] = .string(EthereumField.quantityText(cap))
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
