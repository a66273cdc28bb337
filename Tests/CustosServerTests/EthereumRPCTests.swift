import CustosAPI
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosKeystore
import CustosStore
import Foundation
import Testing

@testable import CustosServer

/// The JSON-RPC signer and the Ethereum operations, on a keystore, without HTTP (the
/// interop suite drives them over HTTP with web3.py).
@Suite("Ethereum JSON-RPC")
struct EthereumRPCTests {
    static let recipient = "0x3535353535353535353535353535353535353535"

    struct Setup {
        let store: TestKeystore
        let rpc: EthereumRPC
        let address: String

        func call(_ text: String, as principal: Principal = .local) async -> JSONValue {
            await rpc.answer(Array(text.utf8), tenant: "acme", by: principal)
        }

        func call(_ method: String, _ params: String, as principal: Principal = .local) async -> JSONValue {
            await call(#"{"jsonrpc":"2.0","id":7,"method":"\#(method)","params":\#(params)}"#, as: principal)
        }
    }

    static func setUp() async throws -> Setup {
        let store = try await TestKeystore.open("custos-eth-rpc")
        _ = try await store.keys.createTenant("acme", by: .local)
        _ = try await store.keys.generateKey(KeySpec(tenant: "acme", alias: "hot", algorithm: .signing(.ecdsaSecp256k1Keccak256), category: .accounts), by: .local)
        let account = try #require(try await store.keys.ethereumAccounts(tenant: "acme", by: .local).first)
        return Setup(store: store, rpc: EthereumRPC(operations: EthereumOperations(keys: store.keys), maxBatch: 4), address: account.address.checksummed)
    }

    static func errorCode(_ answer: JSONValue) -> String? { answer["error"]?["code"]?.text }

