import CustosAPI
import Foundation
import Testing

@testable import CustosServer

@Suite("Hostile requests")
struct HostileRequestTests {
    @Test func theBearerSchemeIsCaseInsensitive() {
        for header in ["Bearer cst_x", "bearer cst_x", "BEARER cst_x", "bEaReR   cst_x"] {
            #expect(AuthenticationMiddleware.bearerCredentials(header).map { String($0) } == "cst_x", "\(header)")
        }
        for header in ["Basic cst_x", "Bearercst_x", "Bearer", "Bearer ", "Bearer   ", "Bearerx cst_x", "cst_x", "Bear cst_x", "Bearer\tcst_x"] {
            #expect(AuthenticationMiddleware.bearerCredentials(header) == nil, "\(header)")
        }
    }

    func batch(_ json: String) throws -> BatchBody<BatchSignRequest.Item> {
        try JSONDecoder().decode(BatchBody<BatchSignRequest.Item>.self, from: Data(json.utf8))
    }

    @Test func aMalformedBatchItemFailsAlone() throws {
        let body = try batch(#"{"items":[{"alias":"k","message":"AA=="},{"alias":"k"},{"alias":5,"message":"AA=="},"x",null,{"alias":"k","message":"AA==","format":"raw"}]}"#)
        #expect(body.items.count == 6)
        #expect(try body.items[0].get().alias == "k" && body.items[5].get().format == "raw")
        for (index, expected) in [(1, "items[1].message is required"), (2, "items[2].alias has the wrong type"), (3, "items[3]"), (4, "items[4]")] {
            guard case .failure(let problem) = body.items[index] else { Issue.record("item \(index) decoded"); continue }
            #expect(problem.code == "invalid-request" && problem.detail.contains(expected), "\(problem.detail)")
        }
        // Still a batch: anything but an object with an array of items fails as a whole.
        #expect(throws: DecodingError.self) { try batch(#"{"items":"nope"}"#) }
        #expect(throws: DecodingError.self) { try batch(#"{}"#) }
        // The direct reader keeps reading the common shape.
        let fast = Array(#"{"items":[{"alias":"k","message":"AA=="}]}"#.utf8).withUnsafeBytes { BatchBody<BatchSignRequest.Item>.read(json: $0) }
        #expect(fast?.items.count == 1)
    }
}
