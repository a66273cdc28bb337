import CustosCrypto
import Foundation
import Testing

/// `custos cluster command …`, `cluster operator-key …`, `cluster client init` and joining a
/// replacement bundle, run as the operator would: good paths, and bad input refused with one
/// `error:` line and exit status 2, nothing signed.
@Suite("custos cluster command line: operator commands and client setup")
struct ClusterCommandCLITests {
    /// An operator directory after `cluster genesis` of four replicas (passphrase bundles),
    /// and a scratch directory for files.
    struct Operator {
        let cli: CLI
        let files: String
        let genesisHash: String
        var configuration: String { files + "/bundles/configuration.cbor" }
        var passphraseFile: String { files + "/bundle-passphrase" }

        static func make() throws -> Operator {
            let cli = try CLI.make().initialised()
            let files = FileManager.default.temporaryDirectory.appendingPathComponent("custos-cli-files-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: files + "/bundles", withIntermediateDirectories: true)
            try Data("bundle passphrase 1".utf8).write(to: URL(fileURLWithPath: files + "/bundle-passphrase"))
            let genesis = try cli.run(["cluster", "genesis", "--replica", "0=127.0.0.1:9600", "--replica", "1=127.0.0.1:9601", "--replica", "2=127.0.0.1:9602",
                                       "--replica", "3=127.0.0.1:9603", "--checkpoint-interval", "8", "--out", files + "/bundles",
                                       "--bundle-passphrase-file", files + "/bundle-passphrase", "--bundle-scrypt-log-n", "10", "--json"])
            precondition(genesis.status == 0, genesis.stderr)
            return Operator(cli: cli, files: files, genesisHash: genesis.json?["genesis_hash"] as? String ?? "")
        }

        func command(_ arguments: [String]) throws -> CLI.Result {
            try cli.run(["cluster", "command"] + arguments + ["--json"])
        }

        func cleanUp() {
            cli.cleanUp()
            try? FileManager.default.removeItem(atPath: files)
        }
    }

    static func refused(_ result: CLI.Result, _ phrase: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 2, "exit status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("error: "), sourceLocation: sourceLocation)
        #expect(result.stderr.contains(phrase), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func aSignedCommandFileShowsItsFieldsAndItsSigner() throws {
        let op = try Operator.make()
        defer { op.cleanUp() }
        #expect(FileManager.default.fileExists(atPath: op.configuration))
        let file = op.files + "/c1.json"
        let signed = try op.command(["rotate-replica-keys", "--replicas", "3,1", "--kinds", "tls,main", "--out", file])
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.json?["number"] as? Int == 1)
        #expect(signed.json?["targets"] as? [Int] == [1, 3])
        #expect(signed.json?["kinds"] as? [String] == ["main", "tls"])

        let written = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        #expect(written["format"] as? String == "custos-cluster-command-v1")
        #expect(written["number"] as? Int == 1 && written["action"] as? String == "rotate-replica-keys")
        #expect(written["expires_at"] is Int && written["command"] is String)

        let shown = try op.cli.run(["cluster", "command", "show", file, "--json"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.json?["signed_by"] as? String == "the configuration's operator key")
        #expect(shown.json?["digest"] as? String == written["digest"] as? String)

        // The next command takes the next number; an explicit one moves the counter past it.
        #expect(try op.command(["rotate-client-keys", "--clients", "all", "--out", op.files + "/c2.json"]).json?["number"] as? Int == 2)
        #expect(try op.command(["remove-client", "--client", "4", "--number", "9", "--expires-in", "7d", "--out", op.files + "/c9.json"]).json?["number"] as? Int == 9)
        #expect(try op.command(["rotate-replica-keys", "--replicas", "all", "--out", op.files + "/c10.json"]).json?["number"] as? Int == 10)
        let text = try op.cli.run(["cluster", "command", "show", op.files + "/c2.json"])
        #expect(text.status == 0 && text.stdout.contains("clients all, kinds signing,tls,api-tls"))
    }

