import BigInt
import CustosCrypto
import CustosJSON
import Testing

@testable import CustosEthereum

@Suite("Ethereum signing policies")
struct PolicyTests {
    static func policy(_ text: String) throws -> EthereumPolicy {
        try EthereumPolicy(json: try JSONValue.parse(Array(text.utf8)))
    }

    @Test func aPolicyReadsEveryQuantityFormAndWritesOneText() throws {
        let policy = try Self.policy("""
            {"chain_ids": [5, 1, 5], "recipients": ["0x3535353535353535353535353535353535353535"],
             "max_value": 1000, "max_gas_price": "0x3e8", "daily_value_limit": "1000", "sign_messages": false}
            """)
        #expect(policy.chainIDs == [1, 5] && policy.maxValue == 1000 && policy.maxGasPrice == 1000 && policy.dailyValueLimit == 1000)
        #expect(!policy.signMessages)
        #expect(policy.json.text == #"{"chain_ids":[1,5],"daily_value_limit":"1000","max_gas_price":"1000","max_value":"1000","recipients":["0x3535353535353535353535353535353535353535"],"sign_messages":false}"#)
        #expect(try EthereumPolicy(json: policy.json) == policy)
        #expect(try Self.policy("{}") == .unrestricted)
    }

    @Test func aMalformedPolicyIsRefusedNamingTheField() throws {
        let cases: [(String, String)] = [
            (#"{"chain_id": [1]}"#, "unknown field \"chain_id\""),
            (#"{"chain_ids": []}"#, "chain_ids lists nothing"),
            (#"{"chain_ids": [0]}"#, "chain_ids[0] must be at least 1"),
            (#"{"chain_ids": 1}"#, "chain_ids must be an array"),
            (#"{"recipients": ["0x12"]}"#, "recipients[0]"),
            (#"{"max_value": -1}"#, "max_value must not be negative"),
            (#"{"max_value": 1.5}"#, "max_value must be a whole number"),
            (#"{"daily_value_limit": "0x1\#(String(repeating: "0", count: 64))"}"#, "daily_value_limit"),
            (#"{"sign_messages": "no"}"#, "sign_messages must be true or false"),
            (#"[1]"#, "the policy must be an object"),
        ]
        for (text, expected) in cases {
            #expect(throws: EthereumError.self, "\(text)") { try Self.policy(text) }
            do {
                _ = try Self.policy(text)
            } catch {
                #expect("\(error)".contains(expected), "\(text): \(error)")
            }
        }
        let tooMany = "{\"chain_ids\": [" + (1...1001).map(String.init).joined(separator: ",") + "]}"
        #expect(throws: EthereumError.invalid("chain_ids lists more than 1000 entries")) { try Self.policy(tooMany) }
    }

    @Test func eachRuleIsCheckedOnItsOwn() throws {
        let to = try EthereumAddress("0x3535353535353535353535353535353535353535")
        func transaction(chain: UInt64? = 1, to: EthereumAddress? = to, value: BigUInt = 1, price: BigUInt = 1) throws -> EthereumTransaction {
            try EthereumTransaction(kind: .legacy, chainID: chain, nonce: 0, fees: .gasPrice(price), gas: 21000, to: to, value: value, data: [])
        }
        let policy = EthereumPolicy(chainIDs: [1], recipients: [to], maxValue: 10, maxGasPrice: 100, dailyValueLimit: 15)
        try policy.check(try transaction(value: 10), spentToday: 5)
        let refusals: [(EthereumTransaction, BigUInt, String)] = [
            (try transaction(chain: 2), 0, "chain_ids"), (try transaction(chain: nil), 0, "chain_ids"),
            (try transaction(to: try EthereumAddress("0x000000000000000000000000000000000000dEaD")), 0, "recipients"),
            (try transaction(to: nil), 0, "recipients"), (try transaction(value: 11), 0, "max_value"),
            (try transaction(price: 101), 0, "max_gas_price"), (try transaction(value: 10), 6, "daily_value_limit"),
        ]
        for (transaction, spent, rule) in refusals {
            #expect(throws: EthereumPolicyRefusal.self) { try policy.check(transaction, spentToday: spent) }
            do { try policy.check(transaction, spentToday: spent) } catch { #expect(error.rule == rule) }
        }
        // Without rules, nothing is refused.
        try EthereumPolicy.unrestricted.check(try transaction(chain: nil, to: nil, value: BigUInt(1) << 255, price: BigUInt(1) << 255), spentToday: BigUInt(1) << 255)
        try EthereumPolicy.unrestricted.checkMessage()
        #expect(throws: EthereumPolicyRefusal(rule: "sign_messages", reason: "the account signs transactions only, not messages or typed data")) {
            try EthereumPolicy(signMessages: false).checkMessage()
        }
    }

    @Test func aRequestMayLeaveChainAndNonceToTheSigner() throws {
        let request = try EthereumTransactionRequest(json: try JSONValue.parse(Array(#"{"gas": 21000, "gasPrice": 1, "to": "0x3535353535353535353535353535353535353535"}"#.utf8)))
        #expect(request.chain == .unspecified && request.nonce == nil)
        #expect(try request.transaction(chainID: 3, nonce: 9).chainID == 3)
        // The strict form still requires both.
        #expect(throws: EthereumError.self) { try EthereumTransaction.parse(json: try JSONValue.parse(Array(#"{"gas": 21000, "gasPrice": 1, "nonce": 0}"#.utf8))) }
        #expect(throws: EthereumError.invalid("nonce is missing")) {
            try EthereumTransaction.parse(json: try JSONValue.parse(Array(#"{"chainId": 1, "gas": 21000, "gasPrice": 1}"#.utf8)))
        }
        // An EIP-1559 request without a chain cannot be made into a chainless transaction.
        let dynamic = try EthereumTransactionRequest(json: try JSONValue.parse(Array(#"{"gas": 1, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1}"#.utf8)))
        #expect(throws: EthereumError.self) { try dynamic.transaction(chainID: nil, nonce: 0) }
    }

    @Test func hostileInputIsRefusedCheaplyAndNotEchoedRaw() throws {
        // A 200,000-digit number is refused by its length, before any conversion.
        let huge = "{\"gas\": 1, \"gasPrice\": 1, \"value\": " + String(repeating: "9", count: 200_000) + "}"
        #expect(throws: EthereumError.invalid("value has more digits than any 256-bit number")) {
            try EthereumTransactionRequest(json: try JSONValue.parse(Array(huge.utf8)))
        }
        // An unknown field is named by at most 64 scalars, controls and bidi escaped.
        let name = "a\u{202E}\u{1B}[31m" + String(repeating: "\u{0301}", count: 3000)
        let text = JSONValue.object(["gas": .number("1"), "gasPrice": .number("1"), name: .number("1")])
        do {
            _ = try EthereumTransactionRequest(json: text)
            Issue.record("an unknown field was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.utf8.count < 700 && message.contains("\\u{202E}") && message.contains("\\x1b") && !message.contains("\u{1B}"))
        }
    }

    @Test func typedDataIsBoundedAndHashesEachTypeOnce() throws {
        let tooMany = (0...256).map { "\"T\($0)\": [{\"name\": \"x\", \"type\": \"uint8\"}]" }.joined(separator: ",")
        #expect(throws: EthereumError.invalid("types declares more than 256 types")) {
            try TypedData(json: try JSONValue.parse(Array("{\"types\": {\(tooMany)}, \"primaryType\": \"T0\", \"message\": {\"x\": 1}}".utf8)))
        }
        // 20,000 structs in one array: each is hashed once, with its type's hash computed once.
        let items = Array(repeating: "{\"x\": 7}", count: 20_000).joined(separator: ",")
        let data = try TypedData(json: try JSONValue.parse(Array("""
            {"types": {"Item": [{"name": "x", "type": "uint256"}], "List": [{"name": "items", "type": "Item[]"}]},
             "primaryType": "List", "domain": {"name": "n"}, "message": {"items": [\(items)]}}
            """.utf8)))
        #expect(data.typeHash("Item") == Keccak256.hash(data: Array("Item(uint256 x)".utf8)))
        #expect(data.signingHash.count == 32 && data.messageHash == data.messageHash)
    }
}
