import BigInt
import CustosCrypto
import CustosJSON
import Foundation

/// A signed transaction: what `eth_sendRawTransaction` takes, its hash, and its sender.
public struct SignedEthereumTransaction: Hashable, Sendable {
    public let transaction: EthereumTransaction
    public let signature: Secp256k1.RecoverableSignature

    init(transaction: EthereumTransaction, signature: Secp256k1.RecoverableSignature) {
        self.transaction = transaction
        self.signature = signature
    }

    /// Legacy: 27 + y, or chainId × 2 + 35 + y (EIP-155). Typed: the y parity, 0 or 1.
    public var v: UInt64 {
        let parity = UInt64(signature.recoveryID)
        switch (transaction.kind, transaction.chainID) {
        case (.legacy, nil): return 27 + parity
        case (.legacy, let chainID?): return chainID * 2 + 35 + parity
        default: return parity
        }
    }

    public var r: [UInt8] { Array(signature.rawRepresentation[0..<32]) }
    public var s: [UInt8] { Array(signature.rawRepresentation[32..<64]) }

    /// The bytes a node's `eth_sendRawTransaction` accepts.
    public var raw: [UInt8] {
        let list = RLP.list(transaction.fieldItems + [.integer(v), .integer(BigUInt(Data(r))), .integer(BigUInt(Data(s)))]).encoded
        return transaction.kind == .legacy ? list : [transaction.kind.rawValue] + list
    }

    /// Keccak-256 of the raw transaction: the hash a node reports for it.
    public var hash: [UInt8] { Keccak256.hash(data: raw) }

    /// The account that signed it.
    public func sender() throws(EthereumError) -> EthereumAddress {
        do {
            return EthereumAddress(publicKey: try Secp256k1.PublicKey.recover(from: signature, forDigest: transaction.signingHash))
        } catch {
            throw EthereumError.refused("no sender can be recovered from the signature")
        }
    }

    // MARK: Decoding

