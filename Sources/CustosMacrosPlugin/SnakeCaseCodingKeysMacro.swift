import SwiftSyntax
import SwiftSyntaxMacros

/// `@SnakeCaseCodingKeys`: a `CodingKeys` enum naming every stored property in snake_case
/// (`keyID` → `key_id`, `primaryVersion` → `primary_version`), the API's JSON convention,
/// so that no wire type spells its keys by hand.
public struct SnakeCaseCodingKeysMacro: StoredPropertiesMacro {
    static let attributeName = "SnakeCaseCodingKeys"

    static func members(for properties: [StoredProperty]) throws -> [DeclSyntax] {
        // A `let` with a value is never decoded, so it has no key.
        let cases = properties
            .filter { !$0.isLetWithValue }
            .map { property in
                let key = snakeCase(property.name)
                return key == property.name ? "case \(property.name)" : "case \(property.name) = \"\(key)\""
            }
        return ["enum CodingKeys: String, CodingKey {\n\(raw: cases.joined(separator: "\n"))\n}"]
    }

    /// An underscore before each capital that follows a lower-case letter or digit, then all
    /// lower case: a run of capitals (`ID`) stays one word.
    static func snakeCase(_ name: String) -> String {
        var result = ""
        var previous: Character?
        for character in name {
            if character.isUppercase, let previous, previous.isLowercase || previous.isNumber {
                result.append("_")
            }
            result.append(contentsOf: character.lowercased())
            previous = character
        }
        return result
    }
}
