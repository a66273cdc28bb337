import CustosCrypto
import Foundation
import Testing

/// Runs the built `custos` binary as a user would.
struct CLI {
    let dataDirectory: String

    static var binary: URL {
        // The test bundle sits beside the executables in the build folder.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("custos")
    }

    static func make() throws -> CLI {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-cli-\(UUID().uuidString)").path
        return CLI(dataDirectory: directory)
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
        }
    }

    @discardableResult
    func run(_ arguments: [String], passphrase: String? = "cli test passphrase", dataDir: Bool = true,
             workingDirectory: String? = nil) throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        environment["CUSTOS_PASSPHRASE"] = passphrase
        environment.removeValue(forKey: "CUSTOS_DATA_DIR")
        return try CLI.spawn(arguments + (dataDir ? ["--data-dir", dataDirectory] : []), environment: environment,
                             workingDirectory: workingDirectory)
    }

    /// Runs the binary with exactly `environment`, no standard input, and collects its output.
    static func spawn(_ arguments: [String], environment: [String: String], workingDirectory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = CLI.binary
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    func initialised() throws -> CLI {
        let result = try run(["init", "--scrypt-log-n", "10"])
        precondition(result.status == 0, result.stderr)
        try run(["tenant", "create", "node-1"])
        return self
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: dataDirectory) }
}

