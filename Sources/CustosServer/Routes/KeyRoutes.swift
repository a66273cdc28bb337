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
        router.post("tenants") { request, context in
            let body = try await io.decode(CreateTenantRequest.self, from: request)
            let tenant = try await keys.createTenant(body.id, by: try context.requirePrincipal())
            return try JSONIO.response(tenant, status: .created)
        }
        router.get("tenants") { _, context in
            try JSONIO.response(TenantList(tenants: try await keys.tenants(by: try context.requirePrincipal())))
        }
        router.post("tenants/:tenant/keys") { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.path(context, "tenant")
            let body = try await io.decode(GenerateKeyRequest.self, from: request)
            let spec = try KeySpec(tenant: tenant, alias: body.alias, algorithm: try Self.algorithm(body.scheme),
                                   category: body.category.map(KeyCategory.init(identifier:)),
                                   options: GenerationOptions(rsaKeySize: try body.rsaBits.map(RSAKeySize.init(bits:)) ?? .bits3072),
                                   labels: body.labels ?? [:], externalID: body.externalID)
            return try JSONIO.response(try await keys.generateKey(spec, by: principal), status: .created)
        }
        router.post("tenants/:tenant/keys/import") { request, context in
            let principal = try context.requirePrincipal()
            guard allowImport else {
                throw Problem(status: 403, code: "import-disabled", title: "Forbidden",
                              detail: "importing private keys is allowed only over TLS or on a loopback-only server")
            }
            let tenant = try Field.path(context, "tenant")
            let body = try await io.decode(ImportKeyRequest.self, from: request)
            let spec = try KeySpec(tenant: tenant, alias: body.alias, algorithm: try Self.algorithm(body.scheme),
                                   category: body.category.map(KeyCategory.init(identifier:)),
                                   labels: body.labels ?? [:], externalID: body.externalID)
            var encoded = Array(body.privateKey.utf8)
            defer { SecretBytes.zeroize(&encoded) }
            let material: SecretBytes
            if body.privateKey.hasPrefix("-----BEGIN") {
                material = SecretBytes(encoded)
            } else if let der = Data(base64Encoded: body.privateKey) {
                material = SecretBytes(der)
            } else {
                throw Problem.invalid("private_key must be PEM text or base64 DER")
            }
            return try JSONIO.response(try await keys.importKey(spec, privateKey: material, by: principal), status: .created)
        }
        router.get("tenants/:tenant/keys") { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.path(context, "tenant")
            var filter = KeyFilter(aliasPrefix: Field.query(request, "alias_prefix"))
            filter.category = try Field.query(request, "category").map { try KeyCategory(identifier: $0).rawValue }
            filter.scheme = Field.query(request, "scheme")
            if let status = Field.query(request, "status") {
                guard let parsed = KeyStatus(rawValue: status) else { throw Problem.invalid("status must be enabled, disabled or destroyed") }
                filter.status = parsed
            }
            let limit = try Field.intQuery(request, "limit", 1...PageRequest.maximumLimit) ?? 100
            let page = try await keys.listKeys(tenant: tenant, filter: filter,
                                               page: PageRequest(limit: limit, after: Field.query(request, "after")), by: principal)
            return try JSONIO.response(KeyList(keys: page.keys, next: page.nextCursor))
        }
        router.get("tenants/:tenant/keys/:alias") { _, context in
            try JSONIO.response(try await keys.key(tenant: try Field.path(context, "tenant"), alias: try Field.path(context, "alias"),
                                                   by: try context.requirePrincipal()))
        }
        router.get("tenants/:tenant/keys/:alias/public") { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.path(context, "tenant"), alias = try Field.path(context, "alias")
            let format = Field.query(request, "format") ?? "pem"
            guard ["pem", "der", "jwk", "raw"].contains(format) else { throw Problem.invalid("format must be pem, der, jwk or raw") }
            let version = try Field.intQuery(request, "version", 1...Int(Int32.max))
            let info = try await keys.key(tenant: tenant, alias: alias, by: principal)
            let export = try await keys.publicKey(tenant: tenant, alias: alias, version: version, by: principal)
            let fingerprint = Fingerprint(subjectPublicKeyInfo: export.encodedRepresentation).description
            var response = PublicKeyResponse(alias: alias, version: version ?? info.primaryVersion, scheme: info.scheme,
                                             fingerprint: fingerprint, format: format, publicKey: nil, jwk: nil)
            switch format {
            case "pem":
                guard let pem = export.pemRepresentation else { throw Problem.invalid("\(info.scheme) keys have no PEM form; use raw") }
                response.publicKey = pem
            case "der":
                guard let der = export.derRepresentation else { throw Problem.invalid("\(info.scheme) keys have no DER form; use raw") }
                response.publicKey = Data(der).base64EncodedString()
            case "raw":
                guard let raw = export.rawRepresentation else { throw Problem.invalid("\(info.scheme) keys have no raw form") }
                response.publicKey = Data(raw).base64EncodedString()
            default:
                response.jwk = export.jwk
            }
            return try JSONIO.response(response)
        }
        router.post("tenants/:tenant/keys/:alias/pop") { _, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.path(context, "tenant"), alias = try Field.path(context, "alias")
            let proof = try await keys.proofOfPossession(tenant: tenant, alias: alias, by: principal)
            let export = try await keys.publicKey(tenant: tenant, alias: alias, version: proof.version, by: principal)
            return try JSONIO.response(ProofOfPossessionResponse(alias: alias, version: proof.version,
                                                                 publicKey: Data(export.encodedRepresentation).base64EncodedString(),
                                                                 proofOfPossession: Data(proof.proof).base64EncodedString()))
        }
        for (action, operation) in [("rotate", Lifecycle.rotate), ("disable", .disable), ("enable", .enable), ("destroy", .destroy)] {
            router.post("tenants/:tenant/keys/:alias/\(action)") { _, context in
                let principal = try context.requirePrincipal()
                let tenant = try Field.path(context, "tenant"), alias = try Field.path(context, "alias")
                let info: KeyInfo = switch operation {
                case .rotate: try await keys.rotate(tenant: tenant, alias: alias, by: principal)
                case .disable: try await keys.disable(tenant: tenant, alias: alias, by: principal)
                case .enable: try await keys.enable(tenant: tenant, alias: alias, by: principal)
                case .destroy: try await keys.destroy(tenant: tenant, alias: alias, by: principal)
                }
                return try JSONIO.response(info)
            }
        }
    }

    enum Lifecycle { case rotate, disable, enable, destroy }

    static func algorithm(_ scheme: String) throws -> KeyAlgorithm {
        do {
            return try KeyAlgorithm(identifier: scheme)
        } catch let error as CustosCryptoError {
            throw KeystoreError.crypto(error)
        }
    }
}
