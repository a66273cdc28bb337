import CustosJSON
/// What a key is for, as in Corda's categories. Protection policies attach to a
/// tenant and category.
public enum KeyCategory: String, CaseIterable, Sendable, Codable {
    case consensus = "CONSENSUS"
    case ledger = "LEDGER"
    case notary = "NOTARY"
    case session = "SESSION"
    case tls = "TLS"
    case accounts = "ACCOUNTS"
    case ci = "CI"
    case jwt = "JWT"
    case encryption = "ENCRYPTION"
    case namespace = "NAMESPACE"
    case `operator` = "OPERATOR"

    public init(identifier: String) throws {
        guard let category = KeyCategory(rawValue: identifier.uppercased()) else {
            throw KeystoreError.unknownCategory(identifier)
        }
        self = category
    }
}

/// Names that appear in paths, logs and the API are restricted to a safe alphabet.
enum Names {
    static func validateHSM(_ name: String) throws {
        try validate(name, kind: "HSM name", maxLength: 32, rule: "1–32 characters: lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", allowUpper: false)
    }

    static func validateTenant(_ id: String) throws {
        try validate(id, kind: "tenant", maxLength: 64, rule: "1–64 characters: lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", allowUpper: false)
    }

    static func validateAlias(_ alias: String) throws {
        try validate(alias, kind: "alias", maxLength: 128, rule: "1–128 characters: letters, digits, '-', '_', '.', ':' or '/', starting with a letter or digit", allowUpper: true, extra: [":", "/"])
    }

    static func validateLabels(_ labels: [String: String]) throws {
        guard labels.count <= 64 else { throw KeystoreError.invalidArgument("at most 64 labels per key") }
        for (name, value) in labels {
            try validate(name, kind: "label name", maxLength: 64, rule: "1–64 characters: letters, digits, '-', '_' or '.'", allowUpper: true)
            try validateText(value, field: "label '\(name)' value", maxBytes: 256)
        }
    }

    /// A key's identifier in an outside system: free text, one line.
    static func validateExternalID(_ value: String?) throws {
        if let value { try validateText(value, field: "external id", maxBytes: 256) }
    }

    /// Free text shown to people (label values, external ids, token descriptions): at
    /// most `maxBytes` of UTF-8 and no control, bidi or separator character, so it can
    /// neither forge a line of a listing nor hide what it says.
    static func validateText(_ value: String, field: String, maxBytes: Int) throws {
        guard value.utf8.count <= maxBytes else {
            throw KeystoreError.invalidArgument("\(field) is longer than \(maxBytes) bytes")
        }
        guard !TerminalText.containsUnsafe(value) else {
            throw KeystoreError.invalidArgument("\(field) contains a control or bidirectional character")
        }
    }

    private static func validate(_ value: String, kind: String, maxLength: Int, rule: String, allowUpper: Bool, extra: Set<Character> = []) throws {
        let allowed: (Character) -> Bool = { character in
            guard character.isASCII else { return false }
            if character.isNumber || character.isLowercase { return true }
            if allowUpper && character.isUppercase { return true }
            return ["-", "_", "."].contains(character) || extra.contains(character)
        }
        guard !value.isEmpty, value.count <= maxLength, value.allSatisfy(allowed),
              let first = value.first, first.isLetter || first.isNumber else {
            throw KeystoreError.invalidName(kind: kind, value: value, rule: rule)
        }
    }
}
