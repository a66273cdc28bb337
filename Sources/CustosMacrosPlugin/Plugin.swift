import SwiftCompilerPlugin
import SwiftSyntaxMacros

@main
struct CustosMacrosPlugin: CompilerPlugin {
    let providingMacros: [Macro.Type] = [PublicMemberwiseInitMacro.self, SnakeCaseCodingKeysMacro.self]
}
