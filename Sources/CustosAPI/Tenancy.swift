import Foundation

// Tenants and bearer tokens.

public struct TenantResponse: Codable, Sendable, Equatable {
    public var id: String
    public var createdAt: Date
    public var wrappingGeneration: Int

    public init(id: String, createdAt: Date, wrappingGeneration: Int) {
        self.id = id
        self.createdAt = createdAt
        self.wrappingGeneration = wrappingGeneration
    }

    enum CodingKeys: String, CodingKey {
        case id
        case createdAt = "created_at"
        case wrappingGeneration = "wrapping_generation"
    }
}

/// A bearer token's public description (never its secret).
public struct TokenResponse: Codable, Sendable, Equatable {
    public var id: String
    public var tenant: String?
    public var role: String
    public var description: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?

    public init(id: String, tenant: String?, role: String, description: String?, createdAt: Date, expiresAt: Date, revokedAt: Date?) {
        self.id = id
        self.tenant = tenant
        self.role = role
        self.description = description
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, tenant, role, description
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
    }
}

public struct CreateTenantRequest: Codable, Sendable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct TenantList: Codable, Sendable {
    public var tenants: [TenantResponse]
    public init(tenants: [TenantResponse]) { self.tenants = tenants }
}

public struct CreateTokenRequest: Codable, Sendable {
    public var tenant: String?
    public var role: String
    public var ttlSeconds: Int
    public var description: String?

    public init(tenant: String?, role: String, ttlSeconds: Int, description: String?) {
        self.tenant = tenant
        self.role = role
        self.ttlSeconds = ttlSeconds
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case tenant, role, description
        case ttlSeconds = "ttl_seconds"
    }
}

public struct CreatedTokenResponse: Codable, Sendable {
    public var token: TokenResponse
    /// The bearer secret; returned once, never again.
    public var bearer: String
    public init(token: TokenResponse, bearer: String) {
        self.token = token
        self.bearer = bearer
    }
}

public struct TokenList: Codable, Sendable {
    public var tokens: [TokenResponse]
    public init(tokens: [TokenResponse]) { self.tokens = tokens }
}
