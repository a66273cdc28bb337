import CustosAPI
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosKeystore

/// JSON-RPC 2.0 as web3 tooling speaks it to an external signer (Clef, Web3Signer's
/// eth1 mode): `eth_accounts`, `eth_chainId`, `net_version`, `eth_sign`, `personal_sign`,
/// `eth_signTransaction`, `eth_signTypedData` and `eth_signTypedData_v4`, for the
/// accounts of one tenant. Every call goes through the keystore: the token's role
/// decides, the policy is checked, the signing is audited.
struct EthereumRPC: Sendable {
    let operations: EthereumOperations
    /// The most calls one batch holds.
    let maxBatch: Int

    var keys: KeyService { operations.keys }

    /// Answers a request body (one call or a batch) with the response body.
    func answer(_ body: [UInt8], tenant: TenantID, by principal: Principal) async -> JSONValue {
        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            return Self.failure(id: .null, code: -32700, message: "parse error: \(error)")
        }
        guard case .array(let calls) = document else { return await answer(call: document, tenant: tenant, by: principal) }
        guard !calls.isEmpty, calls.count <= maxBatch else {
            return Self.failure(id: .null, code: -32600, message: "a batch holds 1 to \(maxBatch) calls, got \(calls.count)")
        }
        var answers: [JSONValue] = []
        for call in calls { answers.append(await answer(call: call, tenant: tenant, by: principal)) }
        return .array(answers)
    }

    private func answer(call: JSONValue, tenant: TenantID, by principal: Principal) async -> JSONValue {
        guard case .object(let members) = call else {
            return Self.failure(id: .null, code: -32600, message: "a call is a JSON object")
        }
        let id: JSONValue
        switch members["id"] {
        case nil, .null?: id = .null
        case let value? where value.kind == "a string" || value.kind == "a number": id = value
        default: return Self.failure(id: .null, code: -32600, message: "id must be a string, a number or null")
        }
        guard members["jsonrpc"] == .string("2.0") else { return Self.failure(id: id, code: -32600, message: "jsonrpc must be \"2.0\"") }
        if let unknown = members.keys.sorted().first(where: { !["jsonrpc", "id", "method", "params"].contains($0) }) {
            return Self.failure(id: id, code: -32600, message: "the call has an unknown member \"\(EthereumField.quoted(unknown))\"")
        }
        guard case .string(let method)? = members["method"] else { return Self.failure(id: id, code: -32600, message: "method must be a string") }
        let params: [JSONValue]
        switch members["params"] {
        case nil: params = []
        case .array(let values)?: params = values
        default: return Self.failure(id: id, code: -32602, message: "params must be an array")
        }
        do {
            return .object(["jsonrpc": .string("2.0"), "id": id, "result": try await result(method, params, tenant: tenant, by: principal)])
        } catch let error as RPCError {
            return Self.failure(id: id, code: error.code, message: error.message)
        } catch {
            let problem = Problem(error)
            // Malformed parameters are the caller's; everything else names the keystore's code.
            let code = problem.code == "invalid-argument" || problem.code == "invalid-request" ? -32602 : -32000
            return Self.failure(id: id, code: code, message: problem.detail, data: .object(["code": .string(problem.code), "status": .number(String(problem.status))]))
        }
    }

    private func result(_ method: String, _ params: [JSONValue], tenant: TenantID, by principal: Principal) async throws -> JSONValue {
        switch method {
        case "eth_accounts":
            try Self.arity(params, 0, method)
            let accounts = try await keys.ethereumAccounts(tenant: tenant, by: principal).filter { $0.key.status == .enabled }
            return .array(accounts.map { .string($0.address.checksummed) })
        case "eth_chainId", "net_version":
            try Self.arity(params, 0, method)
            guard let chain = try await keys.ethereumChain(tenant: tenant, by: principal) else {
                throw RPCError(code: -32000, message: "tenant '\(tenant.rawValue)' has no chain configured ('custos eth chain set')")
            }
            return .string(method == "net_version" ? String(chain) : "0x" + String(chain, radix: 16))
        case "eth_sign":
            // geth's order: the account, then the data (signed with the EIP-191 prefix).
            try Self.arity(params, 2, method)
            return try await signMessage(data: params[1], account: params[0], tenant: tenant, by: principal)
        case "personal_sign":
            // The data first; a third parameter (a passphrase) is refused, never read.
            guard params.count == 2 else {
                throw RPCError(code: -32602, message: "personal_sign takes [data, address]; Custos takes no passphrase")
            }
            return try await signMessage(data: params[0], account: params[1], tenant: tenant, by: principal)
        case "eth_signTransaction":
            try Self.arity(params, 1, method)
            // The account (its from) first: a caller who may not sign is refused before the rest is read.
            guard case .object(let members) = params[0], let fromValue = members["from"] else {
                throw RPCError(code: -32602, message: "the transaction's from names the account to sign with; it is missing")
            }
            let from = try EthereumField.address(fromValue, "from")
            let account = try await keys.ethereumAccount(tenant: tenant, account: from.checksummed, for: .ethSignTransaction,
                                                         requiring: .useKeys, by: principal)
            let request = try await keys.auditedArguments(.ethSignTransaction, tenant: tenant, by: principal) {
                try EthereumTransactionRequest(json: params[0])
            }
            let signed = try await keys.signEthereumTransaction(request, tenant: tenant, alias: account.key.alias, by: principal)
            guard case .object(var fields) = try signed.json() else { preconditionFailure("a transaction is a JSON object") }
            let raw = fields.removeValue(forKey: "raw") ?? .null
            return .object(["raw": raw, "tx": .object(fields)])
        case "eth_signTypedData", "eth_signTypedData_v4":
            try Self.arity(params, 2, method)
            guard case .string(let text) = params[0] else { throw RPCError(code: -32602, message: "the first parameter is the account's address") }
            let account = try await keys.ethereumAccount(tenant: tenant, account: try EthereumAddress(text, field: "address").checksummed,
                                                         for: .ethSignTypedData, requiring: .useKeys, by: principal)
            let data = try await keys.auditedArguments(.ethSignTypedData, tenant: tenant, by: principal) { () throws -> TypedData in
                // The typed data as an object, or as a string holding its JSON (MetaMask's form).
                var typed = params[1]
                if case .string(let json) = typed {
                    do {
                        typed = try JSONValue.parse(Array(json.utf8))
                    } catch {
                        throw EthereumError.invalid("the typed data: \(error)")
                    }
                }
                return try TypedData(json: typed)
            }
            let signature = try await keys.signEthereumTypedData(data, tenant: tenant, alias: account.key.alias, by: principal)
            return .string("0x" + Hex.encode(signature))
        default:
            throw RPCError(code: -32601, message: "method not found: Custos signs (eth_accounts, eth_chainId, net_version, eth_sign, personal_sign, eth_signTransaction, eth_signTypedData_v4) and sends nothing to a chain")
        }
    }

    private func signMessage(data: JSONValue, account: JSONValue, tenant: TenantID, by principal: Principal) async throws -> JSONValue {
        guard case .string(let text) = account else { throw RPCError(code: -32602, message: "the account must be a 0x address string") }
        let address = try EthereumAddress(text, field: "address")
        let found = try await keys.ethereumAccount(tenant: tenant, account: address.checksummed, for: .ethSignMessage, requiring: .useKeys, by: principal)
        let message = try await keys.auditedArguments(.ethSignMessage, tenant: tenant, by: principal) { try EthereumField.bytes(data, "data") }
        return .string("0x" + Hex.encode(try await keys.signEthereumMessage(message, tenant: tenant, alias: found.key.alias, by: principal)))
    }

    private static func arity(_ params: [JSONValue], _ count: Int, _ method: String) throws {
        guard params.count == count else { throw RPCError(code: -32602, message: "\(method) takes \(count) parameter\(count == 1 ? "" : "s"), got \(params.count)") }
    }

    static func failure(id: JSONValue, code: Int, message: String, data: JSONValue? = nil) -> JSONValue {
        var error: [String: JSONValue] = ["code": .number(String(code)), "message": .string(message)]
        if let data { error["data"] = data }
        return .object(["jsonrpc": .string("2.0"), "id": id, "error": .object(error)])
    }
}

/// A JSON-RPC error of the protocol itself (unknown method, wrong parameters).
struct RPCError: Error {
    let code: Int
    let message: String
}
