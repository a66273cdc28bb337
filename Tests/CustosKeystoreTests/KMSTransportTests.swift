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

    @Test func theRootKeyIsSplicedIntoAndReadFromTheBodyAsBytes() throws {
        let key = SecretBytes((0..<32).map { UInt8($0 * 7 & 0xff) })
        let body = try KMSSecretBody.json(["KeyId": "alias/k", "EncryptionContext": ["custos-binding": "ab"]], plaintext: key)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(object["KeyId"] as? String == "alias/k")
        #expect((object["Plaintext"] as? String).flatMap { Data(base64Encoded: $0) } == Data(key.copyBytes()))
        #expect(KMSSecretBody.plaintext(in: body)?.isEqual(to: key) == true)
        // What KMS answers, spaced or with "/" escaped, is read the same way.
        let encoded = Data(key.copyBytes()).base64EncodedString()
        for answer in ["{\"KeyId\":\"k\",\"Plaintext\":\"\(encoded)\"}",
                       "{ \"Plaintext\" :\n \"\(encoded.replacingOccurrences(of: "/", with: "\\/"))\" }"] {
            #expect(KMSSecretBody.plaintext(in: Array(answer.utf8))?.isEqual(to: key) == true)
        }
        for broken in ["{}", "{\"Plaintext\":12}", "{\"Plaintext\":\"not base64!\"}", "{\"Plaintext\":\"AAAA", "\"Plaintext\""] {
            #expect(KMSSecretBody.plaintext(in: Array(broken.utf8)) == nil)
        }
        #expect(throws: KeystoreError.self) { _ = try KMSSecretBody.json(["Z": "after"], plaintext: key) }
    }
}
