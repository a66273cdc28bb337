import SwiftSyntax
import SwiftSyntaxMacros

/// `@PublicMemberwiseInit`: the memberwise initialiser Swift synthesises, but public, so that
/// a value type shared across modules lists its fields once. A parameter's default comes only
/// from its property's own initial value, so a response cannot silently leave a field out.
public struct PublicMemberwiseInitMacro: StoredPropertiesMacro {
    static let attributeName = "PublicMemberwiseInit"

    static func members(for properties: [StoredProperty]) throws -> [DeclSyntax] {
        var parameters: [String] = []
        var assignments: [String] = []
        // A `let` with a value is fixed; Swift's own memberwise init leaves it out too.
        for property in properties where !property.isLetWithValue {
            guard let type = property.type else {
                throw MacroUsageError("@PublicMemberwiseInit needs an explicit type for '\(property.name)'")
            }
            parameters.append("\(property.name): \(type)" + (property.initialValue.map { " = \($0)" } ?? ""))
            assignments.append("self.\(property.name) = \(property.name)")
        }
        let body = assignments.joined(separator: "\n")
        return ["public init(\(raw: parameters.joined(separator: ", "))) {\n\(raw: body)\n}"]
    }
}
