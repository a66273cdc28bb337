import CustosKeystore
import CustosStore
import Hummingbird

/// Resolves `Authorization: Bearer <token>` to a principal. Requests without a valid
/// token stop here with 401, and the refusal is audited (group-committed).
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = CustosRequestContext
    let tokens: TokenService
    let audit: AuditLog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let principal: Principal
        do {
            guard let header = request.headers[.authorization]?.utf8, header.starts(with: "Bearer ".utf8) else {
                throw Problem.unauthenticated
            }
            principal = try await tokens.authenticate(bearer: header.dropFirst(7))
        } catch {
            let reason = (error as? KeystoreError)?.code ?? "unauthenticated"
            try? await audit.record(AuditEvent(time: .now, actor: "anonymous", operation: .authorization, outcome: .denied,
                                               details: ["reason": reason, "route": context.endpointPath ?? request.uri.path.prefix(200).description,
                                                         "method": request.method.rawValue]))
            throw Problem.unauthenticated
        }
        context.principal = principal
        context.logger[metadataKey: "principal"] = .string(principal.id)
        return try await next(request, context)
    }
}
