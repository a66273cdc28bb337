import CustosJSON
import CustosKeystore
import CustosStore
import Hummingbird

/// Resolves `Authorization: Bearer <token>` to a principal. Requests without a valid
/// token stop here with 401. An address past its allowance of failures gets 429 with
/// `Retry-After`, its token unread. Refusals are audited in aggregate (`DenialAudit`),
/// so a flood of bogus tokens cannot fill the disk.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = CustosRequestContext
    let tokens: TokenService
    let audit: AuditLog
    let failures: AuthFailureLimiter
    let denials: DenialAudit

    static let tooManyFailures = Problem(status: 429, code: "too-many-requests", title: "Too Many Requests",
                                         detail: "too many failed authentications from this address; retry later")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let source = context.remoteAddress?.ipAddress ?? "unknown"
        if let wait = failures.retryAfter(source) {
            await denied(request, context: context, source: source, reason: "rate-limited")
            var response = Self.tooManyFailures.response()
            response.headers[.retryAfter] = String(wait)
            return response
        }
        let principal: Principal
        do {
            guard let header = request.headers[.authorization], let credentials = Self.bearerCredentials(header) else {
                throw Problem.unauthenticated
            }
            principal = try await tokens.authenticate(bearer: credentials)
        } catch {
            failures.failed(source)
            await denied(request, context: context, source: source, reason: (error as? KeystoreError)?.code ?? "unauthenticated")
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

    private func denied(_ request: Request, context: Context, source: String, reason: String) async {
        let route = context.endpointPath ?? TerminalText.escaped(String(request.uri.path.prefix(200)))
        if let event = denials.note(source: source, reason: reason, route: route, method: request.method.rawValue) {
            try? await audit.record(event)
        }
    }
}