    /// Reads a raw signed transaction, refusing anything a node would refuse or read
    /// two ways: malformed or non-canonical RLP, trailing bytes, an unknown type, a `v`
    /// that fits no chain (or not `expectedChainID`), r or s out of range, high s.
    public init(raw: some Collection<UInt8>, expectedChainID: UInt64? = nil) throws(EthereumError) {
        let bytes = Array(raw)
        guard let first = bytes.first else { throw EthereumError.invalid("the raw transaction is empty") }
        let kind: EthereumTransaction.Kind
        let list: RLP
        do {
            if first >= 0xc0 {
                kind = .legacy
                list = try RLP.decode(bytes)
            } else if let typed = EthereumTransaction.Kind(rawValue: first), typed != .legacy {
                kind = typed
                list = try RLP.decode(bytes.dropFirst())
            } else if first <= 0x7f {
                throw EthereumError.refused("transaction type \(first) is not supported (0, 1 and 2 are)")
            } else {
                throw EthereumError.invalid("a raw transaction starts with a type byte or an RLP list")
            }
        } catch let error as RLPError {
            throw EthereumError.invalid(error.description)
        } catch let error as EthereumError {
            throw error
        } catch {
            throw EthereumError.invalid("\(error)")
        }
        do {
            let items = try list.items("the transaction")
            let expectedCount = switch kind { case .legacy: 9; case .accessList: 11; case .dynamicFee: 12 }
            guard items.count == expectedCount else {
                throw EthereumError.invalid("a \(kind.name) transaction has \(expectedCount) fields, this one \(items.count)")
            }
            var index = 0
            func next() -> RLP { defer { index += 1 }; return items[index] }
            func address(_ item: RLP, _ field: String) throws -> EthereumAddress? {
                let bytes = try item.bytes(field)
                if bytes.isEmpty { return nil }
                guard bytes.count == 20 else { throw EthereumError.invalid("\(field) must be empty or 20 bytes") }
                return try EthereumAddress(bytes: bytes)
            }
            var chainID: UInt64?
            if kind != .legacy { chainID = try next().uint64("chainId") }
            let nonce = try next().uint64("nonce")
            let fees: EthereumTransaction.Fees
            if kind == .dynamicFee {
                let tip = try next().integer("maxPriorityFeePerGas")
                fees = .dynamic(maxPriorityFeePerGas: tip, maxFeePerGas: try next().integer("maxFeePerGas"))
            } else {
                fees = .gasPrice(try next().integer("gasPrice"))
            }
            let gas = try next().uint64("gas")
            let to = try address(next(), "to")
            let value = try next().integer("value")
            let data = try next().bytes("data")
            var accessList: [EthereumTransaction.AccessListEntry] = []
            if kind != .legacy {
                for (i, entry) in try next().items("accessList").enumerated() {
                    let pair = try entry.items("accessList[\(i)]")
                    guard pair.count == 2, let entryAddress = try address(pair[0], "accessList[\(i)].address") else {
                        throw EthereumError.invalid("accessList[\(i)] must be [address, [storage keys]]")
                    }
                    let keys = try pair[1].items("accessList[\(i)].storageKeys").map { key in
                        let bytes = try key.bytes("a storage key")
                        guard bytes.count == 32 else { throw EthereumError.invalid("accessList[\(i)] has a storage key that is not 32 bytes") }
                        return bytes
                    }
                    accessList.append(try .init(address: entryAddress, storageKeys: keys))
                }
            }
            let v = try next().integer("v", bits: 64)
            let recoveryID: UInt8
            if kind == .legacy {
                let number = UInt64(v)
                switch number {
                case 27, 28: recoveryID = UInt8(number - 27)
                case 35...:
                    chainID = (number - 35) / 2
                    recoveryID = UInt8((number - 35) % 2)
                default:
                    throw EthereumError.refused("v = \(number) fits no chain (27 or 28, or chainId × 2 + 35 or 36)")
                }
            } else {
                guard v <= 1 else { throw EthereumError.refused("yParity must be 0 or 1") }
                recoveryID = UInt8(v)
            }
            if let expectedChainID {
                guard let chainID else {
                    throw EthereumError.refused("the transaction has no replay protection (pre-EIP-155); chain \(expectedChainID) was expected")
                }
                guard chainID == expectedChainID else {
                    throw EthereumError.refused("the transaction is for chain \(chainID), not \(expectedChainID)")
                }
            }
            let r = try next().integer("r"), s = try next().integer("s")
            guard !r.isZero, !s.isZero else { throw EthereumError.refused("r and s must not be zero") }
            let rawSignature = Self.word(r) + Self.word(s)
            let signature: Secp256k1.RecoverableSignature
            do {
                signature = try Secp256k1.RecoverableSignature(rawRepresentation: rawSignature, recoveryID: recoveryID)
            } catch {
                throw EthereumError.refused("r or s is not below the curve order")
            }
            guard signature.signature.isLowS else { throw EthereumError.refused("the signature has a high s (EIP-2)") }
            self.transaction = try EthereumTransaction(kind: kind, chainID: chainID, nonce: nonce, fees: fees, gas: gas,
                                                       to: to, value: value, data: data, accessList: accessList)
            self.signature = signature
        } catch let error as RLPError {
            throw EthereumError.invalid(error.reason)
        } catch let error as EthereumError {
            throw error
        } catch {
            throw EthereumError.invalid("\(error)")
        }
        // Re-encoding must give the input back: a second spelling of the same transaction
        // would carry another hash.
        guard raw.elementsEqual(self.raw) else { throw EthereumError.invalid("the transaction is not in its canonical encoding") }
    }

    static func word(_ value: BigUInt) -> [UInt8] {
        let bytes = Array(value.serialize())
        return [UInt8](repeating: 0, count: max(0, 32 - bytes.count)) + bytes
    }

    /// The fields, signature, hash and sender as JSON (quantities 0x hex).
    public func json() throws(EthereumError) -> JSONValue {
        guard case .object(var members) = transaction.json else { preconditionFailure("a transaction is a JSON object") }
        members["v"] = .string(EthereumField.quantityText(BigUInt(v)))
        members["r"] = .string(EthereumField.quantityText(BigUInt(Data(r))))
        members["s"] = .string(EthereumField.quantityText(BigUInt(Data(s))))
        if transaction.kind != .legacy { members["yParity"] = .string(EthereumField.quantityText(BigUInt(signature.recoveryID))) }
        members["hash"] = .string("0x" + Hex.encode(hash))
        members["from"] = .string(try sender().checksummed)
        members["raw"] = .string("0x" + Hex.encode(raw))
        return .object(members)
    }
}
