import CustosAPI
import CustosClient
import Foundation
import Testing

@Suite("API endpoints")
struct EndpointTests {
    /// Every (method, path) that `openapi.yaml` documents under /v1.
    static func documentedOperations() throws -> Set<String> {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        var operations: Set<String> = []
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path,
                      let method = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" }) {
                operations.insert("\(method.uppercased()) \(path)")
            } else if !line.hasPrefix(" "), !line.isEmpty {
                path = nil
            }
        }
        return operations
    }

    @Test func theContractAndTheEndpointsNameTheSameOperations() throws {
        let documented = try Self.documentedOperations().filter { $0.contains(" /v1/") }
        let declared = Set(Endpoint.all.map { endpoint in
            "\(endpoint.method.rawValue) /v1/" + endpoint.template.split(separator: "/").map { segment in
                segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
            }.joined(separator: "/")
        })
        #expect(documented.count >= 26)
        #expect(documented == declared, "in openapi.yaml only: \(documented.subtracting(declared)); in Endpoint only: \(declared.subtracting(documented))")
        #expect(Set(Endpoint.all).count == Endpoint.all.count)
    }

    @Test func pathParametersArePercentEncodedOneSegmentEach() {
        #expect(Endpoint.sign.parameters == ["tenant", "alias"])
        #expect(Endpoint.sign.path(tenant: "node-1", alias: "eth/0:a b") == "tenants/node-1/keys/eth%2F0%3Aa%20b/sign")
        #expect(Endpoint.revokeToken.path(["id": "0123"]) == "tokens/0123/revoke")
        #expect(Endpoint.listTenants.path() == "tenants")
        #expect(Endpoint.verifyAudit.description == "POST /v1/audit/verify")
    }

    @Test func aFieldThatIsNotBase64IsAnErrorNamingIt() throws {
        #expect(try CustosClient.bytes("AAEC", field: "signature") == [0, 1, 2])
        #expect(throws: CustosClientError.malformedResponse("the field 'signature' is not valid base64")) {
            try CustosClient.bytes("not base64!", field: "signature")
        }
        // Only the canonical spelling: "aGVsbG9=" is not read as "hello".
        #expect(throws: CustosClientError.malformedResponse("the field 'signature' is not valid base64")) {
            try CustosClient.bytes("aGVsbG9=", field: "signature")
        }
        #expect(throws: CustosClientError.malformedResponse("the field 'mac' is missing")) {
            try CustosClient.bytes(nil, field: "mac")
        }
    }

    @Test func aServerURLMustBeHTTP() {
        #expect(throws: CustosClientError.invalidServerURL("ftp://127.0.0.1")) { try CustosClient(server: "ftp://127.0.0.1", token: []) }
        #expect(throws: CustosClientError.invalidServerURL("127.0.0.1:8700")) { try CustosClient(server: "127.0.0.1:8700", token: []) }
    }

    @Test func keyResponsesUseTheSnakeCaseOfTheContract() throws {
        let key = KeyResponse(id: "k", tenant: "t", alias: "a", category: "LEDGER", scheme: "ed25519", status: "enabled", primaryVersion: 2,
                              fingerprint: nil, shortID: nil, address: nil, externalID: "x", labels: [:], protection: "soft",
                              createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0), versions: nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let json = String(decoding: try encoder.encode(key), as: UTF8.self)
        #expect(json.contains(#""primary_version":2"#) && json.contains(#""external_id":"x""#) && json.contains(#""created_at":"1970-01-01T00:00:00Z""#))
        #expect(!json.contains("fingerprint") && !json.contains("versions"))
    }
}
