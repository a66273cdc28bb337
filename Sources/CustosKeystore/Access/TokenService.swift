import Crypto
import CustosCrypto
import CustosStore
import Foundation
import Synchronization

/// A newly created token: the only time its secret exists outside the caller.
public struct CreatedToken: Sendable {
    public var info: TokenInfo
    /// "cst_<id>_<secret>"; shown once, stored nowhere (only SHA-256 of the secret).
    public var bearer: SecretBytes
}

public struct TokenInfo: Sendable, Equatable {
    public var id: String
    /// nil for a node-wide token.
    public var tenant: TenantID?
    public var role: Role
    public var description: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?

    /// Decoded once, where the row is read; a value Custos never writes is refused.
    init(_ record: TokenRecord) throws {
        id = record.id
        guard let role = Role(rawValue: record.role) else {
            throw KeystoreError.corruptRecord("token record \(record.id) has an invalid role '\(record.role.prefix(40))'")
        }
        self.role = role
        do {
            tenant = try record.tenantID.map { try TenantID(validating: $0) }
        } catch {
            throw KeystoreError.corruptRecord("token record \(record.id) has an invalid tenant")
        }
        description = record.description
        createdAt = record.createdAt
        expiresAt = record.expiresAt
        revokedAt = record.revokedAt
    }
}

/// Bearer tokens for the API: creation, verification (with a short-lived cache so a
/// request does not always reach the store) and revocation. Every creation and
/// revocation is audited in the same transaction.
public final class TokenService: Sendable {
    let store: any Store
    let audit: AuditLog
    let clock: @Sendable () -> Date
    private let cache: Mutex<[String: (record: TokenRecord, fetched: ContinuousClock.Instant)]>
    private let timeToLive: Duration

    static let prefix = "cst_"

    public init(store: any Store, audit: AuditLog, timeToLive: Duration = .seconds(1),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.audit = audit
        self.clock = clock
        self.timeToLive = timeToLive
        self.cache = Mutex([:])
    }

    public static let maximumLifetime: TimeInterval = 366 * 24 * 3600

    public func create(tenant: TenantID?, role: Role, lifetime: TimeInterval, description: String? = nil,
                       by principal: Principal) async throws -> CreatedToken {
        try principal.authorize(.manageTokens, tenant: tenant)
        guard lifetime > 0, lifetime <= Self.maximumLifetime else {
            throw KeystoreError.invalidArgument("token lifetime must be between 1 second and 366 days")
        }
        if let description { try Names.validateText(description, field: "token description", maxBytes: 200) }
        let now = clock()
        // A token may not outlive the token that creates it (revoking or letting a
        // short-lived token expire must not leave a longer-lived heir behind).
        if let creator = principal.tokenID, let record = try await lookup(id: creator),
           now.addingTimeInterval(lifetime) > record.expiresAt {
            throw KeystoreError.invalidArgument("a token may not outlive the token that creates it (expires \(ISO8601DateFormatter().string(from: record.expiresAt)))")
        }
        let id = Hex.encode(SecretBytes(randomCount: 8).copyBytes())
        let secret = SecretBytes(randomCount: 32)
        let record = TokenRecord(id: id, tenantID: tenant?.rawValue, role: role.rawValue,
                                 secretHash: secret.withUnsafeBytes { Array(SHA256.hash(data: $0)) },
                                 description: description, createdAt: now, expiresAt: now.addingTimeInterval(lifetime))
        let event = AuditEvent(time: now, actor: principal.id, tenantID: tenant?.rawValue, operation: .tokenCreate, outcome: .success,
                               details: ["token": id, "role": role.rawValue, "expires": ISO8601DateFormatter().string(from: record.expiresAt)])
        try await mappingErrors { try await store.insertToken(record, audit: [event]) }
        let encoded = secret.withUnsafeBytes { TokenEncoding.encode($0) }
        return CreatedToken(info: try TokenInfo(record), bearer: SecretBytes(Array((Self.prefix + id + "_").utf8) + encoded))
    }

    /// The principal a bearer token stands for. Unknown, malformed, expired and
    /// revoked tokens all give the same error; the secret is compared in constant time.
    public func authenticate(bearer: some Collection<UInt8>) async throws -> Principal {
        var bytes = Array(bearer)
        defer { SecretBytes.zeroize(&bytes) }
        let prefix = Array(Self.prefix.utf8)
        guard bytes.count == prefix.count + 16 + 1 + 43, bytes.starts(with: prefix), bytes[prefix.count + 16] == UInt8(ascii: "_") else {
            throw KeystoreError.invalidToken
        }
        let id = String(decoding: bytes[prefix.count..<prefix.count + 16], as: UTF8.self)
        guard id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
              let secret = TokenEncoding.decode(bytes[(prefix.count + 17)...]) else {
            throw KeystoreError.invalidToken
        }
        defer { var wipe = secret; SecretBytes.zeroize(&wipe) }
        let record = try await lookup(id: id)
        guard let record, ConstantTime.equals(Array(SHA256.hash(data: secret)), record.secretHash),
              record.revokedAt == nil, record.expiresAt > clock(), let role = Role(rawValue: record.role) else {
            throw KeystoreError.invalidToken
        }
        // A tenant the token row cannot name makes the token invalid, never node-wide.
        let tenant: TenantID?
        do {
            tenant = try record.tenantID.map { try TenantID(validating: $0) }
        } catch {
            throw KeystoreError.invalidToken
        }
        return Principal(id: "token:\(id)", tenant: tenant, role: role)
    }

