import BigInt
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosStore
import Foundation

/// An account's state on one chain: the nonce Custos hands out next, and what it
/// signed away today.
public struct EthereumAccountChainState: Sendable, Equatable {
    /// Nil for transactions without replay protection.
    public let chainID: UInt64?
    public let nextNonce: UInt64
    /// The UTC day `spentToday` counts (YYYY-MM-DD).
    public let day: String
    public let spentToday: BigUInt
}

/// The settings around an account's signatures: the tenant's chain, each account's
/// policy, and its nonces. Rows carry a MAC under the tenant's row key, so a database
/// edited outside Custos cannot loosen a policy, reset a day's total or reuse a nonce.
extension KeyService {
    static let noChain = "none"

    // MARK: The tenant's chain

    /// The chain the tenant's accounts sign for; nil when none is configured.
    public func ethereumChain(tenant: TenantID, by principal: Principal) async throws -> UInt64? {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            try await requireTenant(tenant)
            return try await configuredChain(tenant)
        }
    }

    /// Sets (or, with nil, clears) the tenant's chain. Once set, a transaction for
    /// another chain, or without replay protection, is refused; one that names no chain
    /// is signed for this one.
    public func setEthereumChain(_ chainID: UInt64?, tenant: TenantID, by principal: Principal) async throws {
        try await audited(.ethSetChain, by: principal, tenant: tenant) {
            try principal.authorize(.manageKeys, tenant: tenant)
            if let chainID {
                // The same bounds a transaction's chain id has.
                _ = try EthereumTransaction(kind: .accessList, chainID: chainID, nonce: 0, fees: .gasPrice(0), gas: 0, to: nil, value: 0, data: [])
            }
            var record = chainID.map { EthereumChainRecord(tenantID: tenant.rawValue, chainID: String($0), updatedAt: clock()) }
            if let row = record { record?.rowMAC = try await rowMACKey(tenant).authenticationCode(for: Self.macInput(row)) }
            let event = event(.ethSetChain, by: principal, tenant: tenant, details: ["chain_id": chainID.map(String.init) ?? "none"])
            try await store.setEthereumChain(record, tenantID: tenant.rawValue, audit: [event])
            ethereumChains.remove(tenant.rawValue)
        }
    }

    func configuredChain(_ tenant: TenantID) async throws -> UInt64? {
        if let cached = ethereumChains.get(tenant.rawValue) { return cached }
        guard let row = try await store.ethereumChain(tenantID: tenant.rawValue) else {
            ethereumChains.put(tenant.rawValue, nil)
            return nil
        }
        guard let mac = row.rowMAC, try await rowMACKey(tenant).isValidAuthenticationCode(mac, for: Self.macInput(row)),
              let chainID = UInt64(row.chainID) else {
            throw KeystoreError.corruptRecord("the Ethereum chain of tenant \(tenant.rawValue) does not match its MAC: it was edited outside Custos")
        }
        ethereumChains.put(tenant.rawValue, chainID)
        return chainID
    }

    /// The chain a transaction is signed for: the one it names, which must be the
    /// tenant's if the tenant has one; else the tenant's.
    func chain(for requested: EthereumTransactionRequest.Chain, tenant: TenantID) async throws -> UInt64? {
        let configured = try await configuredChain(tenant)
        switch (requested, configured) {
        case (.unspecified, let configured?): return configured
        case (.unspecified, nil):
            throw KeystoreError.ethereum(.invalid("chainId is missing, and tenant '\(tenant.rawValue)' has no chain configured ('custos eth chain set')"))
        case (.withoutReplayProtection, let configured?):
            throw KeystoreError.ethereum(.refused("a transaction without a chain id could be replayed on any chain; tenant '\(tenant.rawValue)' signs for chain \(configured) only"))
        case (.withoutReplayProtection, nil): return nil
        case (.id(let id), let configured?):
            guard id == configured else {
                throw KeystoreError.ethereum(.refused("chain \(id) is not the chain tenant '\(tenant.rawValue)' signs for (\(configured))"))
            }
            return id
        case (.id(let id), nil): return id
        }
    }

    // MARK: Policies

    /// The account's policy (`unrestricted` when none is set).
    public func ethereumPolicy(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> EthereumPolicy {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await checkedRecord(tenant: tenant, alias: alias)
            try Self.requireAccount(record)
            return try await policy(of: record, tenant: tenant)
        }
    }

    /// Sets the account's policy; nil (or `unrestricted`) removes it. It applies to the
    /// next request.
    public func setEthereumPolicy(_ policy: EthereumPolicy?, tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws {
        try await audited(.ethSetPolicy, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            let record = try await checkedRecord(tenant: tenant, alias: alias)
            try Self.requireAccount(record)
            let kept = policy == .unrestricted ? nil : policy
            var row = kept.map { EthereumPolicyRecord(keyID: record.id, policy: Array($0.json.text.utf8), updatedAt: clock()) }
            if let unsigned = row { row?.rowMAC = try await rowMACKey(tenant).authenticationCode(for: Self.macInput(unsigned)) }
            let text = kept?.json.text ?? "none"
            let event = event(.ethSetPolicy, by: principal, tenant: tenant, keyID: record.id,
                              details: ["policy": String(text.prefix(2048)), "policy_sha256": Hex.encode(DigestAlgorithm.sha256.hash(Array(text.utf8)))])
            try await store.setEthereumPolicy(row, keyID: record.id, audit: [event])
            ethereumPolicies.remove(record.id)
        }
    }

    func policy(of record: StoredKey, tenant: TenantID) async throws -> EthereumPolicy {
        if let cached = ethereumPolicies.get(record.id) { return cached }
        let policy = try await storedPolicy(of: record, tenant: tenant)
        ethereumPolicies.put(record.id, policy)
        return policy
    }

    private func storedPolicy(of record: StoredKey, tenant: TenantID) async throws -> EthereumPolicy {
        guard let row = try await store.ethereumPolicy(keyID: record.id) else { return .unrestricted }
        guard let mac = row.rowMAC, try await rowMACKey(tenant).isValidAuthenticationCode(mac, for: Self.macInput(row)),
              let json = try? JSONValue.parse(row.policy), let policy = try? EthereumPolicy(json: json) else {
            throw KeystoreError.corruptRecord("the policy of account \(record.alias.rawValue) does not match its MAC: it was edited outside Custos")
        }
        return policy
    }

    // MARK: Nonces

    /// The account's state on every chain it has signed for.
    public func ethereumAccountStates(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> [EthereumAccountChainState] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            let record = try await checkedRecord(tenant: tenant, alias: alias)
            try Self.requireAccount(record)
            let today = Self.day(clock())
            var states: [EthereumAccountChainState] = []
            for row in try await store.ethereumAccountStates(keyID: record.id) {
                try await checkMAC(row, tenant: tenant)
                states.append(EthereumAccountChainState(chainID: row.chain == Self.noChain ? nil : UInt64(row.chain),
                                                        nextNonce: try Self.nonce(row.nextNonce), day: today,
                                                        spentToday: row.day == today ? BigUInt(row.spent) ?? 0 : 0))
            }
            return states
        }
    }

    /// Sets the nonce the account hands out next on `chainID` (nil: transactions without
    /// replay protection), e.g. to the chain's transaction count for an account that has
    /// sent transactions before Custos held it. The day's total is kept.
    public func setEthereumNonce(_ next: UInt64, chainID: UInt64?, tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws {
        try await audited(.ethSetNonce, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.manageKeys, tenant: tenant)
            guard next < UInt64.max else { throw KeystoreError.ethereum(.invalid("a nonce must be below 2^64 − 1 (EIP-2681)")) }
            let record = try await checkedRecord(tenant: tenant, alias: alias)
            try Self.requireAccount(record)
            let chain = chainID.map(String.init) ?? Self.noChain
            try await updateAccountState(keyID: record.id, chain: chain, tenant: tenant) { state in
                let updated = EthereumAccountStateRecord(keyID: record.id, chain: chain, nextNonce: String(next),
                                                         day: state?.day ?? Self.day(clock()), spent: state?.spent ?? "0")
                let event = event(.ethSetNonce, by: principal, tenant: tenant, keyID: record.id,
                                  details: ["chain_id": chainID.map(String.init) ?? "none", "next_nonce": String(next),
                                            "previous": state?.nextNonce ?? "none"])
                return (updated, event, ())
            }
        }
    }

    /// Changes an account's state on `chain` as `change` computes it from the latest
    /// state, with the change's audit record in the same durable write. Changes of one
    /// account are computed one at a time, each from the one before (even while that
    /// one is still being committed); concurrent changes of any accounts share commits.
    /// If another process changed the row, the latest state is read again and `change`
    /// runs again.
    func updateAccountState<Result: Sendable>(
        keyID: String, chain: String, tenant: TenantID,
        _ change: (EthereumAccountStateRecord?) async throws -> (EthereumAccountStateRecord, AuditEvent, Result)
    ) async throws -> Result {
        let slot = keyID + "/" + chain
        for _ in 0..<Self.accountStateAttempts {
            let (ticket, result) = try await accountQueues.run(slot) { () async throws -> (CommitTicket, Result) in
                let latest: EthereumAccountStateRecord?
                if let known = accountStates.withLock({ $0[slot] }) {
                    latest = known
                } else {
                    latest = try await accountState(keyID: keyID, chain: chain, tenant: tenant)
                }
                let (state, event, result) = try await change(latest)
                let updated = try await withMAC(state, tenant: tenant)
                accountStates.withLock { $0[slot] = updated }
                return (accountStateCommits.submit(EthereumAccountStateChange(state: updated, expected: latest, audit: [event])), result)
            }
            let written: Bool
            do {
                written = try await ticket.written()
            } catch {
                forgetAccountState(slot)
                throw error
            }
            if written { return result }
            // The row had changed under us: read it again.
            forgetAccountState(slot)
        }
        throw KeystoreError.conflict("the account's nonce kept changing under this request (another process signs for it); nothing was signed, retry")
    }

    /// Drops the remembered state after a failed change, so the next change reads the store.
    private func forgetAccountState(_ slot: String) {
        accountStates.withLock { $0[slot] = nil }
    }

    /// The account's state on `chain`, refused if edited outside Custos.
    func accountState(keyID: String, chain: String, tenant: TenantID) async throws -> EthereumAccountStateRecord? {
        guard let row = try await store.ethereumAccountState(keyID: keyID, chain: chain) else { return nil }
        try await checkMAC(row, tenant: tenant)
        return row
    }

    private func checkMAC(_ row: EthereumAccountStateRecord, tenant: TenantID) async throws {
        guard let mac = row.rowMAC, try await rowMACKey(tenant).isValidAuthenticationCode(mac, for: Self.macInput(row)),
              UInt64(row.nextNonce) != nil, BigUInt(row.spent) != nil else {
            throw KeystoreError.corruptRecord("the Ethereum nonce and spending of key \(row.keyID) on chain \(row.chain) do not match their MAC: they were edited outside Custos")
        }
    }

    func withMAC(_ row: EthereumAccountStateRecord, tenant: TenantID) async throws -> EthereumAccountStateRecord {
        var row = row
        row.rowMAC = try await rowMACKey(tenant).authenticationCode(for: Self.macInput(row))
        return row
    }

    static func nonce(_ text: String) throws -> UInt64 {
        guard let value = UInt64(text) else { throw KeystoreError.corruptRecord("a stored nonce is not a number") }
        return value
    }

    /// The UTC calendar day of `date`, YYYY-MM-DD.
    static func day(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    private func rowMACKey(_ tenant: TenantID) async throws -> MACKey {
        try await keyring.rowMACKey(tenant: tenant.rawValue)
    }

    static func macInput(_ row: EthereumChainRecord) -> [UInt8] {
        BindingContext.make("custos.eth-chain-row.v1", [row.tenantID, row.chainID])
    }

    static func macInput(_ row: EthereumPolicyRecord) -> [UInt8] {
        BindingContext.make("custos.eth-policy-row.v1", [row.keyID, Hex.encode(DigestAlgorithm.sha256.hash(row.policy))])
    }

    static func macInput(_ row: EthereumAccountStateRecord) -> [UInt8] {
        BindingContext.make("custos.eth-account-state-row.v1", [row.keyID, row.chain, row.nextNonce, row.day, row.spent])
    }
}
