import Foundation

/// The chain a tenant's Ethereum accounts sign for (schema version 8).
public struct EthereumChainRecord: Sendable, Equatable {
    public var tenantID: String
    /// The chain id, in decimal.
    public var chainID: String
    public var updatedAt: Date
    /// HMAC of the row under the tenant's row-MAC key.
    public var rowMAC: [UInt8]?

    public init(tenantID: String, chainID: String, updatedAt: Date, rowMAC: [UInt8]? = nil) {
        self.tenantID = tenantID
        self.chainID = chainID
        self.updatedAt = updatedAt
        self.rowMAC = rowMAC
    }
}

/// An account's signing policy, as its canonical JSON text.
public struct EthereumPolicyRecord: Sendable, Equatable {
    public var keyID: String
    public var policy: [UInt8]
    public var updatedAt: Date
    public var rowMAC: [UInt8]?

    public init(keyID: String, policy: [UInt8], updatedAt: Date, rowMAC: [UInt8]? = nil) {
        self.keyID = keyID
        self.policy = policy
        self.updatedAt = updatedAt
        self.rowMAC = rowMAC
    }
}

/// What an account has signed on one chain: the next nonce it hands out and what it
/// transferred on `day`. Replaced as a whole, compare-and-set, in the transaction that
/// writes the signing's audit record.
public struct EthereumAccountStateRecord: Sendable, Equatable {
    public var keyID: String
    /// The chain id in decimal, or "none" for transactions without replay protection.
    public var chain: String
    /// In decimal (a nonce is a 64-bit unsigned number).
    public var nextNonce: String
    /// The UTC day `spent` counts, as YYYY-MM-DD.
    public var day: String
    /// Wei transferred on `day`, in decimal.
    public var spent: String
    public var rowMAC: [UInt8]?

    public init(keyID: String, chain: String, nextNonce: String, day: String, spent: String, rowMAC: [UInt8]? = nil) {
        self.keyID = keyID
        self.chain = chain
        self.nextNonce = nextNonce
        self.day = day
        self.spent = spent
        self.rowMAC = rowMAC
    }
}

/// A compare-and-set of one account's state on one chain, with the audit records that
/// go with it.
public struct EthereumAccountStateChange: Sendable {
    public var state: EthereumAccountStateRecord
    public var expected: EthereumAccountStateRecord?
    public var audit: [AuditEvent]

    public init(state: EthereumAccountStateRecord, expected: EthereumAccountStateRecord?, audit: [AuditEvent]) {
        self.state = state
        self.expected = expected
        self.audit = audit
    }
}
