import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Hummingbird

/// API tokens and the audit log.
struct AccessRoutes {
    let keys: KeyService
    let tokens: TokenService
    let io: JSONIO

    func register(on router: RouterGroup<CustosRequestContext>) {
        router.on(.createToken) { request, context in
            let principal = try context.requirePrincipal()
            let body = try await io.decode(CreateTokenRequest.self, from: request)
            guard let role = Role(rawValue: body.role) else { throw Problem.invalid("role must be admin, operator, signer, auditor or node") }
            let tenant = try body.tenant.map { try TenantID(validating: $0) }
            let created = try await audited(principal, .tokenCreate, tenant: tenant) {
                try await tokens.create(tenant: tenant, role: role, lifetime: TimeInterval(body.ttlSeconds),
                                        description: body.description, by: principal)
            }
            let bearer = created.bearer.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            return try JSONIO.response(CreatedTokenResponse(token: TokenResponse(created.info), bearer: bearer), status: .created)
        }
        router.on(.listTokens) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenantQuery(request)
            let list = try await audited(principal, .tokenList, tenant: tenant ?? principal.tenant) {
                try await tokens.list(tenant: tenant, by: principal)
            }
            return try JSONIO.response(TokenList(tokens: list.map(TokenResponse.init)))
        }
        router.on(.revokeToken) { _, context in
            let principal = try context.requirePrincipal()
            let id = try Field.path(context, "id")
            return try JSONIO.response(TokenResponse(try await tokens.revoke(id: id, by: principal)))
        }
        router.on(.listAudit) { request, context in
            let principal = try context.requirePrincipal()
            let requested = try Field.tenantQuery(request)
            let tenant = try await audited(principal, .auditRead, tenant: requested ?? principal.tenant) { try scope(principal, requested: requested) }
            let limit = try Field.intQuery(request, "limit", 1...1000) ?? 100
            let after = try Field.intQuery(request, "after", 0...Int.max) ?? 0
            let records = try await keys.store.auditRecords(AuditQuery(after: Int64(after), limit: limit, tenantID: tenant?.rawValue,
                                                                       keyID: Field.query(request, "key_id"),
                                                                       operation: Field.query(request, "operation")))
            let body = AuditRecordList(records: records.map(AuditRecordResponse.init(record:)), next: records.count == limit ? records.last?.sequence : nil)
            return try JSONIO.response(body)
        }
        router.on(.verifyAudit) { request, context in
            let principal = try context.requirePrincipal()
            let requested = try Field.tenantQuery(request)
            let tenant = try await audited(principal, .auditVerify, tenant: requested ?? principal.tenant) { try scope(principal, requested: requested) }
            // Cancelled at the request deadline: the walk checks between pages.
            let result = try await keys.audit.verify(tenant: tenant?.rawValue)
            try await keys.audit.recordVerification(result, actor: principal.id, tenant: tenant?.rawValue)
            return try JSONIO.response(AuditVerifyResponse(result: result))
        }
    }

    /// Auditors bound to a tenant read only that tenant; node-wide ones may filter.
    private func scope(_ principal: Principal, requested: TenantID?) throws -> TenantID? {
        let tenant = principal.tenant ?? requested
        try principal.authorize(.readAudit, tenant: tenant)
        if let requested, let bound = principal.tenant, requested != bound {
            throw KeystoreError.forbidden("this token is bound to another tenant")
        }
        return tenant
    }

    /// Token operations check permissions in the token service; a refusal is audited here.
    private func audited<T>(_ principal: Principal, _ operation: AuditOperation, tenant: TenantID?, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as KeystoreError where error.code == "forbidden" {
            try? await keys.audit.record(AuditEvent(time: .now, actor: principal.id, tenantID: tenant?.rawValue, operation: operation,
                                                    outcome: .denied, details: ["error": error.code]))
            throw error
        }
    }
}
