@testable import CustosClient
import CustosAPI
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// Answers every request with the status and body queued for it, and keeps the request.
final class CannedServer: URLProtocol, @unchecked Sendable {
    struct Answer { var status: Int; var body: String }
    static let answers = Mutex<[Answer]>([])
    static let requests = Mutex<[URLRequest]>([])

    override class func canInit(with request: URLRequest) -> Bool { true }
    override class func canonicalRequest(for request: URLRequest) -> URLRequest { request }

    override func startLoading() {
        Self.requests.withLock { $0.append(request) }
        let answer = Self.answers.withLock { $0.isEmpty ? Answer(status: 500, body: "") : $0.removeFirst() }
        let response = HTTPURLResponse(url: request.url!, statusCode: answer.status, httpVersion: "HTTP/1.1",
                                       headerFields: ["Content-Type": "application/json"])!
        client?.urlProtocol(self, didReceive: response, cacheStoragePolicy: .notAllowed)
        client?.urlProtocol(self, didLoad: Data(answer.body.utf8))
        client?.urlProtocolDidFinishLoading(self)
    }

    override func stopLoading() {}
}

/// What a client makes of a server that answers badly: an error naming the field or the
/// problem, never a default value.
@Suite("Client and bad answers", .serialized)
struct ClientResponseTests {
    func client(answering answers: [CannedServer.Answer]) throws -> CustosClient {
        CannedServer.answers.withLock { $0 = answers }
        CannedServer.requests.withLock { $0 = [] }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [CannedServer.self]
        return try CustosClient(server: "http://127.0.0.1:8700/", token: Array("cst_test".utf8), configuration: configuration)
    }

    let signed = #"{"signature":"AAEC","key_id":"k1","alias":"eth/0","version":2,"scheme":"ed25519"}"#

    @Test func aGoodAnswerDecodesAndTheRequestIsWhatTheEndpointSays() async throws {
        let client = try client(answering: [.init(status: 200, body: signed)])
        let response = try await client.sign(tenant: "node-1", alias: "eth/0", SignRequest(message: "AA=="))
        #expect(response.keyID == "k1" && response.version == 2)
        #expect(try CustosClient.bytes(response.signature, field: "signature") == [0, 1, 2])
        let request = try #require(CannedServer.requests.withLock { $0.first })
        #expect(request.httpMethod == "POST")
        #expect(request.url?.absoluteString == "http://127.0.0.1:8700/v1/tenants/node-1/keys/eth%2F0/sign")
        #expect(request.value(forHTTPHeaderField: "Authorization") == "Bearer cst_test")
    }

    @Test func aMissingOrMistypedFieldIsNamed() async throws {
        let missing = try client(answering: [.init(status: 200, body: #"{"signature":"AAEC","alias":"a","version":1,"scheme":"ed25519"}"#)])
        await #expect(throws: CustosClientError.malformedResponse("POST /v1/tenants/t/keys/a/sign: the field 'key_id' is missing")) {
            _ = try await missing.sign(tenant: "t", alias: "a", SignRequest(message: "AA=="))
        }
        let mistyped = try client(answering: [.init(status: 200, body: #"{"signature":"AAEC","key_id":"k","alias":"a","version":"two","scheme":"ed25519"}"#)])
        await #expect(throws: CustosClientError.malformedResponse("POST /v1/tenants/t/keys/a/sign: the field 'version' has the wrong type or value")) {
            _ = try await mistyped.sign(tenant: "t", alias: "a", SignRequest(message: "AA=="))
        }
        // A field given twice could be read either way: the answer is refused.
        let repeated = try client(answering: [.init(status: 200, body: #"{"signature":"AAEC","key_id":"k","alias":"a","version":1,"version":2,"scheme":"ed25519"}"#)])
        await #expect(throws: CustosClientError.malformedResponse("POST /v1/tenants/t/keys/a/sign: the field 'version' appears twice")) {
            _ = try await repeated.sign(tenant: "t", alias: "a", SignRequest(message: "AA=="))
        }
        let notJSON = try client(answering: [.init(status: 200, body: "<html>")])
        await #expect(throws: CustosClientError.self) { _ = try await notJSON.tenants() }
    }

    @Test func problemsKeepTheirCodeAndOtherFailuresTheirStatus() async throws {
        let problem = try client(answering: [.init(status: 404, body: #"{"type":"t","title":"Not Found","status":404,"code":"key-not-found","detail":"tenant 't' has no key 'a'"}"#)])
        await #expect(throws: CustosClientError.problem(status: 404, code: "key-not-found", detail: "tenant 't' has no key 'a'")) {
            _ = try await problem.key(tenant: "t", alias: "a")
        }
        let bare = try client(answering: [.init(status: 502, body: "bad gateway")])
        await #expect(throws: CustosClientError.problem(status: 502, code: "http-502", detail: "the server answered HTTP 502")) {
            _ = try await bare.key(tenant: "t", alias: "a")
        }
    }

    @Test func auditPagesAreFollowedUpToTheLimit() async throws {
        func record(_ sequence: Int) -> String {
            #"{"sequence":\#(sequence),"time":"2026-12-01T00:00:00Z","actor":"cli","operation":"sign","outcome":"success","details":{},"previous_hash":"00","hash":"11"}"#
        }
        let client = try client(answering: [
            .init(status: 200, body: #"{"records":[\#(record(1)),\#(record(2))],"next":2}"#),
            .init(status: 200, body: #"{"records":[\#(record(3))]}"#),
        ])
        let records = try await client.auditRecords(limit: 10, tenant: "t")
        #expect(records.map(\.sequence) == [1, 2, 3])
        let queries = CannedServer.requests.withLock { $0.map { $0.url?.query ?? "" } }
        #expect(queries == ["after=0&limit=10&tenant=t", "after=2&limit=8&tenant=t"])
    }
}
