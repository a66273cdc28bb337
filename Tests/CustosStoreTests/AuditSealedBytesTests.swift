import CustosStore
import Foundation
import Testing

/// The sealed form of a record is a storage format: chains written earlier must keep
/// verifying. These bytes were produced from the format's description (Python), not
/// by this code.
@Suite("Audit record sealed bytes")
struct AuditSealedBytesTests {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func everyFieldPresent() {
        let record = AuditRecord(sequence: 42, timeMicros: 1_763_700_000_123_456, actor: "token:0123456789abcdef", tenantID: "acme",
                                 operation: "sign", keyID: "5f0c-key", keyVersion: 3, outcome: "success",
                                 details: #"{"message_hmac":"ab","scheme":"ed25519"}"#, previousHash: Array(0..<32), hash: [])
        #expect(hex(record.sealedBytes) == "637573746f732e61756469742e763100000008000000000000002a000000080006441367ff6a4000000016746f6b656e3a30313233343536373839616263646566010000000461636d65000000047369676e0100000008356630632d6b65790100000001330000000773756363657373000000287b226d6573736167655f686d6163223a226162222c22736368656d65223a2265643235353139227d00000020000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    }

    @Test func optionalFieldsAbsentAndNonASCII() {
        let record = AuditRecord(sequence: 1, timeMicros: -5, actor: "ü", tenantID: nil, operation: "unseal", keyID: nil,
                                 keyVersion: nil, outcome: "failure", details: "{}", previousHash: [], hash: [])
        #expect(hex(record.sealedBytes) == "637573746f732e61756469742e763100000008000000000000000100000008fffffffffffffffb00000002c3bc0000000006756e7365616c0000000000076661696c757265000000027b7d00000000")
    }
}
