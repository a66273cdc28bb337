import ArgumentParser
import CustosAPI
import CustosClient
import CustosCrypto
import CustosJSON
import CustosKeystore
import Foundation

struct SignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sign", abstract: "Sign a message with the primary version of a key.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Tenant id.") var tenant: String
    @Option(name: .long, help: "Key alias.") var key: String
    @Option(name: .long, help: "File holding the message.") var messageFile: String?
    @Option(name: .long, help: "The message as hex.") var messageHex: String?
    @Option(name: .long, help: "ECDSA signature layout: der (default) or raw r‖s.") var signatureFormat: SignatureFormat?

    func run() async throws {
        try await withBackend(global) { service in
            let message = try InputBytes.read(file: messageFile, hex: messageHex, what: "message")
            let result = try await service.sign(tenant: tenant, alias: key, message: message, format: signatureFormat?.rawValue)
            // The API's body, with the signature as hex like every byte string the command line prints.
            let signature = Hex.encode(try CustosClient.bytes(result.signature, field: "signature"))
            var object = Output.object(result) as? [String: Any] ?? [:]
            object["signature"] = signature
            global.output.emit(object, text: signature)
        }
    }
}

extension SignatureFormat: ExpressibleByArgument {}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a signature with a stored key, with a given public key, or a batch of requests.",
        discussion: """
            Exit code 0: valid; 1: invalid; 2: error. With --batch FILE.jsonl each line is \
            {"id","scheme","public_key","message","signature","signature_format"?} and one \
            {"id","valid","error"?} line is printed per request.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Tenant of the stored key.") var tenant: String?
    @Option(name: .long, help: "Alias of the stored key.") var key: String?
    @Option(name: .long, help: "Only this version of the stored key (default: any live version).") var version: Int?
    @Option(name: .long, help: "Scheme, when verifying with --public-key.") var scheme: String?
    @Option(name: .long, help: "Public key: a PEM/DER file, or hex of SPKI DER or raw bytes.") var publicKey: String?
    @Option(name: .long, help: "File holding the message.") var messageFile: String?
    @Option(name: .long, help: "The message as hex.") var messageHex: String?
    @Option(name: .long, help: "The signature as hex.") var signature: String?
    @Option(name: .long, help: "ECDSA signature layout: der (default) or raw.") var signatureFormat: SignatureFormat?
    @Option(name: .long, help: "A JSON-lines file of verification requests.") var batch: String?

    func run() async throws {
        if let batch {
            try await runReporting {
                try global.requireLocal("verify --batch")
                try verifyBatch(batch)
            }
            return
        }
        var valid = false
        try await runReporting {
            let message = try InputBytes.read(file: messageFile, hex: messageHex, what: "message")
            guard let signatureHex = signature, let signatureBytes = Hex.decode(signatureHex) else {
                throw CLIError("--signature must be given as hex")
            }
            if let publicKey {
                try global.requireLocal("verify --public-key")
                guard tenant == nil, key == nil else { throw CLIError("use either --public-key or --tenant/--key, not both") }
                guard let scheme else { throw CLIError("--scheme is required with --public-key") }
                let parsedScheme = try SignatureScheme(identifier: scheme)
                let verifier = try loadPublicKey(publicKey, scheme: parsedScheme)
                valid = try verifier.isValidSignature(signatureBytes, for: message, format: signatureFormat)
            } else {
                guard let tenant, let key else { throw CLIError("give --public-key and --scheme, or --tenant and --key") }
                try await withBackend(global) { service in
                    valid = try await service.verify(tenant: tenant, alias: key, message: message, signature: signatureBytes,
                                                     format: signatureFormat?.rawValue, version: version).valid
                }
            }
        }
        global.output.emit(["valid": valid], text: valid ? "valid" : "invalid")
        if !valid { throw ExitCode(1) }
    }

    private func loadPublicKey(_ argument: String, scheme: SignatureScheme) throws -> SigningPublicKey {
        if FileManager.default.fileExists(atPath: argument) {
            let data = try NamedFile.data(argument, what: "public key file")
            if let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN") {
                return try SigningPublicKey(pemRepresentation: text, scheme: scheme)
            }
            if let text = String(data: data, encoding: .ascii), let key = try? SigningPublicKey(encoded: text, scheme: scheme) {
                return key
            }
            return try SigningPublicKey(encodedRepresentation: Array(data), scheme: scheme)
        }
        return try SigningPublicKey(encoded: argument, scheme: scheme)
    }

    private func verifyBatch(_ path: String) throws {
        let data = try NamedFile.data(path, what: "batch file", limit: 1 << 30)
        for line in data.split(separator: 0x0a, omittingEmptySubsequences: false) {
            let trimmed = line.last == 0x0d ? line.dropLast() : line
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            // The line's id is echoed: as JSON escapes, so the line stays JSON and safe.
            Output.line(TerminalText.escapedJSON(BatchVerifier.verify(line: trimmed).jsonLine))
        }
    }
}

struct AggregateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregate",
        abstract: "Aggregate bls12381-pop signatures into one (no data directory needed).",
        discussion: "Verify the result with 'custos verify --batch' (public_keys with proofs_of_possession, or messages).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Scheme (only bls12381-pop aggregates).") var scheme: String = "bls12381-pop"
    @Option(name: .long, help: "A signature as hex (repeatable).") var signature: [String] = []
    @Option(name: .long, help: "A file with one hex signature per line.") var file: String?

    func run() async throws {
        try await runReporting {
            try global.requireLocal("aggregate")
            guard try SignatureScheme(identifier: scheme) == .bls12381Pop else {
                throw CLIError("only bls12381-pop signatures can be aggregated")
            }
            var texts = signature
            if let file {
                let data = try NamedFile.data(file, what: "signature file")
                texts += String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                    .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            let signatures = try texts.enumerated().map { index, text in
                guard let bytes = Hex.decode(text) else { throw CLIError("signature \(index) is not hex") }
                return bytes
            }
            let aggregate = try BLSAggregation.aggregate(signatures)
            global.output.emit(["aggregate": Hex.encode(aggregate), "count": signatures.count], text: Hex.encode(aggregate))
        }
    }
}

struct EncryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encrypt", abstract: "Encrypt with an AES-256-GCM key (the ciphertext names the key version).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Tenant id.") var tenant: String
    @Option(name: .long, help: "Key alias.") var key: String
    @Option(name: .long, help: "File holding the plaintext.") var `in`: String?
    @Option(name: .long, help: "The plaintext as hex.") var plaintextHex: String?
    @Option(name: .long, help: "Associated data as hex (must be given again to decrypt).") var aadHex: String?

    func run() async throws {
        try await withBackend(global) { service in
            let plaintext = try InputBytes.read(file: self.in, hex: plaintextHex, what: "plaintext")
            let aad = try aadHex.map { try InputBytes.read(file: nil, hex: $0, what: "associated data") } ?? []
            let ciphertext = try await service.encrypt(tenant: tenant, alias: key, plaintext: plaintext, associatedData: aad)
            global.output.emit(["ciphertext": Hex.encode(ciphertext)], text: Hex.encode(ciphertext))
        }
    }
}

struct DecryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decrypt", abstract: "Decrypt a ciphertext made by 'custos encrypt'.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Tenant id.") var tenant: String
    @Option(name: .long, help: "Key alias.") var key: String
    @Option(name: .long, help: "File holding the ciphertext (binary).") var `in`: String?
    @Option(name: .long, help: "The ciphertext as hex.") var ciphertextHex: String?
    @Option(name: .long, help: "Associated data as hex.") var aadHex: String?
    @Option(name: .long, help: "Write the plaintext to this file instead of printing hex.") var out: String?

    func run() async throws {
        try await withBackend(global) { service in
            let ciphertext = try InputBytes.read(file: self.in, hex: ciphertextHex, what: "ciphertext")
            let aad = try aadHex.map { try InputBytes.read(file: nil, hex: $0, what: "associated data") } ?? []
            let plaintext = try await service.decrypt(tenant: tenant, alias: key, ciphertext: ciphertext, associatedData: aad)
            if let out {
                try plaintext.withUnsafeBytes { try AtomicWrite.write(Array($0), to: out) }
                global.output.emit(["written": out], text: "wrote \(out)")
            } else {
                let hex = plaintext.withUnsafeBytes { Hex.encode($0) }
                global.output.emit(["plaintext": hex], text: hex)
            }
        }
    }
}

struct HMACCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hmac", abstract: "Compute an HMAC with an hmac-sha256/512 key.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Tenant id.") var tenant: String
    @Option(name: .long, help: "Key alias.") var key: String
    @Option(name: .long, help: "File holding the message.") var messageFile: String?
    @Option(name: .long, help: "The message as hex.") var messageHex: String?

    func run() async throws {
        try await withBackend(global) { service in
            let message = try InputBytes.read(file: messageFile, hex: messageHex, what: "message")
            let (mac, version) = try await service.mac(tenant: tenant, alias: key, message: message)
            global.output.emit(["mac": Hex.encode(mac), "version": version], text: Hex.encode(mac))
        }
    }
}

enum AtomicWrite {
    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: [.atomic])
    }
}
