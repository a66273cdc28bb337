import CustosJSON
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
            guard let header = request.headers[.authorization], let credentials = Self.bearerCredentials(header) else {
                throw Problem.unauthenticated
            }
            principal = try await tokens.authenticate(bearer: credentials)
        } catch {
            let reason = (error as? KeystoreError)?.code ?? "unauthenticated"
            try? await audit.record(AuditEvent(time: .now, actor: "anonymous", operation: .authorization, outcome: .denied,
                                               details: ["reason": reason, "route": context.endpointPath ?? TerminalText.escaped(String(request.uri.path.prefix(200))),
                                                         "method": request.method.rawValue]))
            throw Problem.unauthenticated
        }
        context.principal = principal
        context.logger[metadataKey: "principal"] = .string(principal.id)
        return try await next(request, context)
    }

    /// The credentials of `Bearer <token>`; the scheme name is case-insensitive and
    /// followed by one or more spaces (RFC 9110 §11.4).
    static func bearerCredentials(_ header: String) -> Substring.UTF8View? {
        let bytes = header.utf8
        let scheme = "bearer".utf8
        guard bytes.count > scheme.count,
              zip(bytes, scheme).allSatisfy({ header, expected in header | 0x20 == expected }) else { return nil }
        let rest = Substring(header).utf8.dropFirst(scheme.count)
        guard rest.first == UInt8(ascii: " ") else { return nil }
        let credentials = rest.drop(while: { $0 == UInt8(ascii: " ") })
        return credentials.isEmpty ? nil : credentials
    }
}
