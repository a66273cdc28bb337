import CustosAPI
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What went wrong talking to a Custos server.
public enum CustosClientError: Error, Equatable, CustomStringConvertible {
    /// The server answered with a problem (RFC 9457): its HTTP status, stable code and detail.
    case problem(status: Int, code: String, detail: String)
    case invalidServerURL(String)
    case unreachable(server: String, reason: String)
    /// The answer was not what the API promises; names the operation and the field.
    case malformedResponse(String)

    public var description: String {
        switch self {
        case .problem(let status, let code, let detail): "\(detail) (\(code), HTTP \(status))"
        case .invalidServerURL(let server): "--server must be an http:// or https:// URL, got '\(server.prefix(100))'"
        case .unreachable(let server, let reason): "cannot reach the Custos server at \(server): \(reason)"
        case .malformedResponse(let what): "unexpected response from the server: \(what)"
        }
    }
}

/// A client of the Custos HTTP API (`openapi.yaml`): request and response bodies are
/// the `CustosAPI` wire types, paths come from `Endpoint`.
public struct CustosClient: Sendable {
    public let base: URL
    /// The bearer token; it goes only into the Authorization header.
    let token: [UInt8]
    let session: URLSession

    public init(server: String, token: [UInt8], timeout: TimeInterval = 120) throws {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        try self.init(server: server, token: token, configuration: configuration)
    }

    /// With a session configuration of the caller's (tests register a URLProtocol in it).
    init(server: String, token: [UInt8], configuration: URLSessionConfiguration) throws {
        guard let url = URL(string: server), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw CustosClientError.invalidServerURL(server)
        }
        self.base = url
        self.token = token
        self.session = URLSession(configuration: configuration)
    }

    private static let encoder: JSONEncoder = { let e = JSONEncoder(); e.dateEncodingStrategy = .iso8601; return e }()
    private static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }()

    /// Calls `endpoint` with its path parameters, query and body; decodes the answer.
    public func call<Response: Decodable>(_ endpoint: Endpoint, _ parameters: [String: String] = [:], query: [String: String?] = [:],
                                          body: (some Encodable)? = Optional<CreateTenantRequest>.none,
                                          as: Response.Type = Response.self) async throws -> Response {
        let data = try await callRaw(endpoint, parameters, query: query, body: try body.map { Array(try Self.encoder.encode($0)) })
        let request = "\(endpoint.method.rawValue) /v1/\(endpoint.path(parameters))"
        if let duplicate = data.withUnsafeBytes({ JSONDuplicateKeys.first(in: $0) }) {
            throw CustosClientError.malformedResponse("\(request): the field '\(duplicate)' appears twice")
        }
        do {
            return try Self.decoder.decode(Response.self, from: Data(data))
        } catch {
            throw CustosClientError.malformedResponse("\(request): \(Self.describe(error))")
        }
    }

    /// Calls `endpoint` with a body already written as JSON; returns the answer's bytes
    /// (a problem answer is thrown as `CustosClientError.problem`).
    public func callRaw(_ endpoint: Endpoint, _ parameters: [String: String] = [:], query: [String: String?] = [:],
                        body: [UInt8]?) async throws -> [UInt8] {
        var root = base.absoluteString
        while root.hasSuffix("/") { root.removeLast() }
        let path = endpoint.path(parameters)
        guard var components = URLComponents(string: root + "/v1/" + path) else {
            throw CustosClientError.invalidServerURL(base.absoluteString)
        }
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        if !items.isEmpty { components.queryItems = items.sorted { $0.name < $1.name } }
        guard let url = components.url else { throw CustosClientError.invalidServerURL(base.absoluteString) }
        var request = URLRequest(url: url)
        request.httpMethod = endpoint.method.rawValue
        request.setValue("Bearer " + String(decoding: token, as: UTF8.self), forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw CustosClientError.unreachable(server: base.absoluteString, reason: error.localizedDescription)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            if let problem = try? Self.decoder.decode(Problem.self, from: data) {
                throw CustosClientError.problem(status: status, code: problem.code, detail: problem.detail)
            }
            throw CustosClientError.problem(status: status, code: "http-\(status)", detail: "the server answered HTTP \(status)")
        }
        return Array(data)
    }

    /// Bytes of a base64 field of an answer; a value that is not base64 is an error
    /// naming the field, never empty bytes.
    public static func bytes(_ base64: String?, field: String) throws -> [UInt8] {
        guard let base64 else { throw CustosClientError.malformedResponse("the field '\(field)' is missing") }
        guard let bytes = Base64Text.decode(base64) else {
            throw CustosClientError.malformedResponse("the field '\(field)' is not valid base64")
        }
        return bytes
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): "the field '\(key.stringValue)' is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            "the field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type or value"
        default: "the body is not valid JSON"
        }
    }

    public func close() {
        session.finishTasksAndInvalidate()
    }
}
