import BigInt
import CustosAPI
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosKeystore
import CustosStore

/// The Ethereum API (`Endpoint.ethereum`, docs/ethereum.md). Bodies are JSON read
/// exactly (numbers as written, duplicate keys refused) because transactions and typed
/// data carry 256-bit numbers. The server's routes and the CLI's data-directory mode
/// both answer through `perform`, so a body means the same thing on either side.
public struct EthereumOperations: Sendable {
    let keys: KeyService

    public init(keys: KeyService) {
        self.keys = keys
    }

    /// Answers `endpoint` for `tenant`, with `account` (an address or alias) for the
    /// endpoints under an account and the request body for the POST ones.
    public func perform(_ endpoint: Endpoint, tenant: TenantID, account: String?, body: JSONValue?,
                        by principal: Principal) async throws -> JSONValue {
        func named() throws -> String {
            guard let account else { throw EthereumError.invalid("the account is missing") }
            return account
        }
        /// The account, once the caller is known to hold `permission` (a refusal is audited as `operation`).
        func resolved(_ operation: AuditOperation, _ permission: Permission) async throws -> EthereumAccount {
            try await keys.ethereumAccount(tenant: tenant, account: try named(), for: operation, requiring: permission, by: principal)
        }
        func request() throws -> [String: JSONValue] {
            guard let body else { throw EthereumError.invalid("the request body is missing") }
            return try EthereumField.object(body, "the request body")
        }
        switch endpoint {
        case .ethAccounts:
            let accounts = try await keys.ethereumAccounts(tenant: tenant, by: principal)
            return .object(["accounts": .array(accounts.map(Self.summary))])
        case .ethAccount:
            return try await details(tenant: tenant, account: try named(), by: principal)
        case .ethSignTransaction:
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["transaction"], in: "the request body")
            let account = try await resolved(.ethSignTransaction, .useKeys)
            guard let transaction = fields["transaction"] else { throw EthereumError.invalid("transaction is missing") }
            let signed = try await keys.signEthereumTransaction(try EthereumTransactionRequest(json: transaction), tenant: tenant,
                                                                alias: account.key.alias, by: principal)
            return try signed.json()
        case .ethSignMessage:
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["message"], in: "the request body")
            let account = try await resolved(.ethSignMessage, .useKeys)
            guard let message = fields["message"] else { throw EthereumError.invalid("message is missing") }
            let signature = try await keys.signEthereumMessage(try EthereumField.bytes(message, "message"), tenant: tenant,
                                                               alias: account.key.alias, by: principal)
            return .object(["signature": .string("0x" + Hex.encode(signature)), "address": .string(account.address.checksummed)])
        case .ethSignTypedData:
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["typed_data"], in: "the request body")
            let account = try await resolved(.ethSignTypedData, .useKeys)
            guard let typed = fields["typed_data"] else { throw EthereumError.invalid("typed_data is missing") }
            let data = try TypedData(json: typed)
            let signature = try await keys.signEthereumTypedData(data, tenant: tenant, alias: account.key.alias, by: principal)
            return .object(["signature": .string("0x" + Hex.encode(signature)), "address": .string(account.address.checksummed),
                            "digest": .string("0x" + Hex.encode(data.signingHash))])
        case .ethSetPolicy:
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["policy"], in: "the request body")
            let account = try await resolved(.ethSetPolicy, .manageKeys)
            guard let value = fields["policy"] else { throw EthereumError.invalid("policy is missing (null removes the policy)") }
            let policy = value == .null ? nil : try EthereumPolicy(json: value)
            try await keys.setEthereumPolicy(policy, tenant: tenant, alias: account.key.alias, by: principal)
            return try await details(tenant: tenant, account: account.key.alias.rawValue, by: principal)
        case .ethSetNonce:
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["chain_id", "next_nonce"], in: "the request body")
            let account = try await resolved(.ethSetNonce, .manageKeys)
            guard let next = fields["next_nonce"] else { throw EthereumError.invalid("next_nonce is missing") }
            let chainID: UInt64?
            switch fields["chain_id"] {
            case nil:
                guard let configured = try await keys.ethereumChain(tenant: tenant, by: principal) else {
                    throw EthereumError.invalid("chain_id is missing, and the tenant has no chain configured")
                }
                chainID = configured
            case .null?: chainID = nil
            case let value?: chainID = try EthereumField.uint64(value, "chain_id")
            }
            try await keys.setEthereumNonce(try EthereumField.uint64(next, "next_nonce"), chainID: chainID, tenant: tenant,
                                            alias: account.key.alias, by: principal)
            return try await details(tenant: tenant, account: account.key.alias.rawValue, by: principal)
        case .ethChain:
            return .object(["chain_id": try await keys.ethereumChain(tenant: tenant, by: principal).map { .number(String($0)) } ?? .null])
        case .ethSetChain:
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["chain_id"], in: "the request body")
            guard let value = fields["chain_id"] else { throw EthereumError.invalid("chain_id is missing (null clears it)") }
            let chainID = value == .null ? nil : try EthereumField.uint64(value, "chain_id")
            try await keys.setEthereumChain(chainID, tenant: tenant, by: principal)
            return .object(["chain_id": chainID.map { .number(String($0)) } ?? .null])
        case .ethDecodeTransaction:
            try principal.authorize(.verify, tenant: tenant)
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["raw", "chain_id"], in: "the request body")
            guard let raw = fields["raw"] else { throw EthereumError.invalid("raw is missing") }
            let chainID = try fields["chain_id"].flatMap { v throws(EthereumError) in v == .null ? nil : try EthereumField.uint64(v, "chain_id") }
            return try SignedEthereumTransaction(raw: try EthereumField.bytes(raw, "raw"), expectedChainID: chainID).json()
        case .ethRecover:
            try principal.authorize(.verify, tenant: tenant)
            let fields = try request()
            try EthereumField.onlyKnown(fields, ["message", "typed_data", "signature"], in: "the request body")
            guard let signatureValue = fields["signature"] else { throw EthereumError.invalid("signature is missing") }
            let signature = try EthereumField.bytes(signatureValue, "signature")
            switch (fields["message"], fields["typed_data"]) {
            case (let message?, nil):
                let address = try PersonalMessage.signer(of: try EthereumField.bytes(message, "message"), signature: signature)
                return .object(["address": .string(address.checksummed)])
            case (nil, let typed?):
                let data = try TypedData(json: typed)
                return .object(["address": .string(try data.signer(signature: signature).checksummed),
                                "digest": .string("0x" + Hex.encode(data.signingHash))])
            default:
                throw EthereumError.invalid("give either message (0x hex) or typed_data, with signature")
            }
        default:
            throw EthereumError.invalid("\(endpoint) is not an Ethereum operation")
        }
    }

    /// An account with its policy, the tenant's chain and its nonces and spending per chain.
    func details(tenant: TenantID, account: String, by principal: Principal) async throws -> JSONValue {
        let found = try await keys.ethereumAccount(tenant: tenant, account: account, by: principal)
        guard case .object(var members) = Self.summary(found) else { preconditionFailure("a summary is an object") }
        members["policy"] = try await keys.ethereumPolicy(tenant: tenant, alias: found.key.alias, by: principal).json
        members["tenant_chain_id"] = try await keys.ethereumChain(tenant: tenant, by: principal).map { .number(String($0)) } ?? .null
        let states = try await keys.ethereumAccountStates(tenant: tenant, alias: found.key.alias, by: principal)
        members["chains"] = .array(states.map { state in
            .object(["chain_id": state.chainID.map { .number(String($0)) } ?? .null, "next_nonce": .number(String(state.nextNonce)),
                     "day": .string(state.day), "spent_today": .string(String(state.spentToday))])
        })
        return .object(members)
    }

    static func summary(_ account: EthereumAccount) -> JSONValue {
        .object(["alias": .string(account.key.alias.rawValue), "address": .string(account.address.checksummed),
                 "status": .string(account.key.status.rawValue), "key_id": .string(account.key.id)])
    }
}
