import CustosCrypto
import CustosEthereum
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

    // MARK: Signing

    /// Signs a transaction with the account `alias`; the result is what
    /// `eth_sendRawTransaction` takes. Audited with the chain, nonce, recipient, value and hash.
    public func signEthereumTransaction(_ transaction: EthereumTransaction, tenant: TenantID, alias: KeyAlias,
                                        by principal: Principal) async throws -> SignedEthereumTransaction {
        try await withAccountKey(.ethSignTransaction, tenant: tenant, alias: alias, by: principal) { key in
            let signed = try transaction.signed(with: try key.ethereumSignature(forDigest: transaction.signingHash))
            var details = ["type": transaction.kind.name, "nonce": String(transaction.nonce), "value": String(transaction.value),
                           "hash": "0x" + Hex.encode(signed.hash), "to": transaction.to?.checksummed ?? "contract-creation"]
            if let chainID = transaction.chainID { details["chain_id"] = String(chainID) }
            return (signed, details)
        }
    }

    /// EIP-191 `personal_sign`: 65 bytes r ‖ s ‖ v with v 27 or 28.
    public func signEthereumMessage(_ message: [UInt8], tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> [UInt8] {
        try await withAccountKey(.ethSignMessage, tenant: tenant, alias: alias, by: principal) { key in
            let signature = try key.ethereumSignature(forDigest: PersonalMessage.signingHash(message))
            return (signature.ethereumRepresentation, ["message_hmac": audit.digest(message)])
        }
    }

    /// EIP-712 typed data (`eth_signTypedData_v4`): 65 bytes r ‖ s ‖ v with v 27 or 28.
    public func signEthereumTypedData(_ data: TypedData, tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> [UInt8] {
        try await withAccountKey(.ethSignTypedData, tenant: tenant, alias: alias, by: principal) { key in
            let digest = data.signingHash
            let signature = try key.ethereumSignature(forDigest: digest)
            return (signature.ethereumRepresentation, ["primary_type": String(data.primaryType.prefix(64)),
                                                       "domain": "0x" + Hex.encode(data.domainSeparator),
                                                       "digest": "0x" + Hex.encode(digest)])
        }
    }

    /// The account's soft key, audited as `operation`: only ACCOUNTS keys of the Ethereum
    /// scheme sign Ethereum digests, and only soft keys (wrapped by the root of trust)
    /// expose the recovery id Ethereum needs.
    private func withAccountKey<Result>(_ operation: AuditOperation, tenant: TenantID, alias: KeyAlias, by principal: Principal,
                                        _ body: (SigningPrivateKey) throws -> (Result, [String: String])) async throws -> Result {
        try await withUsableKey(operation, .useKeys, tenant: tenant, alias: alias, by: principal, as: \.signer,
                                toDo: "sign for an Ethereum account") { record, _, signer in
            guard record.category == .accounts, record.algorithm == .signing(Self.accountScheme) else {
                throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: "\(record.algorithm.identifier) of category \(record.category.rawValue)",
                                                 operation: "sign for an Ethereum account (an \(Self.accountScheme.rawValue) key of category ACCOUNTS)")
            }
            guard let key = signer as? SigningPrivateKey else {
                throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: "HSM-held \(record.algorithm.identifier)",
                                                 operation: "sign for an Ethereum account (accounts are keys wrapped by the root of trust)")
            }
            var (result, details) = try body(key)
            details["address"] = (try? EthereumAddress(bytes: key.publicKey.ethereumAddress ?? []))?.checksummed
            return (result, details)
        }
    }
}
