import SwiftSyntax
import SwiftSyntaxMacros

/// One stored property of a struct, as the macros here see it.
struct StoredProperty {
    var name: String
    var type: String?
    var initialValue: String?
    var isLetWithValue: Bool
}

/// A member macro on a struct whose members follow from its stored properties alone.
protocol StoredPropertiesMacro: MemberMacro {
    static var attributeName: String { get }
    static func members(for properties: [StoredProperty]) throws -> [DeclSyntax]
}

extension StoredPropertiesMacro {
    public static func expansion(
        of node: AttributeSyntax,
        providingMembersOf declaration: some DeclGroupSyntax,
        conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [DeclSyntax] {
        try members(for: StoredProperties.of(declaration, macro: attributeName))
    }
}

enum StoredProperties {
    /// The stored instance properties of a struct, in declaration order: what Swift's own
    /// memberwise initialiser and Codable synthesis would use.
    static func of(_ declaration: some DeclGroupSyntax, macro: String) throws -> [StoredProperty] {
        guard declaration.is(StructDeclSyntax.self) else {
            throw MacroUsageError("@\(macro) applies to structs only")
        }
        var properties: [StoredProperty] = []
        for member in declaration.memberBlock.members {
            guard let variable = member.decl.as(VariableDeclSyntax.self), isInstanceStorage(variable) else { continue }
            let isLet = variable.bindingSpecifier.tokenKind == .keyword(.let)
            for binding in variable.bindings where !isComputed(binding) {
                guard let name = binding.pattern.as(IdentifierPatternSyntax.self)?.identifier.text else {
                    throw MacroUsageError("@\(macro) needs one name per stored property")
                }
                properties.append(StoredProperty(
                    name: name,
                    type: binding.typeAnnotation?.type.trimmedDescription,
                    initialValue: binding.initializer?.value.trimmedDescription,
                    isLetWithValue: isLet && binding.initializer != nil))
            }
        }
        return properties
    }

    private static func isInstanceStorage(_ variable: VariableDeclSyntax) -> Bool {
        !variable.modifiers.contains { modifier in
            [.keyword(.static), .keyword(.class), .keyword(.lazy)].contains(modifier.name.tokenKind)
        }
    }

    /// Computed properties have a getter; observers (willSet/didSet) keep a property stored.
    private static func isComputed(_ binding: PatternBindingSyntax) -> Bool {
        guard let accessors = binding.accessorBlock?.accessors else { return false }
        switch accessors {
        case .getter:
            return true
        case .accessors(let list):
            return list.contains { [.keyword(.get), .keyword(.set), .keyword(._read), .keyword(._modify)]
                .contains($0.accessorSpecifier.tokenKind) }
        }
    }
}

struct MacroUsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
