/// A name that is checked once, when it is made, and is then known to be valid
/// wherever it travels: in paths, logs, audit records and store queries.
public protocol ValidatedName: Hashable, Sendable, Comparable, LosslessStringConvertible, ExpressibleByStringLiteral {
    var rawValue: String { get }
    /// Throws `KeystoreError.invalidName` naming the rule the value breaks.
    init(validating value: String) throws
}

extension ValidatedName {
    public init?(_ description: String) {
        try? self.init(validating: description)
    }

    /// For names written in code; a literal that breaks the rule is a programming error.
    public init(stringLiteral value: String) {
        do {
            try self.init(validating: value)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A tenant: 1–64 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit.
public struct TenantID: ValidatedName {
    public let rawValue: String

    public init(validating value: String) throws {
        try Names.validateTenant(value)
        rawValue = value
    }
}

/// A key's alias, unique in its tenant: 1–128 letters, digits, '-', '_', '.', ':' or
/// '/', starting with a letter or digit.
public struct KeyAlias: ValidatedName {
    public let rawValue: String

    public init(validating value: String) throws {
        try Names.validateAlias(value)
        rawValue = value
    }
}

/// How a key's private material is kept, as recorded with the key: "soft",
/// "high:HSM" or "ultimate:HSM".
public enum ProtectionReference: Hashable, Sendable, CustomStringConvertible {
    case soft
    /// Soft-wrapped, then wrapped again by an AES key inside the named HSM.
    case high(hsm: String)
    /// Generated and used inside the named HSM; the store keeps a handle.
    case ultimate(hsm: String)

    public init(parsing text: String) throws {
        if text == "soft" { self = .soft; return }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else {
            throw KeystoreError.invalidArgument("unknown key protection '\(text.prefix(80))'")
        }
        switch parts[0] {
        case SecurityLevel.high.rawValue: self = .high(hsm: parts[1])
        case SecurityLevel.ultimate.rawValue: self = .ultimate(hsm: parts[1])
        default: throw KeystoreError.invalidArgument("unknown key protection '\(text.prefix(80))'")
        }
    }

    public var description: String {
        switch self {
        case .soft: "soft"
        case .high(let hsm): "high:\(hsm)"
        case .ultimate(let hsm): "ultimate:\(hsm)"
        }
    }
}
