import Foundation

/// A PKCS#11 token registered under a name, for the High and Ultimate security
/// levels. Its PIN is never stored.
public struct HSMRecord: Sendable, Equatable {
    public var name: String
    public var module: String
    public var tokenLabel: String
    public var createdAt: Date

    public init(name: String, module: String, tokenLabel: String, createdAt: Date) {
        self.name = name
        self.module = module
        self.tokenLabel = tokenLabel
        self.createdAt = createdAt
    }
}

/// Which protection a tenant's keys of one category get. Associations are never
/// overwritten: a new one deprecates the current one, and the history stays.
public struct SecurityLevelRecord: Sendable, Equatable {
    public var tenantID: String
    public var category: String
    /// "standard", "high" or "ultimate".
    public var level: String
    /// The HSM for high and ultimate; nil for standard.
    public var hsm: String?
    public var createdAt: Date
    /// When a later association replaced this one; nil for the current one.
    public var deprecatedAt: Date?

    public init(tenantID: String, category: String, level: String, hsm: String?, createdAt: Date, deprecatedAt: Date? = nil) {
        self.tenantID = tenantID
        self.category = category
        self.level = level
        self.hsm = hsm
        self.createdAt = createdAt
        self.deprecatedAt = deprecatedAt
    }
}