    @Test func badArgumentsAreRefusedBeforeAnythingIsSigned() throws {
        let op = try Operator.make()
        defer { op.cleanUp() }
        let out = ["--out", op.files + "/bad.json"]
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "1", "--kinds", "consensus,bogus"] + out), "unknown kind")
        Self.refused(try op.command(["rotate-client-keys", "--clients", "1", "--kinds", "main"] + out), "unknown kind")
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "4"] + out), "replica 4 is not in the configuration")
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "1,1"] + out), "names an id twice")
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "one"] + out), "is not a list of ids")
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "1", "--expires-in", "32d"] + out), "1 second to 31 days")
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "1", "--expires-in", "soon"] + out), "is not a duration")
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "1"]), "give --out FILE")
        Self.refused(try op.command(["rotate-operator-key", "--scheme", "rsa"] + out), "is not ed25519 or ecdsa-p384-sha384")
        Self.refused(try op.command(["add-client", "--descriptor", op.files + "/missing.json"] + out), "cannot read descriptor file")
        // Control characters in an argument are shown escaped, never sent to the terminal.
        let hostile = try op.command(["rotate-replica-keys", "--replicas", "1", "--kinds", "tls,\u{1b}[31mred"] + out)
        Self.refused(hostile, "unknown kind")
        #expect(!hostile.stderr.contains("\u{1b}"))

        #expect(!FileManager.default.fileExists(atPath: op.files + "/bad.json"))
        // No number was used up: the first good command is number 1.
        #expect(try op.command(["rotate-replica-keys", "--replicas", "0"] + out).json?["number"] as? Int == 1)
        // A command file is never overwritten.
        Self.refused(try op.command(["rotate-replica-keys", "--replicas", "0"] + out), "exists already")
    }

    @Test func aDirectoryWithoutTheOperatorsStateSignsNothing() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        let file = cli.dataDirectory + "-c.json"
        Self.refused(try cli.run(["cluster", "command", "rotate-replica-keys", "--replicas", "all", "--out", file]), "no cluster configuration")
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test func anAlteredCommandFileIsRefusedByShowAndSubmit() throws {
        let op = try Operator.make()
        defer { op.cleanUp() }
        let file = op.files + "/c1.json"
        #expect(try op.command(["rotate-replica-keys", "--replicas", "2", "--out", file]).status == 0)
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])

        // The number for people no longer says what the signed bytes say.
        let renumbered = op.files + "/renumbered.json"
        object["number"] = 7
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: renumbered))
        Self.refused(try op.cli.run(["cluster", "command", "show", renumbered]), "the file was altered")
        Self.refused(try op.cli.run(["cluster", "command", "submit", renumbered, "--server", "http://127.0.0.1:1", "--token", "t"], dataDir: false),
                     "the file was altered")

        // The signed bytes changed (the target replica 2 → 3): the signature no longer verifies.
        var bytes = try #require(Data(base64Encoded: object["command"] as? String ?? ""))
        // The action [0, [2], 7] in CBOR: 83 00 81 02 07.
        let action: [UInt8] = [0x83, 0x00, 0x81, 0x02, 0x07]
        let index = try #require(bytes.indices.first { Array(bytes.dropFirst($0).prefix(5)) == action })
        bytes[index + 3] = 0x03
        object["number"] = 1
        object["command"] = bytes.base64EncodedString()
        object.removeValue(forKey: "digest")
        let resigned = op.files + "/retargeted.json"
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: resigned))
        Self.refused(try op.cli.run(["cluster", "command", "show", resigned]), "is not signed by any operator key")

        Self.refused(try op.cli.run(["cluster", "command", "submit", op.files + "/missing.json", "--server", "http://127.0.0.1:1", "--token", "t"],
                                    dataDir: false), "cannot read command file")
        Self.refused(try op.cli.run(["cluster", "command", "submit", file], dataDir: false), "give --server URL")
    }

    @Test func aClientIsInitialisedAndAddedWithItsDescriptor() throws {
        let op = try Operator.make()
        defer { op.cleanUp() }
        let client = try CLI.make().initialised()
        defer { client.cleanUp() }
        let descriptor = op.files + "/client-5.json"
        Self.refused(try client.run(["cluster", "client", "init", "--client-id", "5", "--configuration", op.configuration,
                                     "--genesis-hash", String(repeating: "0", count: 64), "--out", descriptor]), "comes from another genesis")
        Self.refused(try client.run(["cluster", "client", "init", "--client-id", "5", "--configuration", op.configuration,
                                     "--genesis-hash", op.genesisHash, "--signing-scheme", "secp256k1", "--out", descriptor]), "is not ed25519 or ecdsa-p256-sha256")
        #expect(!FileManager.default.fileExists(atPath: descriptor))

        let made = try client.run(["cluster", "client", "init", "--client-id", "5", "--configuration", op.configuration,
                                   "--genesis-hash", op.genesisHash, "--signing-scheme", "ecdsa-p256-sha256", "--out", descriptor, "--json"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.json?["client"] as? Int == 5 && made.json?["signing_scheme"] as? String == "ecdsa-p256-sha256")
        Self.refused(try client.run(["cluster", "client", "init", "--client-id", "6", "--configuration", op.configuration,
                                     "--genesis-hash", op.genesisHash, "--out", op.files + "/client-6.json"]), "already client 5")

        let added = try op.command(["add-client", "--descriptor", descriptor, "--out", op.files + "/add.json"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.json?["client"] as? Int == 5 && added.json?["signing_key"] as? String == made.json?["signing_key"] as? String)

        // A descriptor whose client id was edited is refused.
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: descriptor))) as? [String: Any])
        object["client"] = 6
        let edited = op.files + "/client-6-edited.json"
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: edited))
        Self.refused(try op.command(["add-client", "--descriptor", edited, "--out", op.files + "/add6.json"]), "the file was altered")
    }

    @Test func aReplacementBundleJoinsAsGenerationOne() throws {
        let op = try Operator.make()
        defer { op.cleanUp() }
        let bundle = op.files + "/replica-2.g1.bundle.json"
        Self.refused(try op.command(["replace-replica", "--replica", "2", "--bundle-out", bundle, "--out", op.files + "/r.json"]), "one of them")
        Self.refused(try op.command(["replace-replica", "--replica", "2", "--bundle-out", bundle, "--out", op.files + "/r.json",
                                     "--bundle-passphrase-file", op.passphraseFile, "--address", "bad\u{7}host"]), "is not HOST:PORT")
        Self.refused(try op.command(["replace-replica", "--replica", "4", "--bundle-out", bundle, "--out", op.files + "/r.json",
                                     "--bundle-passphrase-file", op.passphraseFile, "--bundle-scrypt-log-n", "10"]), "not in the configuration")
        #expect(!FileManager.default.fileExists(atPath: bundle))
        let replaced = try op.command(["replace-replica", "--replica", "2", "--address", "127.0.0.1:9700", "--bundle-passphrase-file", op.passphraseFile,
                                       "--bundle-scrypt-log-n", "10", "--bundle-out", bundle, "--out", op.files + "/r.json"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.json?["generation"] as? Int == 1 && replaced.json?["address"] as? String == "127.0.0.1:9700")

        let machine = try CLI.make().initialised()
        defer { machine.cleanUp() }
        let joined = try machine.run(["cluster", "join", "--bundle", bundle, "--bundle-passphrase-file", op.passphraseFile,
                                      "--genesis-hash", op.genesisHash, "--json"])
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(joined.json?["replica"] as? Int == 2 && joined.json?["generation"] as? Int == 1)
        Self.refused(try machine.run(["cluster", "join", "--bundle", op.files + "/bundles/replica-1.bundle.json",
                                      "--bundle-passphrase-file", op.passphraseFile]), "already joined")
    }

    @Test func anOperatorKeyIsPromotedOnlyWhenItsCommandIsKnownToHaveExecuted() throws {
        let op = try Operator.make()
        defer { op.cleanUp() }
        let file = op.files + "/rotate-operator.json"
        let rotated = try op.command(["rotate-operator-key", "--scheme", "ecdsa-p384-sha384", "--out", file])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let newKey = try #require((rotated.json?["operator_key"] as? [String: Any])?["public_key"] as? String)
        Self.refused(try op.cli.run(["cluster", "operator-key", "promote"]), "--confirm-executed")
        Self.refused(try op.command(["rotate-operator-key", "--out", op.files + "/again.json"]), "is pending")

        let promoted = try op.cli.run(["cluster", "operator-key", "promote", "--confirm-executed", "--json"])
        #expect(promoted.status == 0, "\(promoted.stderr)")
        // The next command is signed by the promoted key; the earlier file still shows its signer.
        let next = op.files + "/after.json"
        #expect(try op.command(["rotate-replica-keys", "--replicas", "all", "--out", next]).status == 0)
        #expect(try op.cli.run(["cluster", "command", "show", next, "--json"]).json?["signed_by"] as? String == "the current operator key")
        #expect(try op.cli.run(["cluster", "command", "show", file, "--json"]).json?["signed_by"] as? String == "the configuration's operator key")
        #expect(newKey.count == 194)
        Self.refused(try op.cli.run(["cluster", "operator-key", "discard"]), "no operator key is pending")
    }
}