    /// Forgets the token rows read from the store, so a revocation made by another
    /// process takes effect at the next request instead of within `timeToLive`.
    public func forgetCachedTokens() {
        cache.withLock { $0.removeAll() }
    }

    private func lookup(id: String) async throws -> TokenRecord? {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[id] }), now - cached.fetched < timeToLive { return cached.record }
        let record = try await mappingErrors { try await store.token(id: id) }
        cache.withLock { entries in
            if let record { entries[id] = (record, now) } else { entries[id] = nil }
            if entries.count > 10_000 { entries.removeAll() }
        }
        return record
    }

    public func revoke(id: String, by principal: Principal) async throws -> TokenInfo {
        guard let record = try await mappingErrors({ try await store.token(id: id) }) else {
            throw KeystoreError.store(.tokenNotFound(id))
        }
        do {
            try principal.authorize(.manageTokens, tenant: try record.tenantID.map { try TenantID(validating: $0) })
        } catch {
            // The refusal is audited like any other; to the caller, someone else's token
            // looks the same as no token.
            try? await audit.recordNow([AuditEvent(time: clock(), actor: principal.id, tenantID: principal.tenant?.rawValue, operation: .tokenRevoke,
                                                   outcome: .denied, details: ["error": "forbidden"])])
            throw KeystoreError.store(.tokenNotFound(id))
        }
        try await revokeWithHeirs(record, by: principal, cause: nil)
        return try TokenInfo(try await mappingErrors { try await store.token(id: id) }!)
    }

    /// Revokes `record` and every token it created, and theirs in turn (the audit log
    /// names each token's creator), so no token outlives its creator's revocation.
    private func revokeWithHeirs(_ record: TokenRecord, by principal: Principal, cause: String?) async throws {
        var pending = [(record, cause)]
        var seen: Set<String> = []
        while let (token, cause) = pending.popLast() {
            guard seen.insert(token.id).inserted else { continue }
            if token.revokedAt == nil {
                let now = clock()
                var details = ["token": token.id]
                if let cause { details["revoked_with"] = cause }
                let event = AuditEvent(time: now, actor: principal.id, tenantID: token.tenantID, operation: .tokenRevoke,
                                       outcome: .success, details: details)
                try await mappingErrors { try await store.revokeToken(id: token.id, at: now, audit: [event]) }
                cache.withLock { $0[token.id] = nil }
            }
            for heir in try await heirs(of: token.id) { pending.append((heir, token.id)) }
        }
    }

    /// The tokens created by token `id`, from the log's successful token.create records.
    private func heirs(of id: String) async throws -> [TokenRecord] {
        var found: [TokenRecord] = []
        var after: Int64 = 0
        while true {
            let page = try await mappingErrors {
                try await store.auditRecords(AuditQuery(after: after, limit: 1000, operation: AuditOperation.tokenCreate.rawValue))
            }
            for entry in page where entry.actor == "token:\(id)" && entry.outcome == AuditOutcome.success.rawValue {
                if let heir = entry.detailValues["token"], let record = try await mappingErrors({ try await store.token(id: heir) }) {
                    found.append(record)
                }
            }
            guard page.count == 1000, let last = page.last?.sequence else { return found }
            after = last
        }
    }

    public func list(tenant: TenantID?, by principal: Principal) async throws -> [TokenInfo] {
        try principal.authorize(.manageTokens, tenant: tenant ?? principal.tenant)
        return try await mappingErrors { try await store.tokens(tenantID: (tenant ?? principal.tenant)?.rawValue) }.map { try TokenInfo($0) }
    }
}

/// Unpadded base64url (RFC 4648 §5) on bytes, so token secrets never become Strings here.
enum TokenEncoding {
    static func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        Array(Data(bytes).base64EncodedString().utf8).compactMap { byte -> UInt8? in
            switch byte {
            case UInt8(ascii: "+"): UInt8(ascii: "-")
            case UInt8(ascii: "/"): UInt8(ascii: "_")
            case UInt8(ascii: "="): nil
            default: byte
            }
        }
    }

    static func decode<C: Collection<UInt8>>(_ text: C) -> [UInt8]? {
        var standard = text.map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "-"): UInt8(ascii: "+")
            case UInt8(ascii: "_"): UInt8(ascii: "/")
            default: byte
            }
        }
        defer { SecretBytes.zeroize(&standard) }
        while standard.count % 4 != 0 { standard.append(UInt8(ascii: "=")) }
        guard let data = Data(base64Encoded: Data(standard)) else { return nil }
        var decoded = Array(data)
        // One spelling per secret: a last character differing only in its unused bits
        // decodes to the same bytes, and would be another string that authenticates.
        var again = decoded.withUnsafeBytes { encode($0) }
        var given = Array(text)
        defer { SecretBytes.zeroize(&again); SecretBytes.zeroize(&given) }
        let canonical = again.withUnsafeBytes { a in given.withUnsafeBytes { b in ConstantTime.equals(a, b) } }
        guard canonical else {
            SecretBytes.zeroize(&decoded)
            return nil
        }
        return decoded
    }
}
