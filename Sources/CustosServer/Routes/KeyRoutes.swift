import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Hummingbird

/// Tenants, keys and their lifecycle.
struct KeyRoutes {
    let keys: KeyService
    let io: JSONIO
    let allowImport: Bool

    func register(on router: RouterGroup<CustosRequestContext>) {
        router.on(.createTenant) { request, context in
            let body = try await io.decode(CreateTenantRequest.self, from: request)
            let tenant = try await keys.createTenant(try TenantID(validating: body.id), by: try context.requirePrincipal())
            return try JSONIO.response(TenantResponse(tenant), status: .created)
        }
        router.on(.listTenants) { _, context in
            try JSONIO.response(TenantList(tenants: try await keys.tenants(by: try context.requirePrincipal()).map(TenantResponse.init)))
        }
        router.on(.generateKey) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            let body = try await io.decode(GenerateKeyRequest.self, from: request)
            let spec = try await keys.auditedArguments(.generate, tenant: tenant, by: principal) { try KeySpec(tenant: tenant, body) }
            return try JSONIO.response(KeyResponse(try await keys.generateKey(spec, by: principal)), status: .created)
        }
        router.on(.importKey) { request, context in
            let principal = try context.requirePrincipal()
            guard allowImport else {
                throw Problem(status: 403, code: "import-disabled", title: "Forbidden",
                              detail: "importing private keys is allowed only over TLS or on a loopback-only server")
            }
            let tenant = try Field.tenant(context)
            let body = try await io.decode(ImportKeyRequest.self, from: request)
            let spec = try await keys.auditedArguments(.import, tenant: tenant, by: principal) {
                try KeySpec(tenant: tenant, GenerateKeyRequest(alias: body.alias, scheme: body.scheme, category: body.category,
                                                               labels: body.labels, externalID: body.externalID))
            }
            var encoded = Array(body.privateKey.utf8)
            defer { SecretBytes.zeroize(&encoded) }
            let material: SecretBytes
            if body.privateKey.hasPrefix("-----BEGIN") {
                material = SecretBytes(encoded)
            } else if var der = Base64Text.decode(body.privateKey) {
                material = SecretBytes(der)
                SecretBytes.zeroize(&der)
            } else {
                throw Problem.invalid("private_key must be PEM text or base64 DER")
            }
            return try JSONIO.response(KeyResponse(try await keys.importKey(spec, privateKey: material, by: principal)), status: .created)
        }
        router.on(.listKeys) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            let query = KeyListQuery(limit: try Field.intQuery(request, "limit", 1...PageRequest.maximumLimit) ?? 100,
                                     after: Field.query(request, "after"), category: Field.query(request, "category"),
                                     scheme: Field.query(request, "scheme"), status: Field.query(request, "status"),
                                     aliasPrefix: Field.query(request, "alias_prefix"))
            let filter = try KeyFilter(query)
            let page = try await keys.listKeys(tenant: tenant, filter: filter, page: PageRequest(limit: query.limit, after: query.after), by: principal)
            return try JSONIO.response(KeyList(keys: page.keys.map(KeyResponse.init), next: page.nextCursor))
        }
        router.on(.getKey) { _, context in
            try JSONIO.response(KeyResponse(try await keys.key(tenant: try Field.tenant(context), alias: try Field.alias(context),
                                                               by: try context.requirePrincipal())))
        }
        router.on(.publicKey) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let format = Field.query(request, "format") ?? "pem"
            guard ["pem", "der", "jwk", "raw"].contains(format) else { throw Problem.invalid("format must be pem, der, jwk or raw") }
            let version = try Field.intQuery(request, "version", 1...Int(Int32.max))
            let info = try await keys.key(tenant: tenant, alias: alias, by: principal)
            let export = try await keys.publicKey(tenant: tenant, alias: alias, version: version, by: principal)
            return try JSONIO.response(try PublicKeyResponse(export, of: info, version: version ?? info.primaryVersion, format: format))
        }
        router.on(.proofOfPossession) { _, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let proof = try await keys.proofOfPossession(tenant: tenant, alias: alias, by: principal)
            let export = try await keys.publicKey(tenant: tenant, alias: alias, version: proof.version, by: principal)
            return try JSONIO.response(ProofOfPossessionResponse(alias: alias.rawValue, version: proof.version,
                                                                 publicKey: Data(export.encodedRepresentation).base64EncodedString(),
                                                                 proofOfPossession: Data(proof.proof).base64EncodedString()))
        }
        for change in KeyStateChange.allCases {
            router.on(change.endpoint) { _, context in
                let principal = try context.requirePrincipal()
                let tenant = try Field.tenant(context), alias = try Field.alias(context)
                return try JSONIO.response(KeyResponse(try await keys.changeState(change, tenant: tenant, alias: alias, by: principal)))
            }
        }
    }
}
