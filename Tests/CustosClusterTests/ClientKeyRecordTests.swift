import CustosCrypto
import Testing
@testable import CustosCluster

@Suite struct ClientKeyRecordTests {
    static let one = ClientKeyName(client: ClientID(1), epoch: 1)

    @Test(arguments: [SignatureScheme.ed25519, .ecdsaP256SHA256])
    func descriptorsAndRecordsRoundTripAndVerify(scheme: SignatureScheme) async throws {
        let fixture = try await ClusterFixture(n: 4)
        let keys0 = fixture.clientKeys(1, epoch: 0, scheme: scheme)
        let descriptor = try await fixture.clientDescriptor(1, keys: keys0)
        try descriptor.verify(cluster: fixture.cluster)
        let decoded = try ClientDescriptor(bytes: descriptor.encoded)
        #expect(decoded == descriptor && decoded.keys.name == ClientKeyName(client: ClientID(1), epoch: 0) && decoded.keySet == keys0.keySet)
        #expect(decoded.keys.signingKey.scheme == scheme && decoded.bindingSignature.count == 64)
        // Bound to the cluster: under another cluster id the binding does not verify.
        #expect(throws: ClusterError.badClientRecordSignature(decoded.keys.name)) { try decoded.verify(cluster: [UInt8](repeating: 0, count: 16)) }

        let keys1 = fixture.clientKeys(1, epoch: 1, scheme: scheme)
        let record = try await fixture.clientRecord(Self.one, keys: keys1.candidate, authority: keys0, command: 3)
        try record.verify(cluster: fixture.cluster, authorityKey: keys0.signingKey)
        let again = try ClientKeyRecord(bytes: record.bytes)
        #expect(again == record && again.name == Self.one && again.command == 3 && again.keySet == keys1.keySet)
        #expect(again.digest == SHA256Digest.of(record.bytes) && again.keys.name == Self.one)
        // The layout: [body bytes, authority signature]; body = [k, e, [scheme, key, pin, pin], binding, command].
        guard case .array(let outer) = try CBOR.decode(record.bytes), case .bytes(let body) = outer[0] else { Issue.record("layout"); return }
        #expect(try CBOR.decode(body) == .array([.unsigned(1), .unsigned(1),
                                                  .array([.text(scheme.rawValue), .bytes(keys1.signingKey.rawRepresentation), .bytes(keys1.tlsPin), .bytes(keys1.apiTLSPin)]),
                                                  .bytes(record.bindingSignature), .unsigned(3)]))
        // Authority by the wrong key (its own new key, or epoch 0 of another client).
        #expect(throws: ClusterError.badClientRecordSignature(Self.one)) { try record.verify(cluster: fixture.cluster, authorityKey: keys1.signingKey) }
        #expect(throws: ClusterError.badClientRecordSignature(Self.one)) {
            try record.verify(cluster: fixture.cluster, authorityKey: fixture.clientKeys(2, epoch: 0, scheme: scheme).signingKey)
        }
        // A binding not by the new signing key (the keys claim one key, another signs).
        let wrongBinding = keys1.carrying([.tls], from: fixture.clientKeys(1, epoch: 5))
        let mixed = ClientCandidateKeys(signingKey: keys1.signingKey, tlsPin: keys1.tlsPin, apiTLSPin: keys1.apiTLSPin, signBinding: keys0.candidate.signBinding)
        let forged = try await fixture.clientRecord(Self.one, keys: mixed, authority: keys0)
        #expect(throws: ClusterError.badClientRecordSignature(Self.one)) { try forged.verify(cluster: fixture.cluster, authorityKey: keys0.signingKey) }
        let carried = try await fixture.clientRecord(Self.one, keys: wrongBinding, authority: keys0)
        try carried.verify(cluster: fixture.cluster, authorityKey: keys0.signingKey)
        // The approval message names client, epoch and digest under its own tag.
        #expect(try CBOR.decode(ClientKeyRecord.approvalMessage(cluster: fixture.cluster, record: record))
                == .array([.text("custos/cluster/v1/client-key-approval"), .bytes(fixture.cluster), .array([.unsigned(1), .unsigned(1), .bytes(record.digest)])]))
        #expect(SignatureTag.clientKeyApproval.dst?.bytes == Array("CUSTOS-CLUSTER-V1-CLIENT-KEY-APPROVAL_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_".utf8))
    }

    @Test func signingKeysAreEd25519OrUncompressedP256() throws {
        let ed = try SigningPrivateKey(generating: .ed25519)
        let p256 = try SigningPrivateKey(generating: .ecdsaP256SHA256)
        let p384 = try SigningPrivateKey(generating: .ecdsaP384SHA384)
        let edKey = try ClientSigningKey(scheme: .ed25519, rawRepresentation: ed.publicKey.rawRepresentation!)
        let pKey = try ClientSigningKey(scheme: .ecdsaP256SHA256, rawRepresentation: p256.publicKey.rawRepresentation!)
        #expect(edKey.isValidSignature(try ed.signature(for: [1]).bytes, for: [1]))
        #expect(!edKey.isValidSignature(try ed.signature(for: [1]).bytes, for: [2]))
        #expect(pKey.isValidSignature(try p256.signature(for: [1], format: .raw).bytes, for: [1]))
        #expect(!pKey.isValidSignature(try p256.signature(for: [1], format: .der).bytes, for: [1]))
        #expect(throws: ClusterError.malformed("client signing key scheme must be ed25519 or ecdsa-p256-sha256")) {
            try ClientSigningKey(scheme: .ecdsaP384SHA384, rawRepresentation: p384.publicKey.rawRepresentation!)
        }
        #expect(throws: ClusterError.malformed("ed25519 client signing key must be 32 bytes, has 31")) {
            try ClientSigningKey(scheme: .ed25519, rawRepresentation: [UInt8](repeating: 1, count: 31))
        }
        #expect(throws: ClusterError.malformed("ecdsa-p256-sha256 client signing key must be a 65-byte uncompressed point")) {
            try ClientSigningKey(scheme: .ecdsaP256SHA256, rawRepresentation: Array(p256.publicKey.rawRepresentation!.prefix(33)))
        }
        #expect(throws: ClusterError.malformed("client signing key is not a valid ecdsa-p256-sha256 public key")) {
            try ClientSigningKey(scheme: .ecdsaP256SHA256, rawRepresentation: [4] + [UInt8](repeating: 7, count: 64))
        }
    }

    @Test func decodingRefusesMalformedRecordsAndDescriptors() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let keys = fixture.clientKeys(1, epoch: 1)
        let keySet = CBORValue.array([.text("ed25519"), .bytes(keys.signingKey.rawRepresentation), .bytes(keys.tlsPin), .bytes(keys.apiTLSPin)])
        let sig = CBORValue.bytes([UInt8](repeating: 0, count: 64))
        func record(_ body: [CBORValue], authority: CBORValue = sig) -> [UInt8] { CBORValue.array([.bytes(CBORValue.array(body).encoded), authority]).encoded }
        #expect(try ClientKeyRecord(bytes: record([.unsigned(1), .unsigned(1), keySet, sig, .unsigned(0)])).name == Self.one)
        let refusals: [([UInt8], ClusterError)] = [
            (record([.unsigned(1), .unsigned(0), keySet, sig, .unsigned(0)]), .unexpectedClientEpoch(ClientKeyName(client: ClientID(1), epoch: 0), expected: 1)),
            (record([.unsigned(1 << 32), .unsigned(1), keySet, sig, .unsigned(0)]), .clientOutOfRange(1 << 32)),
            (record([.unsigned(1), .unsigned(1), keySet, sig]), .malformed("client record body must have 5 fields, has 4")),
            (record([.unsigned(1), .unsigned(1), keySet, .bytes([1]), .unsigned(0)]), .malformed("client record binding signature must be 64 bytes, has 1")),
            (record([.unsigned(1), .unsigned(1), keySet, sig, .unsigned(0)], authority: .bytes([1])), .malformed("client record authority signature must be 64 bytes, has 1")),
            (record([.unsigned(1), .unsigned(1), .array([.text("rsa"), .bytes([]), .bytes([]), .bytes([])]), sig, .unsigned(0)]),
             .malformed("client signing scheme must be ed25519 or ecdsa-p256-sha256")),
            (record([.unsigned(1), .unsigned(1), .array([.text("ed25519"), .bytes(keys.signingKey.rawRepresentation), .bytes([1]), .bytes(keys.apiTLSPin)]), sig, .unsigned(0)]),
             .malformed("client TLS pin must be 32 bytes, has 1")),
            (record([.unsigned(1), .unsigned(1), .array([.text("ed25519"), .bytes(keys.signingKey.rawRepresentation), .bytes(keys.tlsPin)]), sig, .unsigned(0)]),
             .malformed("client key set must have 4 fields, has 3")),
            ([UInt8](repeating: 0, count: 1025), .oversized(what: "client record", limit: 1024, actual: 1025)),
        ]
        for (bytes, error) in refusals {
            #expect(throws: error) { try ClientKeyRecord(bytes: bytes) }
        }
        let descriptor = try await fixture.clientDescriptor(1)
        for length in 0..<descriptor.encoded.count {
            #expect(throws: (any Error).self) { try ClientDescriptor(bytes: Array(descriptor.encoded.prefix(length))) }
        }
        #expect(throws: ClusterError.oversized(what: "client descriptor", limit: 512, actual: 513)) { try ClientDescriptor(bytes: [UInt8](repeating: 0, count: 513)) }
        #expect(throws: ClusterError.malformed("client descriptor must have 3 fields, has 2")) {
            try ClientDescriptor(bytes: CBORValue.array([.unsigned(1), keySet]).encoded)
        }
    }
}
