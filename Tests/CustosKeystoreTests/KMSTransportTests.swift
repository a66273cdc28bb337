import CustosCrypto
import Foundation
import Testing

@testable import CustosKeystore

/// The KMS root's transport: the root key crosses the network only over https.
@Suite("KMS endpoint transport")
struct KMSTransportTests {
    @Test func aKMSEndpointMustBeHTTPSUnlessALoopbackTestSettingAllowsIt() throws {
        let allow = ["CUSTOS_KMS_ALLOW_HTTP": "1"]
        func check(_ endpoint: String, _ environment: [String: String]) throws {
            try KMSConfiguration(endpoint: endpoint, region: "us-east-1", keyID: "k").validate(environment: environment)
        }
        #expect(throws: Never.self) { try check("https://kms.us-east-1.amazonaws.com", [:]) }
        #expect(throws: Never.self) { try check("http://127.0.0.1:4566", allow) }
        #expect(throws: KeystoreError.self) { try check("http://127.0.0.1:4566", [:]) }
        #expect(throws: KeystoreError.self) { try check("http://127.0.0.1:4566", ["CUSTOS_KMS_ALLOW_HTTP": "yes"]) }
        #expect(throws: KeystoreError.self) { try check("http://kms.example.com", allow) }
        #expect(throws: KeystoreError.self) { try check("ftp://127.0.0.1", allow) }
    }
}
