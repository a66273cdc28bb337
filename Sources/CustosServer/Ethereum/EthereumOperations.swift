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
        /// The body's members, read (and refused, audited as `operation`) once the caller may act.
        func fields<T>(_ operation: AuditOperation, _ known: Set<String>, _ read: ([String: JSONValue]) throws -> T) async throws -> T {
            try await keys.auditedArguments(operation, tenant: tenant, by: principal) {
                let members = try request()
                try EthereumField.onlyKnown(members, known, in: "the request body")
                return try read(members)
            }
        }
        // Each operation checks the caller's role (and tenant) before it reads the body: a
        // caller who may not act is refused as such, and audited, whatever it sent.
        switch endpoint {
        case .ethAccounts:
            let accounts = try await keys.ethereumAccounts(tenant: tenant, by: principal)
            return .object(["accounts": .array(accounts.map(Self.summary))])
        case .ethAccount:
            return try await details(tenant: tenant, account: try named(), by: principal)
        case .ethSignTransaction:
            let account = try await resolved(.ethSignTransaction, .useKeys)
            let request = try await fields(.ethSignTransaction, ["transaction"]) { members in
                guard let transaction = members["transaction"] else { throw EthereumError.invalid("transaction is missing") }
                return try EthereumTransactionRequest(json: transaction)
            }
            return try await keys.signEthereumTransaction(request, tenant: tenant, alias: account.key.alias, by: principal).json()
        case .ethSignMessage:
            let account = try await resolved(.ethSignMessage, .useKeys)
            let message = try await fields(.ethSignMessage, ["message"]) { members in
                guard let message = members["message"] else { throw EthereumError.invalid("message is missing") }
                return try EthereumField.bytes(message, "message")
            }
            let signature = try await keys.signEthereumMessage(message, tenant: tenant, alias: account.key.alias, by: principal)
            return .object(["signature": .string("0x" + Hex.encode(signature)), "address": .string(account.address.checksummed)])
        case .ethSignTypedData:
            let account = try await resolved(.ethSignTypedData, .useKeys)
            let data = try await fields(.ethSignTypedData, ["typed_data"]) { members in
                guard let typed = members["typed_data"] else { throw EthereumError.invalid("typed_data is missing") }
                return try TypedData(json: typed)
            }
            let signature = try await keys.signEthereumTypedData(data, tenant: tenant, alias: account.key.alias, by: principal)
            return .object(["signature": .string("0x" + Hex.encode(signature)), "address": .string(account.address.checksummed),
                            "digest": .string("0x" + Hex.encode(data.signingHash))])
        case .ethSetPolicy:
            let account = try await resolved(.ethSetPolicy, .manageKeys)
            let policy = try await fields(.ethSetPolicy, ["policy"]) { members -> EthereumPolicy? in
                guard let value = members["policy"] else { throw EthereumError.invalid("policy is missing (null removes the policy)") }
                return value == .null ? nil : try EthereumPolicy(json: value)
            }
            try await keys.setEthereumPolicy(policy, tenant: tenant, alias: account.key.alias, by: principal)
            return try await details(tenant: tenant, account: account.key.alias.rawValue, by: principal)
        case .ethSetNonce:
            let account = try await resolved(.ethSetNonce, .manageKeys)
            // chain_id: absent (the tenant's chain), null (no replay protection) or a chain id.
            let (next, named) = try await fields(.ethSetNonce, ["chain_id", "next_nonce"]) { members -> (UInt64, UInt64??) in
                guard let next = members["next_nonce"] else { throw EthereumError.invalid("next_nonce is missing") }
                let nextNonce = try EthereumField.uint64(next, "next_nonce")
                return (nextNonce, try members["chain_id"].map { v throws(EthereumError) in v == .null ? nil : try EthereumField.uint64(v, "chain_id") })
            }
            let chainID: UInt64?
            if let named {
                chainID = named
            } else {
                guard let configured = try await keys.ethereumChain(tenant: tenant, by: principal) else {
                    throw KeystoreError.ethereum(.invalid("chain_id is missing, and the tenant has no chain configured"))
                }
                chainID = configured
            }
            try await keys.setEthereumNonce(next, chainID: chainID, tenant: tenant, alias: account.key.alias, by: principal)
            return try await details(tenant: tenant, account: account.key.alias.rawValue, by: principal)
        case .ethChain:
            return .object(["chain_id": try await keys.ethereumChain(tenant: tenant, by: principal).map { .number(String($0)) } ?? .null])
        case .ethSetChain:
            try await keys.requireAccess(.manageKeys, tenant: tenant, operation: .ethSetChain, by: principal)
            let chainID = try await fields(.ethSetChain, ["chain_id"]) { members -> UInt64? in
                guard let value = members["chain_id"] else { throw EthereumError.invalid("chain_id is missing (null clears it)") }
                return value == .null ? nil : try EthereumField.uint64(value, "chain_id")
            }
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
