import ArgumentParser
import CustosKeystore

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Manage tenants (virtual nodes and cluster services).",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant and its first wrapping key.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Tenant id: lower-case letters, digits, '-', '_', '.'.") var name: String

        func run() async throws {
            try await withBackend(global) { service in
                let tenant = try await service.createTenant(name)
                global.output.emit(tenantJSON(tenant), text: "created tenant \(tenant.id)")
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

func tenantJSON(_ tenant: TenantInfo) -> [String: Any] {
    ["id": tenant.id, "created_at": Output.timestamp(tenant.createdAt), "wrapping_generation": tenant.wrappingGeneration]
}
