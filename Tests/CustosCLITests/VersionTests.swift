import CustosCLI
import CustosStore
import Foundation
import Testing

/// `custos --version` and `custos version`: exit 0, the release, the commit (a development
/// build says so) and the schema it writes, the same in text and JSON.
@Suite("custos --version")
struct VersionTests {
    @Test func versionFlagAndCommandAgree() throws {
        let cli = try CLI.make()
        let flag = try cli.run(["--version"], dataDir: false)
        #expect(flag.status == 0, "\(flag.stderr)")
        #expect(flag.stdout == CustosVersion.summary + "\n")
        #expect(flag.stdout.hasPrefix("custos \(CustosVersion.release) (commit unknown (development build); keystore schema \(SQLiteStore.schemaVersion);"))

        let text = try cli.run(["version"], dataDir: false)
        #expect(text.status == 0)
        #expect(text.stdout == flag.stdout)

        let json = try cli.run(["version", "--json"], dataDir: false)
        #expect(json.status == 0)
        let fields = try #require(json.json)
        #expect(fields["version"] as? String == CustosVersion.release)
        #expect(fields["commit"] as? String == "unknown (development build)")
        #expect(fields["schema_version"] as? Int == SQLiteStore.schemaVersion)
        #expect(fields["cluster_configuration_format"] as? Int == 1)
        #expect(fields["operator_command_format"] as? Int == 1)
        // A release is three dot-separated numbers: the tarball is named after it.
        #expect(CustosVersion.release.split(separator: ".").count == 3 && CustosVersion.release.split(separator: ".").allSatisfy { Int($0) != nil })
    }

    @Test func versionTakesNoOtherArgument() throws {
        let result = try CLI.make().run(["version", "--bogus"], dataDir: false)
        #expect(result.status == 64)
    }
}
