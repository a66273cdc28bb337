import CustosMacrosPlugin
import SwiftSyntaxMacros
import SwiftSyntaxMacrosTestSupport
import XCTest

final class WireMacroTests: XCTestCase {
    private let macros: [String: Macro.Type] = [
        "PublicMemberwiseInit": PublicMemberwiseInitMacro.self,
        "SnakeCaseCodingKeys": SnakeCaseCodingKeysMacro.self,
    ]

    func testStoredPropertiesInOrderWithDeclaredDefaultsOnly() {
        assertMacroExpansion(
            """
            @PublicMemberwiseInit
            public struct Item {
                public var alias: String
                public var fingerprint: String?
                public var labels: [String: String]? = nil
                public let kind: String = "fixed"
                public static var shared = 1
                public var computed: Int { 1 }
                public var observed: Int { didSet { } }
            }
            """,
            expandedSource: """
            public struct Item {
                public var alias: String
                public var fingerprint: String?
                public var labels: [String: String]? = nil
                public let kind: String = "fixed"
                public static var shared = 1
                public var computed: Int { 1 }
                public var observed: Int { didSet { } }

                public init(alias: String, fingerprint: String?, labels: [String: String]? = nil, observed: Int) {
                    self.alias = alias
                    self.fingerprint = fingerprint
                    self.labels = labels
                    self.observed = observed
                }
            }
            """,
            macros: macros
        )
    }

    func testRefusesPropertyWithoutType() {
        assertMacroExpansion(
            """
            @PublicMemberwiseInit
            struct Item {
                var count = 1
            }
            """,
            expandedSource: """
            struct Item {
                var count = 1
            }
            """,
            diagnostics: [DiagnosticSpec(message: "@PublicMemberwiseInit needs an explicit type for 'count'", line: 1, column: 1)],
            macros: macros
        )
    }

    func testRefusesClasses() {
        assertMacroExpansion(
            """
            @PublicMemberwiseInit
            final class Item {
                var count: Int = 1
            }
            """,
            expandedSource: """
            final class Item {
                var count: Int = 1
            }
            """,
            diagnostics: [DiagnosticSpec(message: "@PublicMemberwiseInit applies to structs only", line: 1, column: 1)],
            macros: macros
        )
    }

    func testCodingKeysAreSnakeCaseForEveryDecodedProperty() {
        assertMacroExpansion(
            """
            @SnakeCaseCodingKeys
            struct Body: Codable {
                var id: String
                var keyID: String
                var primaryVersion: Int
                var proofOfPossession: String
                var sha256Digest: String
                let fixed: Int = 1
                var computed: Int { 1 }
            }
            """,
            expandedSource: """
            struct Body: Codable {
                var id: String
                var keyID: String
                var primaryVersion: Int
                var proofOfPossession: String
                var sha256Digest: String
                let fixed: Int = 1
                var computed: Int { 1 }

                enum CodingKeys: String, CodingKey {
                    case id
                    case keyID = "key_id"
                    case primaryVersion = "primary_version"
                    case proofOfPossession = "proof_of_possession"
                    case sha256Digest = "sha256_digest"
                }
            }
            """,
            macros: macros
        )
    }
}
