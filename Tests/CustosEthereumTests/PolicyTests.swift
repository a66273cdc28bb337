import BigInt
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
}