@Suite("custos command line")
struct CLITests {
    @Test func signVerifyRotateAndVerifyTheOldSignature() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        #expect(try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "k", "--scheme", "ecdsa-p256-sha256"]).status == 0)
        let signed = try cli.run(["sign", "--tenant", "node-1", "--key", "k", "--message-hex", "c0ffee", "--json"])
        let signature = try #require(signed.json?["signature"] as? String)
        #expect(signed.json?["version"] as? Int == 1)
        #expect(try cli.run(["key", "rotate", "--tenant", "node-1", "k"]).status == 0)
        let check = try cli.run(["verify", "--tenant", "node-1", "--key", "k", "--message-hex", "c0ffee", "--signature", signature])
        #expect(check.status == 0 && check.stdout == "valid\n")
        let tampered = try cli.run(["verify", "--tenant", "node-1", "--key", "k", "--message-hex", "c0ffef", "--signature", signature])
        #expect(tampered.status == 1 && tampered.stdout == "invalid\n")
        let shown = try cli.run(["key", "show", "--tenant", "node-1", "k", "--json"])
        #expect((shown.json?["versions"] as? [Any])?.count == 2)
    }

    @Test func verifyNeedsNoDataDirectoryWithAPublicKey() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "k", "--scheme", "ed25519"])
        let publicKeyFile = cli.dataDirectory + "/k.pem"
        #expect(try cli.run(["key", "public", "--tenant", "node-1", "k", "--out", publicKeyFile]).status == 0)
        let signature = try cli.run(["sign", "--tenant", "node-1", "--key", "k", "--message-hex", "00"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let elsewhere = CLI(dataDirectory: "/nonexistent/custos")
        let result = try elsewhere.run(["verify", "--scheme", "ed25519", "--public-key", publicKeyFile, "--message-hex", "00", "--signature", signature, "--json"], passphrase: nil, dataDir: false)
        #expect(result.status == 0 && result.json?["valid"] as? Bool == true)
        let raw = try cli.run(["key", "public", "--tenant", "node-1", "k", "--format", "raw"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let rawCheck = try elsewhere.run(["verify", "--scheme", "ed25519", "--public-key", raw, "--message-hex", "00", "--signature", signature], passphrase: nil, dataDir: false)
        #expect(rawCheck.status == 0)
    }

    @Test func batchVerifyReportsEachLine() throws {
        let key = try SigningPrivateKey(generating: .ecdsaP384SHA384)
        let signature = Hex.encode(try key.signature(for: [0xab]).bytes)
        let spki = Hex.encode(key.publicKey.derRepresentation!)
        let lines = [
            #"{"id":"ok","scheme":"ecdsa-p384-sha384","public_key":"\#(spki)","message":"ab","signature":"\#(signature)","signature_format":"der"}"#,
            #"{"id":"bad","scheme":"ecdsa-p384-sha384","public_key":"\#(spki)","message":"ac","signature":"\#(signature)"}"#,
            #"{"id":"unknown","scheme":"rsa-md5","public_key":"\#(spki)","message":"ab","signature":"\#(signature)"}"#,
            #"{"id":"short","scheme":"ecdsa-p384-sha384","public_key":"\#(spki)","message":"ab","signature":"0011","signature_format":"raw"}"#,
            "{broken",
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("batch-\(UUID().uuidString).jsonl")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try CLI(dataDirectory: "/nonexistent").run(["verify", "--batch", file.path], passphrase: nil, dataDir: false)
        #expect(result.status == 0)
        let output = result.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(output.count == 5)
        #expect(output[0]?["id"] as? String == "ok" && output[0]?["valid"] as? Bool == true && output[0]?["error"] == nil)
        #expect(output[1]?["valid"] as? Bool == false && output[1]?["error"] == nil)
        #expect((output[2]?["error"] as? String)?.contains("unknown scheme 'rsa-md5'") == true)
        #expect((output[3]?["error"] as? String)?.contains("96 bytes") == true)
        #expect(output[4]?["id"] is NSNull && output[4]?["error"] as? String == "line is not a JSON object")
    }

    @Test func bulkGenerationAndListing() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        let result = try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "acct", "--scheme", "ecdsa-secp256k1-keccak256", "--category", "accounts", "--count", "30", "--json"])
        #expect(result.status == 0)
        #expect((result.json?["keys"] as? [Any])?.count == 30)
        let page = try cli.run(["key", "list", "--tenant", "node-1", "--category", "ACCOUNTS", "--limit", "20", "--json"])
        #expect((page.json?["keys"] as? [Any])?.count == 20)
        let cursor = try #require(page.json?["next_cursor"] as? String)
        let rest = try cli.run(["key", "list", "--tenant", "node-1", "--limit", "20", "--after", cursor, "--json"])
        #expect((rest.json?["keys"] as? [Any])?.count == 10 && rest.json?["next_cursor"] == nil)
    }

    @Test func errorsAreOneLineWithExitCodeTwo() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        let unknown = try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "x", "--scheme", "ed448"])
        #expect(unknown.status == 2 && unknown.stderr.hasPrefix("error: unknown scheme 'ed448'"))
        let again = try cli.run(["init", "--scrypt-log-n", "10"])
        #expect(again.status == 2 && again.stderr.contains("already initialised"))
        let wrong = try cli.run(["tenant", "list"], passphrase: "not the passphrase")
        #expect(wrong.status == 2 && wrong.stderr.contains("wrong passphrase"))
        let missing = try CLI(dataDirectory: cli.dataDirectory + "-missing").run(["tenant", "list"])
        #expect(missing.status == 2 && missing.stderr.contains("custos init"))
        let noKey = try cli.run(["sign", "--tenant", "node-1", "--key", "nope", "--message-hex", "00"])
        #expect(noKey.status == 2 && noKey.stderr == "error: tenant 'node-1' has no key 'nope'\n")
    }

    @Test func blsKeysSignProveAndVerifyInABatch() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        #expect(try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "consensus", "--scheme", "bls12381-pop", "--category", "CONSENSUS"]).status == 0)
        let signature = try cli.run(["sign", "--tenant", "node-1", "--key", "consensus", "--message-hex", "0badcafe"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(signature.count == 192)
        let proof = try cli.run(["key", "pop", "--tenant", "node-1", "consensus"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let publicKey = try cli.run(["key", "public", "--tenant", "node-1", "consensus", "--format", "raw"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(publicKey.count == 96 && proof.count == 192)
        let pem = try cli.run(["key", "public", "--tenant", "node-1", "consensus", "--format", "pem"])
        #expect(pem.status == 2 && pem.stderr.contains("no PEM/SPKI form"))
        let lines = [
            #"{"id":1,"scheme":"bls12381-pop","public_key":"\#(publicKey)","message":"0badcafe","signature":"\#(signature)"}"#,
            #"{"id":2,"scheme":"bls12381-pop","public_key":"\#(publicKey)","proof_of_possession":"\#(proof)"}"#,
            #"{"id":3,"scheme":"bls12381-pop","public_keys":["\#(publicKey)"],"proofs_of_possession":["\#(proof)"],"message":"0badcafe","signature":"\#(signature)"}"#,
            #"{"id":4,"scheme":"bls12381-pop","public_keys":["\#(publicKey)"],"message":"0badcafe","signature":"\#(signature)"}"#,
        ]
        // Beside the data directory, not in it: a file others can read there is refused.
        let file = cli.dataDirectory + ".bls.jsonl"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let batch = try cli.run(["verify", "--batch", file], passphrase: nil, dataDir: false)
        let results = batch.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(results.count == 4)
        #expect(results.prefix(3).allSatisfy { $0?["valid"] as? Bool == true })
        #expect(results[3]?["valid"] as? Bool == false && (results[3]?["error"] as? String)?.contains("proof of possession") == true)
        // Another key type has no proof of possession to export.
        try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "ed", "--scheme", "ed25519"])
        let notBLS = try cli.run(["key", "pop", "--tenant", "node-1", "ed"])
        #expect(notBLS.status == 2 && notBLS.stderr.contains("BLS keys only"))
    }

    @Test func encryptDecryptAndHMAC() throws {
        let cli = try CLI.make().initialised()
        defer { cli.cleanUp() }
        try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "data", "--scheme", "aes-256-gcm"])
        try cli.run(["key", "generate", "--tenant", "node-1", "--alias", "mac", "--scheme", "hmac-sha256"])
        let ciphertext = try cli.run(["encrypt", "--tenant", "node-1", "--key", "data", "--plaintext-hex", "48656c6c6f", "--aad-hex", "01"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let plaintext = try cli.run(["decrypt", "--tenant", "node-1", "--key", "data", "--ciphertext-hex", ciphertext, "--aad-hex", "01"])
        #expect(plaintext.status == 0 && plaintext.stdout == "48656c6c6f\n")
        let wrongAAD = try cli.run(["decrypt", "--tenant", "node-1", "--key", "data", "--ciphertext-hex", ciphertext, "--aad-hex", "02"])
        #expect(wrongAAD.status == 2 && wrongAAD.stderr.contains("authentication failed"))
        let mac = try cli.run(["hmac", "--tenant", "node-1", "--key", "mac", "--message-hex", "00", "--json"])
        #expect((mac.json?["mac"] as? String)?.count == 64)
        let misuse = try cli.run(["sign", "--tenant", "node-1", "--key", "data", "--message-hex", "00"])
        #expect(misuse.status == 2 && misuse.stderr.contains("cannot sign"))
    }
}
