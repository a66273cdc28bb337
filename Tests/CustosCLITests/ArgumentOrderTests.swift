import Foundation
import Testing

@testable import CustosCLI

/// Global options before the subcommand, after it or both, and the messages for options that
/// are misplaced or unknown.
@Suite("global options anywhere")
struct ArgumentOrderTests {
    @Test func theGlobalOptionsAreThoseOfGlobalOptions() {
        #expect(ArgumentOrder.globalOptions() == [
            "--data-dir": true, "--json": false, "--passphrase-file": true, "--verbose": false,
            "--pkcs11-pin-file": true, "--tpm-owner-auth-file": true, "--tpm-auth-file": true,
            "--server": true, "--token": true, "--token-file": true, "--new-passphrase-file": true,
            "--allow-insecure-permissions": false,
        ])
    }

    @Test func optionsBeforeTheSubcommandMoveAfterIt() {
        #expect(ArgumentOrder.arranged(["--json", "--data-dir", "D", "key", "list", "--tenant", "t"])
            == ["key", "list", "--json", "--data-dir", "D", "--tenant", "t"])
        #expect(ArgumentOrder.arranged(["--server", "https://h:8443", "--token-file", "f", "sign", "--key", "k"])
            == ["sign", "--server", "https://h:8443", "--token-file", "f", "--key", "k"])
    }

    @Test func optionsAfterTheSubcommandStayWhereTheyAre() {
        let typed = ["key", "list", "--tenant", "t", "--json", "--data-dir", "D"]
        #expect(ArgumentOrder.arranged(typed) == typed)
    }

    @Test func mixedPlacesKeepTheirOrder() {
        #expect(ArgumentOrder.arranged(["--data-dir", "D", "key", "--json", "list", "--tenant", "t", "--verbose"])
            == ["key", "list", "--data-dir", "D", "--json", "--tenant", "t", "--verbose"])
    }

    @Test func equalsFormsTakeNoSeparateValue() {
        #expect(ArgumentOrder.arranged(["--data-dir=D", "--json", "tenant", "create", "acme"])
            == ["tenant", "create", "--data-dir=D", "--json", "acme"])
    }

    @Test func aValueThatReadsLikeASubcommandIsAValue() {
        #expect(ArgumentOrder.arranged(["--data-dir", "key", "key", "list", "--tenant", "t"])
            == ["key", "list", "--data-dir", "key", "--tenant", "t"])
        #expect(ArgumentOrder.arranged(["--passphrase-file", "sign", "sign", "--key", "k"])
            == ["sign", "--passphrase-file", "sign", "--key", "k"])
    }

    @Test func helpTheTerminatorAndOtherOptionsAreLeftAlone() {
        for typed in [["--help"], ["key", "--help"], ["--json", "--", "key"], ["key", "--", "--json", "list"],
                      ["--tenant", "t", "key", "list"], ["kye", "--json", "list"]] {
            #expect(ArgumentOrder.arranged(typed) == typed)
        }
        #expect(ArgumentOrder.arranged(["--json", "key", "list", "--help"]) == ["key", "list", "--json", "--help"])
    }

    @Test func unknownOptionsAreNamedWithTheirCommand() {
        #expect(ArgumentOrder.diagnosis(of: ["key", "list", "--tenant", "t", "--limt", "5"])
            == .init(message: "unknown option '--limt' for 'custos key list' (did you mean '--limit'?)", command: "custos key list"))
        #expect(ArgumentOrder.diagnosis(of: ["--fromat", "pem", "key", "public", "--tenant", "t", "k"])?.message
            == "unknown option '--fromat' for 'custos key public' (did you mean '--format'?)")
        #expect(ArgumentOrder.diagnosis(of: ["tenant", "list", "--zzzzzzzz"])?.message
            == "unknown option '--zzzzzzzz' for 'custos tenant list'")
    }

    @Test func subcommandOptionsBeforeTheSubcommandAreSentAfterIt() {
        let expected = ArgumentOrder.Diagnosis(
            message: "'--tenant' belongs after the subcommand: custos key list --tenant …", command: "custos key list")
        #expect(ArgumentOrder.diagnosis(of: ["--tenant", "t", "key", "list"]) == expected)
        #expect(ArgumentOrder.diagnosis(of: ["key", "--tenant", "t", "list"]) == expected)
        #expect(ArgumentOrder.diagnosis(of: ["--json", "key"])?.message
            == "'--json' belongs after the subcommand: custos key <subcommand> --json …")
    }

    @Test func aCorrectCommandLineHasNoDiagnosis() {
        #expect(ArgumentOrder.diagnosis(of: ["--json", "--data-dir=D", "key", "list", "--tenant", "t", "--limit", "5"]) == nil)
        #expect(ArgumentOrder.diagnosis(of: ["key", "list", "--help"]) == nil)
    }
}

/// The same, through the built binary.
@Suite("global options anywhere, end to end")
struct GlobalOptionPlacementTests {
    @Test func beforeAfterMixedAndEqualsFormsGiveTheSameListing() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "k", "--scheme", "ed25519"])
        let directory = cli.dataDirectory
        let after = try cli.run(["key", "list", "--tenant", "node-1", "--json"])
        #expect(after.status == 0 && after.stdout.contains("\"alias\":\"k\""))
        for typed in [["--json", "--data-dir", directory, "key", "list", "--tenant", "node-1"],
                      ["--data-dir", directory, "key", "--json", "list", "--tenant", "node-1"],
                      ["--data-dir=\(directory)", "--json", "key", "list", "--tenant=node-1"]] {
            let result = try cli.run(typed, dataDir: false)
            #expect(result.status == 0 && result.stdout == after.stdout, "custos \(typed.joined(separator: " ")): \(result.stderr)")
        }
    }

    @Test func aDataDirectoryNamedLikeASubcommand() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("custos-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let cli = CLI(dataDirectory: work + "/unused")
        let created = try cli.run(["--data-dir", "key", "init", "--scrypt-log-n", "10"], dataDir: false, workingDirectory: work)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(FileManager.default.fileExists(atPath: work + "/key/custos.sqlite"))
        let listed = try cli.run(["--data-dir", "key", "--json", "tenant", "list"], dataDir: false, workingDirectory: work)
        #expect(listed.status == 0, "\(listed.stderr)")
    }

    @Test func clientModeOptionsBeforeTheSubcommandReachTheServerPath() throws {
        let cli = try CLI.make()
        // Nothing listens on port 9: the command gets as far as connecting, and fails there.
        let result = try cli.run(["--server", "http://127.0.0.1:9", "--token", "cst_x", "sign", "--tenant", "t",
                                  "--key", "k", "--message-hex", "00"], dataDir: false)
        #expect(result.status == 2 && result.stderr.hasPrefix("error:"), "\(result.stderr)")
    }

    @Test func misplacedAndUnknownOptionsAreNamed() throws {
        let cli = try CLI.make()
        let misplaced = try cli.run(["--tenant", "node-1", "key", "list"])
        #expect(misplaced.status == 64)
        #expect(misplaced.stderr == """
            Error: '--tenant' belongs after the subcommand: custos key list --tenant …
              See 'custos key list --help' for more information.

            """)
        let unknown = try cli.run(["key", "list", "--tenant", "node-1", "--limt", "5"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.hasPrefix("Error: unknown option '--limt' for 'custos key list' (did you mean '--limit'?)\n"))
    }
}
