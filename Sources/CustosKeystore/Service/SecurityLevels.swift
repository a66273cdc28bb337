import CustosCrypto
import CustosStore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where HSM PINs come from by default: `CUSTOS_HSM_PIN_<NAME>` (the HSM name in upper
/// case, with every character other than a letter or digit as `_`).
public enum HSMPins {
    public static func variable(for name: String) -> String {
        "CUSTOS_HSM_PIN_" + String(name.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }

    @Sendable public static func fromEnvironment(_ name: String) throws -> SecretBytes {
        let variable = variable(for: name)
        guard let value = SecretEnvironment.value(variable), value.count > 0 else {
            throw KeystoreError.invalidArgument("no PIN for HSM '\(name)': set \(variable)")
        }
        return value
    }
}

/// The current association of a tenant and category, or one from its history.
public struct SecurityLevelInfo: Sendable, Equatable {
    public var tenant: TenantID
    public var category: KeyCategory
    public var level: SecurityLevel
    public var hsm: String?
    public var createdAt: Date
    public var deprecatedAt: Date?
}

extension KeyService {
    // MARK: HSMs

    /// Registers a PKCS#11 token under `name` for the High and Ultimate levels. Logs in
    /// with the PIN (from the HSM PIN source) and creates the High wrapping key if the
    /// token lacks it, before anything is recorded. Node-wide admins only; audited.
    public func registerHSM(name: String, module: String, tokenLabel: String, by principal: Principal) async throws -> HSMRecord {
        try await audited(.hsmRegister, by: principal, tenant: nil) {
            try principal.authorize(.manageProtection, tenant: nil)
            try Names.validateHSM(name)
            let configuration = PKCS11Configuration(module: module, tokenLabel: tokenLabel)
            try configuration.validate()
            if try await store.hsm(name: name) != nil {
                throw KeystoreError.store(.duplicateName(kind: "HSM", name: name))
            }
            let connection = HSMConnection(name: name, configuration: configuration, pin: try hsmPIN(name))
            try connection.prepare()
            let record = HSMRecord(name: name, module: module, tokenLabel: tokenLabel, createdAt: clock())
            try await store.addHSM(record)
            hsmConnections.withLock { $0[name] = connection }
            try await recordSuccess(event(.hsmRegister, by: principal, tenant: nil,
                                          details: ["hsm": name, "token": String(tokenLabel.prefix(64))]))
            logger.info("HSM registered", metadata: ["hsm": "\(name)", "token": "\(tokenLabel)"])
            return record
        }
    }

    public func hsms(by principal: Principal) async throws -> [HSMRecord] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: nil)
            return try await store.hsms()
        }
    }

    func hsmConnection(_ name: String) async throws -> HSMConnection {
        if let connection = hsmConnections.withLock({ $0[name] }) { return connection }
        guard let record = try await store.hsm(name: name) else {
            throw KeystoreError.invalidArgument("no HSM named '\(name)' is registered")
        }
        let connection = HSMConnection(name: name, configuration: PKCS11Configuration(module: record.module, tokenLabel: record.tokenLabel),
                                       pin: try hsmPIN(name))
        return hsmConnections.withLock { connections in
            if let existing = connections[name] { return existing }
            connections[name] = connection
            return connection
        }
    }

    // MARK: Security levels

    /// Associates a tenant's category with a level (and HSM). The previous association
    /// is deprecated, never overwritten; keys keep the protection they were made with.
    /// Admins of the tenant only; audited.
    public func assignSecurityLevel(tenant: TenantID, category: KeyCategory, level: SecurityLevel, hsm: String?,
                                    by principal: Principal) async throws -> SecurityLevelInfo {
        try await audited(.securityLevelAssign, by: principal, tenant: tenant) {
            try principal.authorize(.manageProtection, tenant: tenant)
            switch (level, hsm) {
            case (.standard, .some):
                throw KeystoreError.invalidArgument("security level standard keeps keys in the database; it takes no --hsm")
            case (.high, nil), (.ultimate, nil):
                throw KeystoreError.invalidArgument("security level \(level.rawValue) needs an HSM (--hsm NAME)")
            default: break
            }
            try await requireTenant(tenant)
            if let hsm {
                guard try await store.hsm(name: hsm) != nil else {
                    throw KeystoreError.invalidArgument("no HSM named '\(hsm)' is registered")
                }
            }
            let record = SecurityLevelRecord(tenantID: tenant.rawValue, category: category.rawValue, level: level.rawValue, hsm: hsm, createdAt: clock())
            try await store.assignSecurityLevel(record)
            var details = ["category": category.rawValue, "level": level.rawValue]
            if let hsm { details["hsm"] = hsm }
            try await recordSuccess(event(.securityLevelAssign, by: principal, tenant: tenant, details: details))
            logger.info("security level assigned", metadata: ["tenant": "\(tenant)", "category": "\(category.rawValue)", "level": "\(level.rawValue)"])
            return try Self.levelInfo(record)
        }
    }

    /// The tenant's associations, current and deprecated, oldest first.
    public func securityLevels(tenant: TenantID, by principal: Principal) async throws -> [SecurityLevelInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: tenant)
            try await requireTenant(tenant)
            return try await store.securityLevels(tenantID: tenant.rawValue).map(Self.levelInfo)
        }
    }

    static func levelInfo(_ record: SecurityLevelRecord) throws -> SecurityLevelInfo {
        let row = "security level record of tenant '\(record.tenantID.prefix(80))', category '\(record.category.prefix(40))'"
        guard let tenant = TenantID(record.tenantID), let category = try? KeyCategory(identifier: record.category),
              let level = SecurityLevel(rawValue: record.level) else {
            throw KeystoreError.corruptRecord("the \(row) holds a value Custos never writes (level '\(record.level.prefix(40))')")
        }
        return SecurityLevelInfo(tenant: tenant, category: category, level: level,
                                 hsm: record.hsm, createdAt: record.createdAt, deprecatedAt: record.deprecatedAt)
    }

    /// The protection new keys of this tenant and category get (standard by default).
    func protection(tenant: TenantID, category: KeyCategory) async throws -> any KeyProtection {
        let current = try await store.securityLevels(tenantID: tenant.rawValue)
            .last { $0.category == category.rawValue && $0.deprecatedAt == nil }
        guard let current, let level = SecurityLevel(rawValue: current.level), level != .standard, let hsm = current.hsm else {
            return soft
        }
        return try await protection(level: level, hsm: hsm)
    }

    private func protection(level: SecurityLevel, hsm: String) async throws -> any KeyProtection {
        let connection = try await hsmConnection(hsm)
        switch level {
        case .standard: return soft
        case .high: return HighProtection(soft: soft, hsm: connection)
        case .ultimate: return UltimateProtection(hsm: connection, keyring: keyring)
        }
    }

    /// The protection recorded with a key.
    func protection(for reference: ProtectionReference) async throws -> any KeyProtection {
        switch reference {
        case .soft: soft
        case .high(let hsm): try await protection(level: .high, hsm: hsm)
        case .ultimate(let hsm): try await protection(level: .ultimate, hsm: hsm)
        }
    }
}
