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

/// Bounds each request's time. The handler is cancelled at the deadline and the
/// client gets 503 `timeout`.
struct TimeoutMiddleware: RouterMiddleware {
    typealias Context = CustosRequestContext
    let timeout: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let timeout = self.timeout
        // The task group waits for both children before returning, so `next` does not
        // outlive this call even though a child task runs it.
        return try await withoutActuallyEscaping(next) { next in
            let handler = UncheckedSendable(next)
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask { try await handler.value(request, context) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else { throw Problem.timeout }
                return response
            }
        }
    }
}

/// Carries a non-Sendable value into a child task whose lifetime is bounded by the
/// caller (a task group awaited before returning).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
