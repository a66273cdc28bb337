import ArgumentParser
import CustosAPI
import CustosClient
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Generate, import, inspect, rotate and destroy keys.",
        subcommands: [Generate.self, Import.self, List.self, Show.self, Public.self, ProofOfPossession.self, KeyStateCommand<Rotate>.self,
                      KeyStateCommand<Disable>.self, KeyStateCommand<Enable>.self, KeyStateCommand<Destroy>.self])

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
                let labels = try parseLabels(label)
                let base = GenerateKeyRequest(alias: alias, scheme: scheme, category: category, labels: labels.isEmpty ? nil : labels,
                                              externalID: externalId, rsaBits: rsaBits)
                let requests = count == 1 ? [base] : (1...count).map { index -> GenerateKeyRequest in
                    var request = base
                    request.alias = "\(alias)-\(index)"
                    return request
                }
                let bar = ProgressBar(total: requests.count)
                let keys = try await service.generateKeys(tenant: tenant, requests) { bar.update($0) }
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
                var data = try NamedFile.data(file, what: "key file")
                let material = SecretBytes(data)
                data.withUnsafeMutableBytes { SecretBytes.zeroize($0) }
                let labels = try parseLabels(label)
                let request = GenerateKeyRequest(alias: alias, scheme: scheme, category: category, labels: labels.isEmpty ? nil : labels,
                                                 externalID: externalId)
                let key = try await service.importKey(tenant: tenant, request, privateKey: material)
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
                if let status, !["enabled", "disabled", "destroyed"].contains(status) {
                    throw CLIError("--status must be enabled, disabled or destroyed")
                }
                let query = KeyListQuery(limit: limit, after: after, category: try category.map { try KeyCategory(identifier: $0).rawValue },
                                         scheme: try scheme.map { try KeyAlgorithm(identifier: $0).identifier }, status: status,
                                         aliasPrefix: aliasPrefix)
                let page = try await service.listKeys(tenant: tenant, query)
                if global.json {
                    var object: [String: Any] = ["keys": page.keys.map(keyJSON)]
                    if let next = page.next { object["next_cursor"] = next }
                    Output.line(Output.encode(object))
                } else {
                    for key in page.keys {
                        Output.line([key.alias, key.scheme, key.category, key.status].map(Output.field).joined(separator: "\t") + "\tv\(key.primaryVersion)")
                    }
                    if let next = page.next { Output.line("(more: --after \(Output.field(next)))") }
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
                guard ["pem", "der", "raw", "jwk"].contains(format) else { throw CLIError("--format must be pem, der, jwk or raw") }
                let key = try await service.publicKey(tenant: target.tenant, alias: target.alias, format: format, version: version)
                let bytes: [UInt8]
                let text: String
                switch format {
                case "jwk":
                    text = Output.encode(key.jwk ?? [:])
                    bytes = Array(text.utf8)
                case "pem":
                    text = key.publicKey ?? ""
                    bytes = Array(text.utf8)
                default:
                    bytes = try CustosClient.bytes(key.publicKey, field: "public_key")
                    text = Hex.encode(bytes)
                }
                if let out {
                    try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic)
                    global.output.emit(["written": out, "format": format], text: "wrote \(out)")
                } else if global.json {
                    Output.line(Output.encode(["format": format, "public_key": format == "jwk" ? (key.jwk ?? [:]) as Any : text]))
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
                let response = try await service.proofOfPossession(tenant: target.tenant, alias: target.alias)
                let proof = Hex.encode(try CustosClient.bytes(response.proofOfPossession, field: "proof_of_possession"))
                global.output.emit(["proof_of_possession": proof, "version": response.version], text: proof)
            }
        }
    }

    // The four changes of state share one command; each is named by its kind.
    enum Rotate: KeyStateKind { static let change = KeyStateChange.rotate }
    enum Disable: KeyStateKind { static let change = KeyStateChange.disable }
    enum Enable: KeyStateKind { static let change = KeyStateChange.enable }
    enum Destroy: KeyStateKind { static let change = KeyStateChange.destroy }
}

protocol KeyStateKind { static var change: KeyStateChange { get } }

/// Rotate, disable, enable or destroy: one change of state, the key printed after it.
struct KeyStateCommand<Kind: KeyStateKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        let abstract = switch Kind.change {
        case .rotate: "Make a new primary version; older versions keep verifying."
        case .disable: "Stop a key from signing, encrypting or decrypting."
        case .enable: "Re-enable a disabled key."
        case .destroy: "Erase the key material of every version (a tombstone stays)."
        }
        return CommandConfiguration(commandName: Kind.change.rawValue, abstract: abstract)
    }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: KeyCommand.Target

    func run() async throws {
        try await withBackend(global) { service in
            let key = try await service.changeState(Kind.change, tenant: target.tenant, alias: target.alias)
            let done = switch Kind.change {
            case .rotate: "rotated \(key.alias): primary version is now \(key.primaryVersion)"
            case .disable: "disabled \(key.alias)"
            case .enable: "enabled \(key.alias)"
            case .destroy: "destroyed \(key.alias): its private material is erased"
            }
            global.output.emit(keyJSON(key), text: done)
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

func keyJSON(_ key: KeyResponse) -> Any { Output.object(key) }

func keyText(_ key: KeyResponse) -> String {
    let f = Output.field
    var lines = [
        "alias:        \(f(key.alias))",
        "id:           \(f(key.id))",
        "tenant:       \(f(key.tenant))",
        "scheme:       \(f(key.scheme))",
        "category:     \(f(key.category))",
        "status:       \(f(key.status))",
        "primary:      v\(key.primaryVersion)",
    ]
    if let fingerprint = key.fingerprint { lines.append("fingerprint:  \(f(fingerprint)) (\(f(key.shortID ?? "")))") }
    if let address = key.address { lines.append("address:      \(f(address))") }
    if !key.labels.isEmpty { lines.append("labels:       " + key.labels.sorted { $0.key < $1.key }.map { "\(f($0.key))=\(f($0.value))" }.joined(separator: ", ")) }
    if let externalID = key.externalID { lines.append("external id:  \(f(externalID))") }
    for version in key.versions ?? [] {
        lines.append("  v\(version.version)  \(version.destroyed ? "destroyed" : "live")  \(version.fingerprint.map { f(String($0.prefix(20))) + "…" } ?? "")  \(Output.timestamp(version.createdAt))")
    }
    return lines.joined(separator: "\n")
}
