import CustosKeystore
import Hummingbird
import Logging

/// Turns every error into an `application/problem+json` response with a stable code.
/// Unexpected errors are logged (type only) and answered 500 without detail.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = CustosRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Problem(error)
            if problem.status >= 500 {
                context.logger.error("request failed", metadata: ["code": "\(problem.code)", "error.type": "\(type(of: error))",
                                                                  "path": "\(context.endpointPath ?? "")"])
            }
            return problem.response()
        }
    }
}
