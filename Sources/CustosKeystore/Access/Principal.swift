import Foundation

/// What a caller may do. Roles are fixed sets of permissions, so a token's power is
/// readable from its role alone.
public enum Role: String, Sendable, Codable, CaseIterable {
    /// Everything in its scope, including tokens (and tenants, when not tenant-bound).
    case admin
    /// Key lifecycle: generate, import, rotate, disable, enable, destroy.
    case `operator`
    /// Uses keys: sign, encrypt, decrypt, HMAC, prove possession.
    case signer
    /// Reads and verifies the audit log.
    case auditor
    /// The ledger node beside a replica: hands in schedule and checkpoint notices and asks for
    /// consensus shares (docs/cluster.md). Nothing else: it reads no key and no audit record.
    case node

    public func allows(_ permission: Permission) -> Bool {
        switch permission {
        case .readKeys, .verify: self != .node
        case .manageKeys: self == .admin || self == .operator
        case .useKeys: self == .admin || self == .signer
        case .readAudit: self == .admin || self == .auditor
        case .manageTokens, .manageTenants, .manageProtection, .manageTLSTrust: self == .admin
        case .operateCluster: self == .node
        case .submitClusterCommand: self == .node || self == .admin
        case .readCluster: self == .node || self == .admin || self == .auditor
        }
    }
}

public enum Permission: String, Sendable {
    case manageTenants = "manage tenants"
    case manageTokens = "manage tokens"
    /// Register HSMs and choose the security level of a tenant's categories.
    case manageProtection = "manage HSMs and security levels"
    case manageKeys = "manage keys"
    case readKeys = "read keys"
    case useKeys = "use keys"
    case verify = "verify signatures"
    case readAudit = "read the audit log"
    /// Change the server-wide TLS client trust set (pins, trusted CAs).
    case manageTLSTrust = "change the TLS client trust set"
    /// Hand in the ledger's schedule and checkpoint notices, ask for consensus shares.
    case operateCluster = "operate the replica"
    /// Hand a replica an operator command; the operator's signature is what authorises it.
    case submitClusterCommand = "submit operator commands"
    /// Read the replica's status, key log and stable checkpoints.
    case readCluster = "read the replica's state"
}

/// The authenticated caller of an operation, named in every audit record it causes.
public struct Principal: Sendable, Equatable {
    /// "token:<id>" for API callers, "cli" for local commands on the data directory.
    public var id: String
    /// The tenant this caller is bound to; nil for node-wide callers.
    public var tenant: TenantID?
    public var role: Role

    public init(id: String, tenant: TenantID?, role: Role) {
        self.id = id
        self.tenant = tenant
        self.role = role
    }

    /// The id of the API token this caller authenticated with, if any.
    public var tokenID: String? {
        id.hasPrefix("token:") ? String(id.dropFirst("token:".count)) : nil
    }

    /// Whoever runs `custos` on the data directory holds the root of trust already.
    public static let local = Principal(id: "cli", tenant: nil, role: .admin)

    /// Throws `forbidden` unless the role has `permission` and the scope covers
    /// `tenant` (nil: a node-wide action, allowed only to node-wide callers).
    public func authorize(_ permission: Permission, tenant: TenantID?) throws {
        guard role.allows(permission) else {
            throw KeystoreError.forbidden("role '\(role.rawValue)' may not \(permission.rawValue)")
        }
        if permission == .manageTenants, self.tenant != nil {
            throw KeystoreError.forbidden("a tenant-bound token may not \(permission.rawValue)")
        }
        if let bound = self.tenant {
            guard let tenant, tenant == bound else {
                throw KeystoreError.forbidden("this token is bound to another tenant")
            }
        }
    }
}
