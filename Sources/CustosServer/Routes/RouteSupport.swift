import CustosAPI
import CustosCrypto
import CustosJSON
import CustosKeystore
import Foundation
import Hummingbird
import NIOCore

/// JSON in and out, with the body limit applied while reading.
struct JSONIO: Sendable {
    let maxBodyBytes: Int

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// The body's bytes, refused as `body-too-large` past the limit.
    func readBody(_ request: Request) async throws -> [UInt8] {
        Array(try await collect(request).readableBytesView)
    }

    /// The body as exact JSON (numbers as written, duplicate keys refused).
    func readJSON(_ request: Request) async throws -> JSONValue {
        do {
            return try JSONValue.parse(try await readBody(request))
        } catch let error as JSONValueError {
            throw Problem.invalid("the request body is not valid JSON: \(error)")
        }
    }

    private func collect(_ request: Request) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw Problem.tooLarge
        }
    }

    func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer = try await collect(request)
        if let readable = T.self as? any DirectlyReadable.Type,
           let value = buffer.withUnsafeReadableBytes({ readable.read(json: $0) }) as? T {
            return value
        }
        // JSONDecoder keeps one of two values for a repeated key; another parser may keep the other.
        if let duplicate = buffer.withUnsafeReadableBytes({ JSONDuplicateKeys.first(in: $0) }) {
            throw Problem.invalid("the request body has a duplicate key: \(duplicate)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw Problem.invalid("the request body is not valid JSON for this operation: \(Problem.describe(error))")
        }
    }

    /// A body already written as JSON (the signing responses write their own).
    static func response(json bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        response(json: Array(try encoder.encode(value)), status: status)
    }
}

enum Field {
    static func base64(_ text: String, _ name: String) throws -> [UInt8] {
        guard let bytes = Base64Text.decode(text) else { throw Problem.invalid("\(name) is not canonical base64 (RFC 4648, padded)") }
        return bytes
    }

    /// A path parameter, percent-decoded once (the client encodes '/' in an alias as
    /// %2F); a malformed escape is left as it is, for the name's rule to refuse.
    static func path(_ context: CustosRequestContext, _ name: String) throws -> String {
        guard let value = context.parameters.get(name) else { throw Problem.invalid("missing path parameter \(name)") }
        return value.removingPercentEncoding ?? value
    }

    /// A path parameter that is a validated name; a malformed one is refused with the
    /// rule it breaks (400 invalid-name) before anything else happens.
    static func path<Name: ValidatedName>(_ context: CustosRequestContext, _ name: String, as type: Name.Type) throws -> Name {
        try Name(validating: try path(context, name))
    }

    static func tenant(_ context: CustosRequestContext) throws -> TenantID { try path(context, "tenant", as: TenantID.self) }
    static func alias(_ context: CustosRequestContext) throws -> KeyAlias { try path(context, "alias", as: KeyAlias.self) }

    /// The optional `tenant` query parameter, validated.
    static func tenantQuery(_ request: Request) throws -> TenantID? {
        try query(request, "tenant").map { try TenantID(validating: $0) }
    }

    static func query(_ request: Request, _ name: String) -> String? {
        request.uri.queryParameters.get(name)
    }

    static func intQuery(_ request: Request, _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let raw = query(request, name) else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw Problem.invalid("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }
}

extension RouterGroup where Context == CustosRequestContext {
    /// Registers the handler of one API endpoint (`Endpoint` spells every path once).
    @discardableResult
    func on(_ endpoint: Endpoint, use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator) -> Self {
        on(RouterPath(endpoint.template), method: endpoint.method == .get ? .get : .post, use: handler)
    }
}
