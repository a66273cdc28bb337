import ArgumentParser
import CustosAPI
import CustosKeystore
import CustosStore

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Manage tenants (virtual nodes and cluster services).",
        subcommands: [Create.self, List.self, Assign.self, Levels.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create tenants, each with its first wrapping key.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Tenant ids: lower-case letters, digits, '-', '_', '.'.") var names: [String]

        func validate() throws {
            guard !names.isEmpty else { throw ValidationError("give at least one tenant id") }
        }

        func run() async throws {
            try await withBackend(global) { service in
                for name in names {
                    let tenant = try await service.createTenant(name)
                    global.output.emit(tenantJSON(tenant), text: "created tenant \(tenant.id)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await withBackend(global) { service in
                let tenants = try await service.tenants()
                if global.json {
                    Output.line(Output.encode(["tenants": tenants.map(tenantJSON)]))
                } else {
                    for tenant in tenants {
                        Output.line("\(tenant.id)\twrapping generation \(tenant.wrappingGeneration)\tcreated \(Output.timestamp(tenant.createdAt))")
                    }
                }
            }
        }
    }
}

extension TenantCommand {
    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the security level of a tenant's key category.",
            discussion: """
                standard: soft keys wrapped in the database; high: the soft-wrapped key wrapped again by an AES key \
                inside the HSM; ultimate: the key pair generated inside the HSM, never extractable, signing there. \
                The previous association is deprecated and kept; existing keys keep their protection.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Key category (CONSENSUS, LEDGER, …).") var category: String
        @Option(name: .long, help: "standard, high or ultimate.") var level: String
        @Option(name: .long, help: "Registered HSM (required for high and ultimate).") var hsm: String?

        func run() async throws {
            try await withKeystore(global) { service in
                let category = try KeyCategory(identifier: self.category)
                guard let level = SecurityLevel(rawValue: self.level.lowercased()) else {
                    throw KeystoreError.invalidArgument("unknown level '\(self.level.prefix(40))'; use standard, high or ultimate")
                }
                let info = try await service.assignSecurityLevel(tenant: try TenantID(validating: tenant), category: category, level: level, hsm: hsm, by: .local)
                global.output.emit(levelJSON(info), text: "\(tenant) \(category.rawValue): \(level.rawValue)\(hsm.map { " (HSM \($0))" } ?? "")")
            }
        }
    }

    struct Levels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a tenant's security levels, with their history.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Tenant id.") var tenant: String

        func run() async throws {
            try await withKeystore(global) { service in
                let levels = try await service.securityLevels(tenant: try TenantID(validating: tenant), by: .local)
                if global.json {
                    Output.line(Output.encode(["levels": levels.map(levelJSON)]))
                } else {
                    for info in levels {
                        let state = info.deprecatedAt.map { "deprecated \(Output.timestamp($0))" } ?? "current"
                        Output.line("\(info.category.rawValue)\t\(info.level.rawValue)\t\(info.hsm ?? "-")\tsince \(Output.timestamp(info.createdAt))\t\(state)")
                    }
                }
            }
        }
    }
}

func levelJSON(_ info: SecurityLevelInfo) -> [String: Any] {
    var out: [String: Any] = ["tenant": info.tenant.rawValue, "category": info.category.rawValue, "level": info.level.rawValue,
                              "created_at": Output.timestamp(info.createdAt), "current": info.deprecatedAt == nil]
    if let hsm = info.hsm { out["hsm"] = hsm }
    if let deprecated = info.deprecatedAt { out["deprecated_at"] = Output.timestamp(deprecated) }
    return out
}

struct HSMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hsm", abstract: "Register PKCS#11 tokens for the high and ultimate security levels.",
        subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a PKCS#11 token under a name.",
            discussion: "The PIN comes from CUSTOS_HSM_PIN_<NAME> (upper case, other characters as '_'); it is never stored.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Name: 1–32 lower-case letters, digits, '-', '_' or '.'.") var name: String
        @Option(name: .long, help: "PKCS#11 module path.") var module: String = PKCS11Configuration.defaultModule
        @Option(name: .long, help: "Label of the PKCS#11 token.") var tokenLabel: String

        func run() async throws {
            try await withKeystore(global) { service in
                let record = try await service.registerHSM(name: name, module: module, tokenLabel: tokenLabel, by: .local)
                global.output.emit(hsmJSON(record), text: "registered HSM \(record.name) (token '\(record.tokenLabel)', module \(record.module))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered HSMs.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await withKeystore(global) { service in
                let hsms = try await service.hsms(by: .local)
                if global.json {
                    Output.line(Output.encode(["hsms": hsms.map(hsmJSON)]))
                } else {
                    for hsm in hsms { Output.line("\(Output.field(hsm.name))\ttoken '\(Output.field(hsm.tokenLabel))'\t\(Output.field(hsm.module))") }
                }
            }
        }
    }
}

func hsmJSON(_ record: HSMRecord) -> [String: Any] {
    ["name": record.name, "module": record.module, "token": record.tokenLabel, "created_at": Output.timestamp(record.createdAt)]
}

func tenantJSON(_ tenant: TenantResponse) -> Any { Output.object(tenant) }
