import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosPKI
import Foundation
import Hummingbird

/// TLS certificates issued from keystore keys, and the server-wide client trust set.
/// A change the server's own listener depends on (a rotation, a trust change) is
/// applied to it at once through `afterChange`; other processes' changes reach it by
/// the reloader's poll.
struct TLSRoutes {
    let keys: KeyService
    let io: JSONIO
    let afterChange: @Sendable () async -> Void

    func register(on router: RouterGroup<CustosRequestContext>) {
        router.on(.createCertificateAuthority) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            let body = try await io.decode(CreateCertificateAuthorityRequest.self, from: request)
            let spec = try await keys.auditedArguments(.tlsCACreate, tenant: tenant, by: principal) { try CertificateAuthoritySpec(tenant: tenant, body) }
            return try JSONIO.response(CertificateResponse(try await keys.createCertificateAuthority(spec, by: principal)), status: .created)
        }
        router.on(.issueCertificate) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            let body = try await io.decode(IssueCertificateRequest.self, from: request)
            let spec = try await keys.auditedArguments(.tlsIssue, tenant: tenant, by: principal) { try CertificateSpec(tenant: tenant, body) }
            return try JSONIO.response(CertificateResponse(try await keys.issueCertificate(spec, by: principal)), status: .created)
        }
        router.on(.listCertificates) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            let alias = try Field.query(request, "alias").map { try KeyAlias(validating: $0) }
            let list = try await keys.certificates(tenant: tenant, alias: alias, by: principal)
            return try JSONIO.response(CertificateListResponse(list))
        }
        router.on(.signCertificateRequest) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            let body = try await io.decode(SignCertificateRequestRequest.self, from: request)
            let (issuer, csr, usage) = try await keys.auditedArguments(.tlsSignCSR, tenant: tenant, by: principal) {
                (try KeyAlias(validating: body.issuer), try EncodedObject.bytes(body.csr, field: "csr"), try CertificateUsage(option: body.usage))
            }
            let info = try await keys.signCertificateRequest(tenant: tenant, issuer: issuer, csr: csr, days: body.days, usage: usage, by: principal)
            return try JSONIO.response(CertificateResponse(info), status: .created)
        }
        router.on(.rotateCertificate) { _, context in
            let principal = try context.requirePrincipal()
            let info = try await keys.rotateTLSKey(tenant: try Field.tenant(context), alias: try Field.alias(context), by: principal)
            await afterChange()
            return try JSONIO.response(CertificateResponse(info))
        }
        router.on(.importCertificate) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let body = try await io.decode(ImportCertificateRequest.self, from: request)
            let der = try await keys.auditedArguments(.tlsImport, tenant: tenant, by: principal) { try EncodedObject.bytes(body.certificate, field: "certificate") }
            let info = try await keys.importCertificate(tenant: tenant, alias: alias, certificate: der, by: principal)
            await afterChange()
            return try JSONIO.response(CertificateResponse(info), status: .created)
        }
        router.on(.revokeCertificate) { request, context in
            let principal = try context.requirePrincipal()
            let body = try await io.decode(RevokeCertificateRequest.self, from: request)
            let info = try await keys.revokeCertificate(tenant: try Field.tenant(context), body, by: principal)
            await afterChange()
            return try JSONIO.response(CertificateResponse(info))
        }
        router.on(.tlsTrust) { _, context in
            try JSONIO.response(TLSTrustResponse(try await keys.tlsTrust(by: try context.requirePrincipal())))
        }
        router.on(.trustPin) { request, context in
            let principal = try context.requirePrincipal()
            let body = try await io.decode(TrustPinRequest.self, from: request)
            try await keys.trustClientPin(try pin(body.pin, principal), label: body.label, by: principal)
            return try await trustChanged(principal)
        }
        router.on(.untrustPin) { request, context in
            let principal = try context.requirePrincipal()
            let body = try await io.decode(TrustPinRequest.self, from: request)
            try await keys.untrustClientPin(try pin(body.pin, principal), by: principal)
            return try await trustChanged(principal)
        }
        router.on(.trustAuthority) { request, context in
            let principal = try context.requirePrincipal()
            let body = try await io.decode(TrustAuthorityRequest.self, from: request)
            try await keys.trustCertificateAuthority(tenant: try TenantID(validating: body.tenant), alias: try KeyAlias(validating: body.alias),
                                                     by: principal)
            return try await trustChanged(principal)
        }
        router.on(.untrustAuthority) { request, context in
            let principal = try context.requirePrincipal()
            let body = try await io.decode(TrustAuthorityRequest.self, from: request)
            try await keys.untrustCertificateAuthority(tenant: try TenantID(validating: body.tenant), alias: try KeyAlias(validating: body.alias),
                                                       by: principal)
            return try await trustChanged(principal)
        }
    }

    /// A malformed pin is refused as a bad request before the trust set is touched.
    private func pin(_ text: String, _ principal: Principal) throws -> PublicKeyPin {
        do {
            return try PublicKeyPin(parsing: text)
        } catch {
            throw KeystoreError.invalidArgument("\(error)")
        }
    }

    private func trustChanged(_ principal: Principal) async throws -> Response {
        await afterChange()
        return try JSONIO.response(TLSTrustResponse(try await keys.tlsTrust(by: principal)))
    }
}
