import CustosAPI
import CustosEthereum
import CustosJSON
import CustosKeystore
import Foundation
import Hummingbird

typealias Problem = CustosAPI.Problem

extension Problem {
    static let unauthenticated = Problem(status: 401, code: "unauthenticated", title: "Unauthorized",
                                         detail: "a valid bearer token is required (Authorization: Bearer <token>)")
    static let timeout = Problem(status: 503, code: "timeout", title: "Service Unavailable",
                                 detail: "the request did not complete within its deadline")
    static let tooLarge = Problem(status: 413, code: "body-too-large", title: "Content Too Large",
                                  detail: "the request body exceeds the configured limit")

    static func invalid(_ detail: String) -> Problem {
        Problem(status: 400, code: "invalid-request", title: "Bad Request", detail: detail)
    }

    /// Maps keystore errors to HTTP statuses; the code and detail come from the error,
    /// which never carries a secret.
    init(_ error: KeystoreError) {
        let code = error.code
        let status: Int = switch code {
        case "key-not-found", "tenant-not-found", "token-not-found", "version-unavailable", "certificate-not-found": 404
        case "alias-exists", "tenant-exists", "name-exists", "key-disabled", "key-destroyed", "key-usage-exhausted", "conflict": 409
        case "forbidden", "policy-refused": 403
        case "invalid-token": 401
        case "timeout", "unseal-failed", "audit-unavailable", "audit-key-unavailable", "wrapping-key-unavailable", "root-key-mismatch", "not-initialized": 503
        case "store-error", "corrupt-record", "key-material-corrupted", "crypto-failure", "schema-too-new", "already-initialized": 500
        default: 400
        }
        self.init(status: status, code: code, title: Problem.title(status), detail: error.description)
    }

    init(_ error: any Error) {
        switch error {
        case let problem as Problem: self = problem
        case let error as KeystoreError: self.init(error)
        case let error as EthereumError: self.init(KeystoreError.ethereum(error))
        case let error as JSONValueError: self = .invalid("the request body is not valid JSON: \(error)")
        case is CancellationError: self = .timeout
        case is DecodingError: self = .invalid("the request body is not valid JSON for this operation: \(Problem.describe(error))")
        case let error as HTTPError where error.status == .contentTooLarge: self = .tooLarge
        case let error as HTTPError:
            self.init(status: Int(error.status.code), code: error.status == .notFound ? "not-found" : "http-\(error.status.code)",
                      title: Problem.title(Int(error.status.code)), detail: error.body ?? Problem.title(Int(error.status.code)))
        default:
            self.init(status: 500, code: "internal", title: "Internal Server Error", detail: "an internal error occurred")
        }
    }

    static func title(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 422: "Unprocessable Content"
        case 413: "Content Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "HTTP \(status)"
        }
    }

    var summary: ProblemSummary { ProblemSummary(code: code, detail: detail) }

    /// A decoding error's path and reason, without echoing the offending value.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "malformed" }
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.reduce(into: "") { path, key in
                if let index = key.intValue { path += "[\(index)]" } else { path += (path.isEmpty ? "" : ".") + key.stringValue }
            }
            return path.isEmpty ? "body" : path
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is required"
        case .typeMismatch(_, let context): return "\(path(context)) has the wrong type"
        case .valueNotFound(_, let context): return "\(path(context)) must not be null"
        case .dataCorrupted(let context): return "\(path(context)) is malformed"
        @unknown default: return "malformed"
        }
    }

    func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        let body = (try? JSONIO.encoder.encode(self)) ?? Data()
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
