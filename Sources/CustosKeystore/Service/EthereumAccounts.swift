import BigInt
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosStore

/// An Ethereum account: a key of category ACCOUNTS and scheme ecdsa-secp256k1-keccak256,
/// and the address of its primary version.
public struct EthereumAccount: Sendable {
    public let key: KeyInfo
    public let address: EthereumAddress
}

extension KeyService {
    static let accountScheme = SignatureScheme.ecdsaSecp256k1Keccak256

    /// The tenant's accounts (enabled and disabled), by alias.
    public func ethereumAccounts(tenant: TenantID, by principal: Principal) async throws -> [EthereumAccount] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            return try await listAccounts(tenant)
        }
    }

    private func listAccounts(_ tenant: TenantID) async throws -> [EthereumAccount] {
        try await requireTenant(tenant)
        var accounts: [EthereumAccount] = []
        var page = PageRequest(limit: 500)
        let filter = KeyFilter(category: KeyCategory.accounts.rawValue, scheme: Self.accountScheme.rawValue)
        while true {
            let result = try await store.listKeys(tenantID: tenant.rawValue, filter: filter, page: page)
            for row in result.keys where row.status != .destroyed {
                let record = try StoredKey(row)
                accounts.append(EthereumAccount(key: info(record, versions: nil), address: try await address(of: record)))
            }
            guard let next = result.nextCursor else { return accounts }
            page = PageRequest(limit: 500, after: next)
        }
    }

    /// The account with this address.
    public func ethereumAccount(tenant: TenantID, address: EthereumAddress, by principal: Principal) async throws -> EthereumAccount {
        guard let account = try await ethereumAccounts(tenant: tenant, by: principal).first(where: { $0.address == address }) else {
            throw KeystoreError.accountNotFound(tenant: tenant.rawValue, address: address.checksummed)
        }
        return account
    }

    func address(of record: StoredKey) async throws -> EthereumAddress {
        guard let row = try await store.version(keyID: record.id, version: record.primaryVersion), let der = row.publicKey else {
            throw KeystoreError.versionUnavailable(alias: record.alias.rawValue, version: record.primaryVersion)
        }
        let publicKey = try SigningPublicKey(encodedRepresentation: der, scheme: Self.accountScheme)
        guard let bytes = publicKey.ethereumAddress else {
            throw KeystoreError.wrongKeyKind(alias: record.alias.rawValue, algorithm: record.algorithm.identifier, operation: "hold an Ethereum account")
        }
        return try EthereumAddress(bytes: bytes)
    }

    // MARK: Finding an account

    /// The account named by `account`: a 0x address, else a key alias.
    public func ethereumAccount(tenant: TenantID, account: String, by principal: Principal) async throws -> EthereumAccount {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            return try await findAccount(tenant: tenant, account: account)
        }
    }

    /// The account named by `account`, for an operation that needs `permission`: a
    /// caller without it, or naming no account, is refused and audited as `operation`.
    public func ethereumAccount(tenant: TenantID, account: String, for operation: AuditOperation, requiring permission: Permission,
                                by principal: Principal) async throws -> EthereumAccount {
        try await audited(operation, by: principal, tenant: tenant) {
            try principal.authorize(permission, tenant: tenant)
            return try await findAccount(tenant: tenant, account: account)
        }
    }

    private func findAccount(tenant: TenantID, account: String) async throws -> EthereumAccount {
        guard account.hasPrefix("0x") || account.hasPrefix("0X") else {
            return try await accountRecord(tenant: tenant, alias: try KeyAlias(validating: account))
        }
        let address = try EthereumAddress(account, field: "account")
        // A known address names its alias for good (an account's key is never rotated); the
        // record comes from the record cache, as for any use of a key.
        if let known = accountAddresses.withLock({ $0[tenant.rawValue]?[address] }), let alias = try? KeyAlias(validating: known) {
            let record: StoredKey
            if let cached = records.get(tenant: tenant, alias: alias) {
                record = cached
            } else {
                record = try await checkedRecord(tenant: tenant, alias: alias)
                records.put(record)
            }
            if record.status != .destroyed, (try? Self.requireAccount(record)) != nil {
                return EthereumAccount(key: info(record, versions: nil), address: address)
            }
        }
        let accounts = try await listAccounts(tenant)
        accountAddresses.withLock { table in
            table[tenant.rawValue] = Dictionary(accounts.map { ($0.address, $0.key.alias.rawValue) }, uniquingKeysWith: { first, _ in first })
        }
        guard let found = accounts.first(where: { $0.address == address }) else {
            throw KeystoreError.accountNotFound(tenant: tenant.rawValue, address: address.checksummed)
        }
        return found
    }

    /// The key `alias` as an account, refused unless it is one.
    private func accountRecord(tenant: TenantID, alias: KeyAlias) async throws -> EthereumAccount {
        let record = try await checkedRecord(tenant: tenant, alias: alias)
        try Self.requireAccount(record)
        return EthereumAccount(key: info(record, versions: nil), address: try await address(of: record))
    }

    static func requireAccount(_ record: StoredKey) throws {
        guard record.category == .accounts, record.algorithm == .signing(accountScheme) else {
            throw KeystoreError.wrongKeyKind(alias: record.alias.rawValue, algorithm: "\(record.algorithm.identifier) of category \(record.category.rawValue)",
                                             operation: "act as an Ethereum account (an \(accountScheme.rawValue) key of category ACCOUNTS)")
        }
    }

    // MARK: Signing

    /// How many times a signing re-reads the account's state when another process
    /// changed it in between.
    static let accountStateAttempts = 8

    /// How far past the account's next nonce a caller without the manage-keys role may name one.
    public static let maximumNonceGap: UInt64 = 1000

    /// Signs a transaction with the account `alias`; the result is what
    /// `eth_sendRawTransaction` takes. The chain, if the request names none, is the
    /// tenant's; the nonce, if it names none, is the account's next one on that chain.
    /// Checked against the account's policy first. One durable write holds the
    /// account's new state (next nonce, the day's value) and the audit record (chain,
    /// nonce, recipient, value, hash): a nonce handed out is never handed out again.
    public func signEthereumTransaction(_ request: EthereumTransactionRequest, tenant: TenantID, alias: KeyAlias,
                                        by principal: Principal) async throws -> SignedEthereumTransaction {
        try await audited(.ethSignTransaction, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.useKeys, tenant: tenant)
            let (record, version, signer) = try await usableKey(tenant: tenant, alias: alias, as: \.signer, toDo: "sign for an Ethereum account")
            let key = try Self.accountKey(record, signer)
            let address = try accountAddress(record, key)
            if let from = request.from, from != address {
                throw KeystoreError.ethereum(.invalid("the transaction's from (\(from.checksummed)) is not the signing account"))
            }
            let chainID = try await chain(for: request.chain, tenant: tenant)
            let policy = try await policy(of: record, tenant: tenant)
            let chain = chainID.map(String.init) ?? Self.noChain
            return try await updateAccountState(keyID: record.id, chain: chain, tenant: tenant) { state in
                let today = Self.day(clock())
                let spent = state.flatMap { $0.day == today ? BigUInt($0.spent) : 0 } ?? 0
                let next = try state.map { try Self.nonce($0.nextNonce) } ?? 0
                let nonce = request.nonce ?? next
                // A caller's nonce moves the counter past it; far ahead, it would leave every later
                // transaction unsendable, so only a key manager may jump that far.
                if nonce > next, nonce - next > Self.maximumNonceGap, (try? principal.authorize(.manageKeys, tenant: tenant)) == nil {
                    throw KeystoreError.ethereum(.refused(
                        "nonce \(nonce) is more than \(Self.maximumNonceGap) past the account's next nonce \(next) on this chain; an admin or operator sets the next nonce first ('custos eth nonce')"))
                }
                // EIP-2681: a nonce stays below 2^64 − 1.
                guard nonce < UInt64.max else { throw KeystoreError.ethereum(.invalid("nonce must be below 2^64 − 1 (EIP-2681)")) }
                let transaction = try request.transaction(chainID: chainID, nonce: nonce)
                do {
                    try policy.check(transaction, spentToday: spent)
                } catch let refusal as EthereumPolicyRefusal {
                    throw KeystoreError.policyRefused(refusal)
                }
                let signed = try transaction.signed(with: try key.ethereumSignature(forDigest: transaction.signingHash))
                let updated = EthereumAccountStateRecord(keyID: record.id, chain: chain, nextNonce: String(max(next, nonce + 1)), day: today,
                                                         spent: String(spent + transaction.value))
                var details = ["type": transaction.kind.name, "nonce": String(nonce), "value": String(transaction.value),
                               "hash": "0x" + Hex.encode(signed.hash), "to": transaction.to?.checksummed ?? "contract-creation",
                               "nonce_from": request.nonce == nil ? "custos" : "caller",
                               "address": address.checksummed]
                if let chainID { details["chain_id"] = String(chainID) }
                return (updated, event(.ethSignTransaction, by: principal, tenant: tenant, keyID: record.id, version: version, details: details), signed)
            }
        }
    }

    /// Signs an `EthereumTransaction` whose chain and nonce are set (see the request form).
    public func signEthereumTransaction(_ transaction: EthereumTransaction, tenant: TenantID, alias: KeyAlias,
                                        by principal: Principal) async throws -> SignedEthereumTransaction {
        try await signEthereumTransaction(EthereumTransactionRequest(transaction), tenant: tenant, alias: alias, by: principal)
    }

    /// EIP-191 `personal_sign`: 65 bytes r ‖ s ‖ v with v 27 or 28.
    public func signEthereumMessage(_ message: [UInt8], tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> [UInt8] {
        try await withAccountKey(.ethSignMessage, tenant: tenant, alias: alias, by: principal) { key in
            let signature = try key.ethereumSignature(forDigest: PersonalMessage.signingHash(message))
            return (signature.ethereumRepresentation, ["message_hmac": audit.digest(message)])
        }
    }

    /// EIP-712 typed data (`eth_signTypedData_v4`): 65 bytes r ‖ s ‖ v with v 27 or 28.
    /// A domain that names a chain is held to the tenant's chain and the policy's chains,
    /// as a transaction is: a permit for another chain is refused.
    public func signEthereumTypedData(_ data: TypedData, tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> [UInt8] {
        try await withAccountKey(.ethSignTypedData, tenant: tenant, alias: alias, by: principal, domainChain: data.domain["chainId"]) { key in
            let digest = data.signingHash
            let signature = try key.ethereumSignature(forDigest: digest)
            return (signature.ethereumRepresentation, ["primary_type": EthereumField.quoted(data.primaryType),
                                                       "domain": "0x" + Hex.encode(data.domainSeparator),
                                                       "digest": "0x" + Hex.encode(digest)])
        }
    }

    /// The account's soft key, for a message or typed data, audited as `operation`,
    /// once the account's policy allows messages.
    private func withAccountKey<Result>(_ operation: AuditOperation, tenant: TenantID, alias: KeyAlias, by principal: Principal,
                                        domainChain: JSONValue? = nil,
                                        _ body: (SigningPrivateKey) throws -> (Result, [String: String])) async throws -> Result {
        try await withUsableKey(operation, .useKeys, tenant: tenant, alias: alias, by: principal, as: \.signer,
                                toDo: "sign for an Ethereum account") { record, _, signer in
            let key = try Self.accountKey(record, signer)
            let policy = try await policy(of: record, tenant: tenant)
            do {
                try policy.checkMessage()
            } catch let error as EthereumPolicyRefusal {
                throw KeystoreError.policyRefused(error)
            }
            if let domainChain {
                // Read as 256 bits, the type EIP-712 gives it; nil when beyond any chain id.
                let chain = UInt64(exactly: try EthereumField.quantity(domainChain, "domain.chainId"))
                if let configured = try await configuredChain(tenant), chain != configured {
                    throw KeystoreError.ethereum(.refused("the typed data's domain is for chain \(chain.map(String.init) ?? "(out of range)"); tenant '\(tenant.rawValue)' signs for chain \(configured) only"))
                }
                do {
                    try policy.checkTypedDataChain(chain)
                } catch let error as EthereumPolicyRefusal {
                    throw KeystoreError.policyRefused(error)
                }
            }
            var (result, details) = try body(key)
            details["address"] = try accountAddress(record, key).checksummed
            return (result, details)
        }
    }

    /// The account's address, derived from its key once (a derivation is a scalar
    /// multiplication; an account's key never changes).
    private func accountAddress(_ record: StoredKey, _ key: SigningPrivateKey) throws -> EthereumAddress {
        if let known = accountAddressOfKey.withLock({ $0[record.id] }) { return known }
        let address = try EthereumAddress(bytes: key.publicKey.ethereumAddress ?? [])
        accountAddressOfKey.withLock { $0[record.id] = address }
        return address
    }

    /// Only ACCOUNTS keys of the Ethereum scheme sign Ethereum digests, and only soft
    /// keys (wrapped by the root of trust) expose the recovery id Ethereum needs.
    private static func accountKey(_ record: StoredKey, _ signer: any KeySigner) throws -> SigningPrivateKey {
        try requireAccount(record)
        guard let key = signer as? SigningPrivateKey else {
            throw KeystoreError.wrongKeyKind(alias: record.alias.rawValue, algorithm: "HSM-held \(record.algorithm.identifier)",
                                             operation: "sign for an Ethereum account (accounts are keys wrapped by the root of trust)")
        }
        return key
    }
}
