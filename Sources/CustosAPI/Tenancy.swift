import CustosMacros
import Foundation

// Tenants and bearer tokens.

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct TenantResponse: Codable, Sendable, Equatable {
    public var id: String
    public var createdAt: Date
    public var wrappingGeneration: Int
}

/// A bearer token's public description (never its secret).
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct TokenResponse: Codable, Sendable, Equatable {
    public var id: String
    public var tenant: String?
    public var role: String
    public var description: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?
}

@PublicMemberwiseInit
public struct CreateTenantRequest: Codable, Sendable {
    public var id: String
}

@PublicMemberwiseInit
public struct TenantList: Codable, Sendable {
    public var tenants: [TenantResponse]
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct CreateTokenRequest: Codable, Sendable {
    public var tenant: String?
    public var role: String
    public var ttlSeconds: Int
    public var description: String?
}

@PublicMemberwiseInit
public struct CreatedTokenResponse: Codable, Sendable {
    public var token: TokenResponse
    /// The bearer secret; returned once, never again.
    public var bearer: String
}

@PublicMemberwiseInit
public struct TokenList: Codable, Sendable {
    public var tokens: [TokenResponse]
}
