import BigInt
import CustosCrypto
import CustosJSON
import Foundation
import Testing

@testable import CustosEthereum

@Suite("Ethereum transactions")
struct TransactionTests {
    static func signingVectors() throws -> [JSONValue] { try EthereumVectors.load("signing.json")["transactions"]?.arrayValue ?? [] }

    /// eth-account signs with RFC 6979 nonces, as libsecp256k1 does: the same key and
    /// transaction must give the same bytes, not just a signature that verifies.
    @Test func eachEthAccountTransactionIsReproducedByteForByte() throws {
        let vectors = try Self.signingVectors()
        #expect(vectors.count == 9)
        var kinds: Set<EthereumTransaction.Kind> = []
        for vector in vectors {
            let kind = try #require(vector["kind"]?.stringValue)
            let key = try Secp256k1.PrivateKey(rawRepresentation: [UInt8](hex: try #require(vector["key"]?.stringValue)))
            let (transaction, from) = try EthereumTransaction.parse(json: try #require(vector["transaction"]))
            #expect(from == nil)
            let signed = try transaction.signed(with: try key.recoverableSignature(forDigest: transaction.signingHash))
            #expect(Hex.encode(signed.raw) == vector["raw"]?.stringValue, "\(kind) raw")
            #expect(Hex.encode(signed.hash) == vector["hash"]?.stringValue, "\(kind) hash")
            #expect(try signed.sender().checksummed == vector["sender"]?.stringValue, "\(kind) sender")
            #expect(vector["v"] == .number(String(signed.v)), "\(kind) v")
            kinds.insert(transaction.kind)
            if kind == "legacy-pre155" { #expect(transaction.chainID == nil && signed.v >= 27 && signed.v <= 28) }
            if kind.hasSuffix("create") { #expect(transaction.to == nil) }
        }
        #expect(kinds == Set(EthereumTransaction.Kind.allCases))
    }

    @Test func decodingGivesTheFieldsBackAndReencodesToTheSameBytes() throws {
        for vector in try Self.signingVectors() {
            let kind = try #require(vector["kind"]?.stringValue)
            let raw = [UInt8](hex: try #require(vector["raw"]?.stringValue))
            let decoded = try SignedEthereumTransaction(raw: raw)
            let (written, _) = try EthereumTransaction.parse(json: try #require(vector["transaction"]))
            #expect(decoded.transaction == written, "\(kind)")
            #expect(decoded.raw == raw)
            #expect(try decoded.sender().checksummed == vector["sender"]?.stringValue)
            #expect("0x" + String(BigUInt(Data(decoded.r)), radix: 16) == vector["r"]?.stringValue)
            // The JSON view parses back to the same transaction.
            let (again, from) = try EthereumTransaction.parse(json: try decoded.json().removing(["v", "r", "s", "yParity", "hash", "raw"]))
            let sender = try decoded.sender()
            #expect(again == written && from == sender)
            if let chainID = written.chainID {
                #expect(throws: EthereumError.refused("the transaction is for chain \(chainID), not \(chainID + 1)")) {
                    try SignedEthereumTransaction(raw: raw, expectedChainID: chainID + 1)
                }
                #expect(try SignedEthereumTransaction(raw: raw, expectedChainID: chainID) == decoded)
            } else {
                #expect(throws: EthereumError.self) { try SignedEthereumTransaction(raw: raw, expectedChainID: 1) }
            }
        }
    }

    /// The older vector file: 19 signed transactions and 3 broken ones.
    @Test func theTransactionVectorsGiveTheirSendersAndHashes() throws {
        let vectors = try EthereumVectors.load("transactions.json")["transactions"]?.arrayValue ?? []
        var valid = 0, refused = 0
        for vector in vectors {
            let raw = [UInt8](hex: try #require(vector["raw"]?.stringValue))
            let sender = try #require(vector["sender"]?.stringValue)
            if vector["valid"] == .bool(true) {
                let decoded = try SignedEthereumTransaction(raw: raw)
                #expect(try decoded.sender().checksummed == sender)
                #expect(Hex.encode(decoded.hash) == vector["tx_hash"]?.stringValue)
                #expect(vector["v"] == .number(String(decoded.v)))
                valid += 1
            } else {
                // Refused, or (a flipped payload byte) decoded to another sender.
                let outcome = try? SignedEthereumTransaction(raw: raw).sender().checksummed
                #expect(outcome != sender, "\(vector["why"]?.stringValue ?? "")")
                refused += 1
            }
        }
        #expect(valid == 19 && refused == 3)
    }

    static func aSignedTransaction() throws -> (SignedEthereumTransaction, [UInt8]) {
        let vector = try #require(try Self.signingVectors().first { $0["kind"] == .string("eip1559") })
        let raw = [UInt8](hex: try #require(vector["raw"]?.stringValue))
        return (try SignedEthereumTransaction(raw: raw), raw)
    }

    @Test func aHighSIsRefusedThoughItRecoversTheSameSender() throws {
        let (signed, _) = try Self.aSignedTransaction()
        let order = BigUInt("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", radix: 16)!
        let highS = order - BigUInt(Data(signed.s))
        var items = try RLP.decode(signed.raw.dropFirst()).items("tx")
        items[items.count - 1] = .integer(highS)
        items[items.count - 3] = .integer(UInt64(1 - signed.signature.recoveryID))
        let malleated = [0x02] + RLP.list(items).encoded
        #expect(throws: EthereumError.refused("the signature has a high s (EIP-2)")) { try SignedEthereumTransaction(raw: malleated) }
    }

    @Test func badInputIsRefusedWithTheReason() throws {
        let (_, raw) = try Self.aSignedTransaction()
        let items = try RLP.decode(raw.dropFirst()).items("tx")
        func typed(_ items: [RLP], type: UInt8 = 2) -> [UInt8] { [type] + RLP.list(items).encoded }
        var badParity = items
        badParity[items.count - 3] = .integer(UInt64(2))
        var zeroR = items
        zeroR[items.count - 2] = .bytes([])
        var paddedNonce = items
        paddedNonce[1] = .bytes([0x00, 0x2a])
        var shortTo = items
        shortTo[5] = .bytes([0x01, 0x02])
        let cases: [([UInt8], String)] = [
            ([], "the raw transaction is empty"),
            (raw + [0x00], "follow"),
            (Array(raw.dropLast()), "runs past"),
            ([0x03] + Array(raw.dropFirst()), "transaction type 3 is not supported"),
            ([0x05, 0xc0], "transaction type 5 is not supported"),
            ([0x80], "starts with a type byte or an RLP list"),
            (typed(badParity), "yParity must be 0 or 1"),
            (typed(zeroR), "r and s must not be zero"),
            (typed(paddedNonce), "nonce has a leading zero byte"),
            (typed(shortTo), "to must be empty or 20 bytes"),
            (typed(Array(items.dropLast())), "has 12 fields, this one 11"),
            (typed(items, type: 1), "has 11 fields, this one 12"),
        ]
        for (input, reason) in cases {
            let error = #expect(throws: EthereumError.self) { try SignedEthereumTransaction(raw: input) }
            #expect(error.map { "\($0)".contains(reason) } == true, "\(reason): \(String(describing: error))")
        }
        // A legacy v that fits no chain.
        let legacy = try #require(try Self.signingVectors().first { $0["kind"] == .string("legacy-eip155") })
        var legacyItems = try RLP.decode([UInt8](hex: try #require(legacy["raw"]?.stringValue))).items("tx")
        for v: UInt64 in [0, 1, 26, 29, 34] {
            legacyItems[6] = .integer(v)
            #expect(throws: EthereumError.refused("v = \(v) fits no chain (27 or 28, or chainId × 2 + 35 or 36)")) {
                try SignedEthereumTransaction(raw: RLP.list(legacyItems).encoded)
            }
        }
    }

    @Test func transactionJSONIsCheckedFieldByField() throws {
        let base = #"{"type": 2, "chainId": 1, "nonce": 0, "gas": 21000, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1, "to": "0xc2F7E4D3b44Ec33a6a7f5d9fBAF5A0AAA5EAd388", "value": "0x10"}"#
        #expect(try EthereumTransaction.parse(json: JSONValue.parse(Array(base.utf8))).transaction.value == 16)
        let cases: [(String, String)] = [
            (#"{"nonce": 0, "gas": 1, "gasPrice": 1}"#, "chainId is missing"),
            (#"{"chainId": 1, "gas": 1, "gasPrice": 1}"#, "nonce is missing"),
            (#"{"chainId": 1, "nonce": 0, "gasPrice": 1}"#, "gas is missing"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1}"#, "gasPrice is missing"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1, "gasprice": 1}"#, "unknown field \"gasprice\""),
            (#"{"type": 3, "chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1}"#, "transaction type 3 is not supported"),
            (#"{"type": 2, "chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1}"#, "not gasPrice"),
            (#"{"type": 2, "chainId": 1, "nonce": 0, "gas": 1, "maxFeePerGas": 1, "maxPriorityFeePerGas": 2}"#, "must not exceed maxFeePerGas"),
            (#"{"type": 1, "chainId": null, "nonce": 0, "gas": 1, "gasPrice": 1}"#, "needs a chain id"),
            (#"{"chainId": 0, "nonce": 0, "gas": 1, "gasPrice": 1}"#, "chainId must be at least 1"),
            (#"{"type": 0, "chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1, "accessList": []}"#, "a legacy transaction has no access list"),
            (#"{"chainId": 1, "nonce": -1, "gas": 1, "gasPrice": 1}"#, "nonce must not be negative"),
            (#"{"chainId": 1, "nonce": 1.5, "gas": 1, "gasPrice": 1}"#, "nonce must be a whole number"),
            (#"{"chainId": 1, "nonce": "0x10000000000000000", "gas": 1, "gasPrice": 1}"#, "nonce does not fit in 64 bits"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1, "value": "0x1\#(String(repeating: "0", count: 64))"}"#, "value must be 0x and 1 to 64 hex digits"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1, "to": "0xC2f7e4d3b44ec33a6a7f5d9fbaf5a0aaa5ead388"}"#, "to fails its EIP-55 checksum"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1, "to": "0x1234"}"#, "to must be 0x and 40 hex digits"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1, "data": "0x123"}"#, "data must be 0x-prefixed hex"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1, "data": "0x12", "input": "0x34"}"#, "data and input differ"),
            (#"{"chainId": 1, "nonce": 0, "gas": 1, "gasPrice": true}"#, "gasPrice must be a number or a string, not a boolean"),
            (#"[1]"#, "the transaction must be an object"),
        ]
        for (text, reason) in cases {
            let error = #expect(throws: (any Error).self) { try EthereumTransaction.parse(json: JSONValue.parse(Array(text.utf8))) }
            #expect(error.map { "\($0)".contains(reason) } == true, "\(reason): \(String(describing: error))")
        }
    }
}

extension JSONValue {
    func removing(_ keys: [String]) -> JSONValue {
        guard case .object(var members) = self else { return self }
        for key in keys { members[key] = nil }
        return .object(members)
    }
}
