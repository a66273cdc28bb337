import CustosAPI
import Foundation
import Testing

/// The signing responses write their own JSON; it must decode to the same values the
/// Codable conformance reads, with nil fields omitted as `JSONEncoder` omits them.
@Suite("Signing response JSON")
struct SigningResponseTests {
    let single = SignResponse(signature: "q+/w==", keyID: "0f5c\"id", alias: "node/1\n", version: 3, scheme: "ed25519", format: nil)
    let withFormat = SignResponse(signature: "AAAA", keyID: "k", alias: "é😀", version: 1, scheme: "ecdsa-p256-sha256", format: "der")

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func singleResponseDecodesToTheSameValues() throws {
        for response in [single, withFormat] {
            let decoded = try JSONDecoder().decode(SignResponse.self, from: Data(response.jsonBytes))
            #expect(decoded.signature == response.signature && decoded.keyID == response.keyID && decoded.alias == response.alias)
            #expect(decoded.version == response.version && decoded.scheme == response.scheme && decoded.format == response.format)
            let viaCodable = try object(Array(try JSONEncoder().encode(response)))
            let viaText = try object(response.jsonBytes)
            #expect(NSDictionary(dictionary: viaCodable).isEqual(to: viaText))
        }
        #expect(try object(single.jsonBytes)["format"] == nil)
        // Base64 keeps its slashes, as the API's encoder writes them.
        #expect(String(decoding: single.jsonBytes, as: UTF8.self).contains("\"q+/w==\""))
    }

    @Test func batchResponseMatchesTheCodableEncoding() throws {
        let batch = BatchResponse(results: [
            BatchItemResult(index: 0, result: single, error: nil),
            BatchItemResult(index: 1, result: nil, error: ProblemSummary(code: "key-not-found", detail: "no key \"x/y\"")),
            BatchItemResult(index: 2, result: withFormat, error: nil),
        ])
        let viaCodable = try object(Array(try JSONEncoder().encode(batch)))
        let viaText = try object(batch.jsonBytes)
        #expect(NSDictionary(dictionary: viaCodable).isEqual(to: viaText))
        #expect(viaText["succeeded"] as? Int == 2 && viaText["failed"] as? Int == 1)
        let decoded = try JSONDecoder().decode(BatchResponse<SignResponse>.self, from: Data(batch.jsonBytes))
        #expect(decoded.results.map(\.index) == [0, 1, 2] && decoded.results[1].error?.code == "key-not-found")
    }

    @Test func emptyBatch() throws {
        let empty = BatchResponse<SignResponse>(results: [])
        #expect(String(decoding: empty.jsonBytes, as: UTF8.self) == #"{"results":[],"succeeded":0,"failed":0}"#)
    }
}