    @Test func web3CallsAreAnsweredForTheTenantsAccounts() async throws {
        let setup = try await Self.setUp()
        defer { Task { try? await setup.store.keys.close(); setup.store.remove() } }
        #expect(await setup.call("eth_accounts", "[]")["result"] == .array([.string(setup.address)]))
        #expect(await setup.call("eth_accounts", "[]")["id"] == .number("7"))
        // No chain yet: eth_chainId says so; once set, it answers in hex, net_version in decimal.
        #expect(Self.errorCode(await setup.call("eth_chainId", "[]")) == "-32000")
        try await setup.store.keys.setEthereumChain(1337, tenant: "acme", by: .local)
        #expect(await setup.call("eth_chainId", "[]")["result"] == .string("0x539"))
        #expect(await setup.call("net_version", "[]")["result"] == .string("1337"))

        // eth_signTransaction: the chain and nonce filled in, geth's {raw, tx} answer.
        let tx = #"[{"from":"\#(setup.address)","to":"\#(Self.recipient)","gas":"0x5208","maxFeePerGas":"0x3b9aca00","maxPriorityFeePerGas":"0x1","value":"0x1"}]"#
        let first = await setup.call("eth_signTransaction", tx)
        let raw = try #require(first["result"]?["raw"]?.stringValue)
        let decoded = try SignedEthereumTransaction(raw: try #require(Hex.decode(raw)), expectedChainID: 1337)
        #expect(try decoded.sender().checksummed == setup.address && decoded.transaction.nonce == 0)
        #expect(first["result"]?["tx"]?["hash"] == .string("0x" + Hex.encode(decoded.hash)))
        #expect(first["result"]?["tx"]?["nonce"] == .string("0x0"))
        let second = await setup.call("eth_signTransaction", tx)
        #expect(second["result"]?["tx"]?["nonce"] == .string("0x1"))

        // eth_sign and personal_sign: the same EIP-191 signature, parameters in their own orders.
        let viaEthSign = try #require(await setup.call("eth_sign", #"["\#(setup.address)","0x68656c6c6f"]"#)["result"]?.stringValue)
        let viaPersonal = try #require(await setup.call("personal_sign", #"["0x68656c6c6f","\#(setup.address)"]"#)["result"]?.stringValue)
        #expect(viaEthSign == viaPersonal)
        #expect(try PersonalMessage.signer(of: Array("hello".utf8), signature: try #require(Hex.decode(viaEthSign))).checksummed == setup.address)

        // Typed data, as an object or as a string holding its JSON, under either method name.
        let typed = #"{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"Note":[{"name":"text","type":"string"}]},"primaryType":"Note","domain":{"name":"custos"},"message":{"text":"hi"}}"#
        let asObject = try #require(await setup.call("eth_signTypedData_v4", #"["\#(setup.address)",\#(typed)]"#)["result"]?.stringValue)
        let quoted = JSONValue.string(typed).text
        let asString = try #require(await setup.call("eth_signTypedData", #"["\#(setup.address)",\#(quoted)]"#)["result"]?.stringValue)
        #expect(asObject == asString)
        let data = try TypedData(json: try JSONValue.parse(Array(typed.utf8)))
        #expect(try data.signer(signature: try #require(Hex.decode(asObject))).checksummed == setup.address)

        // A batch answers each call in order.
        let batch = await setup.call(#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":"b","method":"eth_accounts","params":[]}]"#)
        guard case .array(let answers) = batch else { Issue.record("no batch answer"); return }
        #expect(answers.map { $0["id"] } == [.number("1"), .string("b")])
    }

    @Test func badCallsGetJSONRPCErrorsAndSignNothing() async throws {
        let setup = try await Self.setUp()
        defer { Task { try? await setup.store.keys.close(); setup.store.remove() } }
        try await setup.store.keys.setEthereumChain(1, tenant: "acme", by: .local)
        let protocolErrors: [(String, String)] = [
            ("{", "-32700"), ("[]", "-32600"), ("5", "-32600"),
            (#"{"jsonrpc":"1.0","id":1,"method":"eth_accounts"}"#, "-32600"),
            (#"{"jsonrpc":"2.0","id":{},"method":"eth_accounts"}"#, "-32600"),
            (#"{"jsonrpc":"2.0","id":1,"method":"eth_accounts","extra":1}"#, "-32600"),
            (#"{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[]}"#, "-32601"),
            (#"{"jsonrpc":"2.0","id":1,"method":"eth_accounts","params":{}}"#, "-32602"),
            (#"{"jsonrpc":"2.0","id":1,"method":"eth_accounts","params":[1]}"#, "-32602"),
            (#"{"jsonrpc":"2.0","id":1,"method":"personal_sign","params":["0x00","0x3535353535353535353535353535353535353535","password"]}"#, "-32602"),
            ("[" + Array(repeating: #"{"jsonrpc":"2.0","id":1,"method":"eth_accounts"}"#, count: 5).joined(separator: ",") + "]", "-32600"),
        ]
        for (text, code) in protocolErrors {
            #expect(Self.errorCode(await setup.call(text)) == code, "\(text)")
        }
        let from = #""from":"\#(setup.address)""#
        let refusals: [(String, String, String)] = [
            // Malformed parameters.
            ("eth_signTransaction", #"[{\#(from),"gas":1,"gasPrice":1,"to":"0x12"}]"#, "invalid-argument"),
            ("eth_signTransaction", #"[{\#(from),"gas":1,"gasPrice":1,"type":"0x3"}]"#, "ethereum-refused"),
            ("eth_signTransaction", #"[{"gas":1,"gasPrice":1}]"#, ""),
            ("eth_signTransaction", #"[{\#(from),"gas":1,"gasPrice":1,"chainId":5}]"#, "ethereum-refused"),
            ("eth_sign", #"["\#(setup.address)","hello"]"#, "invalid-argument"),
            ("eth_signTypedData_v4", #"["\#(setup.address)",{"types":{"A":[{"name":"x","type":"uint8"}]},"primaryType":"A","domain":{},"message":{"x":300}}]"#, "invalid-argument"),
            // Unknown account.
            ("eth_sign", #"["0x000000000000000000000000000000000000dEaD","0x00"]"#, "key-not-found"),
        ]
        for (method, params, code) in refusals {
            let answer = await setup.call(method, params)
            #expect(answer["result"] == nil, "\(method) \(params)")
            if code.isEmpty {
                #expect(Self.errorCode(answer) == "-32602", "\(method) \(params)")
            } else {
                #expect(answer["error"]?["data"]?["code"] == .string(code), "\(method) \(params): \(answer.text)")
            }
        }
        // A policy refusal names its rule; a signer token of another tenant is refused.
        try await setup.store.keys.setEthereumPolicy(EthereumPolicy(maxValue: 5), tenant: "acme", alias: "hot", by: .local)
        let overValue = await setup.call("eth_signTransaction", #"[{\#(from),"gas":1,"gasPrice":1,"value":6}]"#)
        #expect(overValue["error"]?["data"]?["code"] == .string("policy-refused"))
        #expect(overValue["error"]?["message"]?.stringValue?.contains("(max_value)") == true)
        let stranger = Principal(id: "token:x", tenant: "other", role: .signer)
        #expect(await setup.call("eth_accounts", "[]", as: stranger)["error"]?["data"]?["code"] == .string("forbidden"))
        let auditor = Principal(id: "token:a", tenant: "acme", role: .auditor)
        #expect(await setup.call("eth_sign", #"["\#(setup.address)","0x00"]"#, as: auditor)["error"]?["data"]?["code"] == .string("forbidden"))
        // A caller who may not sign is refused as such, whatever it sent, and audited; a
        // malformed request from one who may is audited with its error.
        let malformed = #"[{\#(from),"gas":1,"gasPrice":1,"value":"bad"}]"#
        #expect(await setup.call("eth_signTransaction", malformed, as: auditor)["error"]?["data"]?["code"] == .string("forbidden"))
        #expect(await setup.call("eth_signTransaction", malformed, as: stranger)["error"]?["data"]?["code"] == .string("forbidden"))
        #expect(await setup.call("eth_signTransaction", malformed)["error"]?["data"]?["code"] == .string("invalid-argument"))
        let records = try await setup.store.keys.store.auditRecords(AuditQuery(limit: 10_000)).filter { $0.operation == "eth.sign-transaction" }
        #expect(records.suffix(3).map(\.outcome) == ["denied", "denied", "failure"])
        #expect(records.last?.detailValues["error"] == "invalid-argument")
        // Nothing above used a nonce.
        #expect(try await setup.store.keys.ethereumAccountStates(tenant: "acme", alias: "hot", by: .local).isEmpty)
    }

    @Test func theRESTOperationsShareTheKeystoresChecks() async throws {
        let setup = try await Self.setUp()
        defer { Task { try? await setup.store.keys.close(); setup.store.remove() } }
        let operations = setup.rpc.operations
        func perform(_ endpoint: Endpoint, account: String? = nil, _ body: String? = nil) async throws -> JSONValue {
            try await operations.perform(endpoint, tenant: "acme", account: account, body: try body.map { try JSONValue.parse(Array($0.utf8)) }, by: .local)
        }
        #expect(try await perform(.ethSetChain, #"{"chain_id": 5}"#)["chain_id"] == .number("5"))
        #expect(try await perform(.ethChain)["chain_id"] == .number("5"))
        // An account is named by alias or address alike.
        let byAddress = try await perform(.ethAccount, account: setup.address.lowercased())
        #expect(try await perform(.ethAccount, account: "hot") == byAddress)
        #expect(byAddress["tenant_chain_id"] == .number("5") && byAddress["chains"] == .array([]))
        let policy = try await perform(.ethSetPolicy, account: "hot", #"{"policy": {"recipients": ["\#(Self.recipient)"]}}"#)
        #expect(policy["policy"]?["recipients"] == .array([.string(Self.recipient)]))
        let signed = try await perform(.ethSignTransaction, account: "hot", #"{"transaction": {"to": "\#(Self.recipient)", "gas": 21000, "gasPrice": 1}}"#)
        let decoded = try await perform(.ethDecodeTransaction, #"{"raw": \#(try #require(signed["raw"]).text), "chain_id": 5}"#)
        #expect(decoded["from"] == .string(setup.address) && decoded["hash"] == signed["hash"])
        let nonces = try await perform(.ethSetNonce, account: "hot", #"{"next_nonce": 9}"#)
        guard case .array(let chains)? = nonces["chains"], chains.count == 1 else { Issue.record("no chain state: \(nonces.text)"); return }
        #expect(chains[0]["chain_id"] == .number("5") && chains[0]["next_nonce"] == .number("9") && chains[0]["spent_today"] == .string("0"))
        func states(_ account: JSONValue) -> [JSONValue] {
            guard case .array(let states)? = account["chains"] else { return [] }
            return states
        }
        // chain_id null is the state without replay protection; a named chain is its own; a bad one is refused and audited.
        let unprotected = try await perform(.ethSetNonce, account: "hot", #"{"next_nonce": 2, "chain_id": null}"#)
        #expect(states(unprotected).contains { $0["chain_id"] == .null && $0["next_nonce"] == .number("2") })
        let seven = try await perform(.ethSetNonce, account: "hot", #"{"next_nonce": 3, "chain_id": 7}"#)
        #expect(states(seven).contains { $0["chain_id"] == .number("7") && $0["next_nonce"] == .number("3") })
        await #expect { try await perform(.ethSetNonce, account: "hot", #"{"next_nonce": 4, "chain_id": "seven"}"#) }
            throws: { "\($0)".contains("chain_id") }
        let setNonce = try await setup.store.keys.store.auditRecords(AuditQuery(limit: 10_000)).filter { $0.operation == "eth.set-nonce" }
        #expect(setNonce.map(\.outcome) == ["success", "success", "success", "failure"])
        #expect(setNonce.last?.detailValues["error"] == "invalid-argument")
        #expect(states(try await perform(.ethAccount, account: "hot")).count == 3)
        let message = try await perform(.ethSignMessage, account: setup.address, #"{"message": "0x68656c6c6f"}"#)
        let recovered = try await perform(.ethRecover, #"{"message": "0x68656c6c6f", "signature": \#(try #require(message["signature"]).text)}"#)
        #expect(recovered["address"] == .string(setup.address))
        // Bodies are checked field by field.
        for (endpoint, body) in [(Endpoint.ethSetChain, #"{"chain": 5}"#), (.ethSetPolicy, #"{"policy": {"max_value": "x"}}"#),
                                 (.ethSignMessage, #"{"message": "aGVsbG8="}"#), (.ethDecodeTransaction, #"{"raw": "0x00"}"#),
                                 (.ethRecover, #"{"signature": "0x00"}"#), (.ethSetNonce, #"{"chain_id": 5}"#)] {
            await #expect(throws: (any Error).self, "\(endpoint) \(body)") { try await perform(endpoint, account: "hot", body) }
        }
    }
}
