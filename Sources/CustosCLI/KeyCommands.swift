import ArgumentParser
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Generate, import, inspect, rotate and destroy keys.",
        subcommands: [Generate.self, Import.self, List.self, Show.self, Public.self, ProofOfPossession.self, Rotate.self,
                      Disable.self, Enable.self, Destroy.self])

    struct Target: ParsableArguments {
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Argument(help: "Key alias.") var alias: String
    }

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate a key (or --count N keys).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Alias, unique in the tenant (with --count: the prefix of ALIAS-1 … ALIAS-N).") var alias: String
        @Option(name: .long, help: "Scheme: \(KeyAlgorithm.all.map(\.identifier).joined(separator: ", ")).") var scheme: String = "ed25519"
        @Option(name: .long, help: "Category (default LEDGER for signing keys, ENCRYPTION otherwise).") var category: String?
        @Option(name: .long, help: "RSA modulus size: 2048, 3072 or 4096.") var rsaBits: Int = 3072
        @Option(name: .long, help: "A label NAME=VALUE (repeatable).") var label: [String] = []
        @Option(name: .long, help: "An identifier of the key in an outside system.") var externalId: String?
        @Option(name: .long, help: "How many keys to generate.") var count: Int = 1

        func run() async throws {
            try await withBackend(global) { service in
                guard (1...1_000_000).contains(count) else { throw CLIError("--count must be between 1 and 1000000") }
                let base = KeySpec(tenant: tenant, alias: alias, algorithm: try KeyAlgorithm(identifier: scheme),
                                   category: try category.map(KeyCategory.init(identifier:)),
                                   options: GenerationOptions(rsaKeySize: try RSAKeySize(bits: rsaBits)),
                                   labels: try parseLabels(label), externalID: externalId)
                let specs = count == 1 ? [base] : (1...count).map { index -> KeySpec in
                    var spec = base
                    spec.alias = "\(alias)-\(index)"
                    return spec
                }
                let bar = ProgressBar(total: specs.count)
                let keys = try await service.generateKeys(specs) { bar.update($0) }
                if global.json {
                    if keys.count == 1 { Output.line(Output.encode(keyJSON(keys[0]))) } else { Output.line(Output.encode(["keys": keys.map(keyJSON)])) }
                } else if keys.count == 1 {
                    Output.line(keyText(keys[0]))
                } else {
                    Output.line("generated \(keys.count) \(scheme) keys \(keys.first!.alias) … \(keys.last!.alias)")
                }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import a private key (PKCS#8, SEC1 or PKCS#1; PEM or DER) made elsewhere.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Alias for the imported key.") var alias: String
        @Option(name: .long, help: "Scheme the key will sign with.") var scheme: String
        @Option(name: .long, help: "File holding the private key.") var file: String
        @Option(name: .long, help: "Category (default LEDGER).") var category: String?
        @Option(name: .long, help: "A label NAME=VALUE (repeatable).") var label: [String] = []
        @Option(name: .long, help: "An identifier of the key in an outside system.") var externalId: String?

        func run() async throws {
            try await withBackend(global) { service in
                guard var data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read key file \(file)") }
                let material = SecretBytes(data)
                data.withUnsafeMutableBytes { SecretBytes.zeroize($0) }
                let spec = KeySpec(tenant: tenant, alias: alias, algorithm: try KeyAlgorithm(identifier: scheme),
                                   category: try category.map(KeyCategory.init(identifier:)),
                                   labels: try parseLabels(label), externalID: externalId)
                let key = try await service.importKey(spec, privateKey: material)
                global.output.emit(keyJSON(key), text: keyText(key))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys of a tenant, filtered and paged.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Only this category.") var category: String?
        @Option(name: .long, help: "Only this scheme.") var scheme: String?
        @Option(name: .long, help: "Only aliases starting with this.") var aliasPrefix: String?
        @Option(name: .long, help: "Only this status: enabled, disabled, destroyed.") var status: String?
        @Option(name: .long, help: "Page size (1–1000).") var limit: Int = 100
        @Option(name: .long, help: "Cursor from the previous page.") var after: String?

        func run() async throws {
            try await withBackend(global) { service in
                var filter = KeyFilter(aliasPrefix: aliasPrefix)
                filter.category = try category.map { try KeyCategory(identifier: $0).rawValue }
                filter.scheme = try scheme.map { try KeyAlgorithm(identifier: $0).identifier }
                if let status {
                    guard let parsed = KeyStatus(rawValue: status) else { throw CLIError("--status must be enabled, disabled or destroyed") }
                    filter.status = parsed
                }
                let page = try await service.listKeys(tenant: tenant, filter: filter, page: PageRequest(limit: limit, after: after))
                if global.json {
                    var object: [String: Any] = ["keys": page.keys.map(keyJSON)]
                    if let next = page.nextCursor { object["next_cursor"] = next }
                    Output.line(Output.encode(object))
                } else {
                    for key in page.keys {
                        Output.line("\(key.alias)\t\(key.scheme)\t\(key.category)\t\(key.status)\tv\(key.primaryVersion)")
                    }
                    if let next = page.nextCursor { Output.line("(more: --after \(next))") }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a key record and its versions.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            try await withBackend(global) { service in
                let key = try await service.key(tenant: target.tenant, alias: target.alias)
                global.output.emit(keyJSON(key), text: keyText(key))
            }
        }
    }

    struct Public: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export a public key as PEM, DER, JWK or raw.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: Target
        @Option(name: .long, help: "pem, der, jwk or raw (der and raw print as hex unless --out).") var format: String = "pem"
        @Option(name: .long, help: "Version (default: the primary one).") var version: Int?
        @Option(name: .long, help: "Write to this file instead of standard output.") var out: String?

        func run() async throws {
            try await withBackend(global) { service in
                let key = try await service.publicKey(tenant: target.tenant, alias: target.alias, version: version)
                let bytes: [UInt8]
                let text: String
                switch format {
                case "pem":
                    guard let pem = key.pemRepresentation else { throw CLIError("this key type has no PEM/SPKI form; use raw or jwk") }
                    text = pem
                    bytes = Array(text.utf8)
                case "der":
                    guard let der = key.derRepresentation else { throw CLIError("this key type has no PEM/SPKI form; use raw or jwk") }
                    bytes = der
                    text = Hex.encode(bytes)
                case "raw":
                    guard let raw = key.rawRepresentation else { throw CLIError("this key type has no raw form; use pem or der") }
                    bytes = raw
                    text = Hex.encode(raw)
                case "jwk":
                    text = Output.encode(key.jwk)
                    bytes = Array(text.utf8)
                default:
                    throw CLIError("--format must be pem, der, jwk or raw")
                }
                if let out {
                    try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic)
                    global.output.emit(["written": out, "format": format], text: "wrote \(out)")
                } else if global.json {
                    Output.line(Output.encode(["format": format, "public_key": format == "jwk" ? key.jwk as Any : text]))
                } else {
                    FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
                }
            }
        }
    }

    struct ProofOfPossession: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pop", abstract: "Export the proof of possession of a bls12381-pop key (hex).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: Target
        func run() async throws {
            try await withBackend(global) { service in
                let (proof, version) = try await service.proofOfPossession(tenant: target.tenant, alias: target.alias)
                global.output.emit(["proof_of_possession": Hex.encode(proof), "version": version], text: Hex.encode(proof))
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a new primary version; older versions keep verifying.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: Target
        func run() async throws {
            try await withBackend(global) { service in
                let key = try await service.rotate(tenant: target.tenant, alias: target.alias)
                global.output.emit(keyJSON(key), text: "rotated \(key.alias): primary version is now \(key.primaryVersion)")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a key from signing, encrypting or decrypting.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: Target
        func run() async throws {
            try await withBackend(global) { service in
                let key = try await service.disable(tenant: target.tenant, alias: target.alias)
                global.output.emit(keyJSON(key), text: "disabled \(key.alias)")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-enable a disabled key.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: Target
        func run() async throws {
            try await withBackend(global) { service in
                let key = try await service.enable(tenant: target.tenant, alias: target.alias)
                global.output.emit(keyJSON(key), text: "enabled \(key.alias)")
            }
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Erase the key material of every version (a tombstone stays).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: Target
        func run() async throws {
            try await withBackend(global) { service in
                let key = try await service.destroy(tenant: target.tenant, alias: target.alias)
                global.output.emit(keyJSON(key), text: "destroyed \(key.alias): its private material is erased")
            }
        }
    }
}

func parseLabels(_ labels: [String]) throws -> [String: String] {
    var result: [String: String] = [:]
    for label in labels {
        guard let equals = label.firstIndex(of: "=") else { throw CLIError("label '\(label)' must be NAME=VALUE") }
        result[String(label[..<equals])] = String(label[label.index(after: equals)...])
    }
    return result
}

func keyJSON(_ key: KeyInfo) -> [String: Any] {
    var object: [String: Any] = [
        "id": key.id, "tenant": key.tenant, "alias": key.alias, "category": key.category, "scheme": key.scheme,
        "status": key.status, "primary_version": key.primaryVersion, "labels": key.labels, "protection": key.protection,
        "created_at": Output.timestamp(key.createdAt), "updated_at": Output.timestamp(key.updatedAt),
    ]
    if let fingerprint = key.fingerprint { object["fingerprint"] = fingerprint }
    if let shortID = key.shortID { object["short_id"] = shortID }
    if let externalID = key.externalID { object["external_id"] = externalID }
    if let versions = key.versions {
        object["versions"] = versions.map { version -> [String: Any] in
            var entry: [String: Any] = ["version": version.version, "created_at": Output.timestamp(version.createdAt), "destroyed": version.destroyed]
            if let fingerprint = version.fingerprint { entry["fingerprint"] = fingerprint }
            return entry
        }
    }
    return object
}

func keyText(_ key: KeyInfo) -> String {
    var lines = [
        "alias:        \(key.alias)",
        "id:           \(key.id)",
        "tenant:       \(key.tenant)",
        "scheme:       \(key.scheme)",
        "category:     \(key.category)",
        "status:       \(key.status)",
        "primary:      v\(key.primaryVersion)",
    ]
    if let fingerprint = key.fingerprint { lines.append("fingerprint:  \(fingerprint) (\(key.shortID ?? ""))") }
    if !key.labels.isEmpty { lines.append("labels:       " + key.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")) }
    if let externalID = key.externalID { lines.append("external id:  \(externalID)") }
    for version in key.versions ?? [] {
        lines.append("  v\(version.version)  \(version.destroyed ? "destroyed" : "live")  \(version.fingerprint.map { String($0.prefix(20)) + "…" } ?? "")  \(Output.timestamp(version.createdAt))")
    }
    return lines.joined(separator: "\n")
}
