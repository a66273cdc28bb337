import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

@Suite struct ConfigurationTests {
    /// SignedConfiguration bytes for an arbitrary body, signed by the fixture's operator.
    func signed(_ body: CBORValue, by key: SigningPrivateKey, cluster: [UInt8] = ClusterFixture.clusterID) -> [UInt8] {
        let bytes = body.encoded
        let signature = try! key.signature(for: SignatureTag.configuration.message(cluster: cluster, body: .bytes(bytes))).bytes
        return CBORValue.array([.bytes(bytes), .bytes(signature)]).encoded
    }

    func body(_ fixture: ClusterFixture) throws -> [CBORValue] {
        try CBOR.decode(fixture.configuration.bodyBytes).array("body")
    }

    func replaced(_ fields: [CBORValue], _ index: Int, _ value: CBORValue) -> CBORValue {
        var f = fields
        f[index] = value
        return .array(f)
    }

    func replicas(_ fields: [CBORValue]) -> [[CBORValue]] {
        try! fields[4].array("replicas").map { try $0.array("replica") }
    }

    @Test func signsAndDecodesWithDerivedFigures() async throws {
        for (n, f, q) in [(1, 0, 1), (4, 1, 3), (7, 2, 5), (10, 3, 7)] {
            let fixture = try await ClusterFixture(n: n)
            let config = fixture.configuration
            #expect(config.n == n && config.f == f && config.quorum == q)
            let decoded = try ClusterConfiguration(signedBytes: config.signedBytes)
            #expect(decoded == config)
            #expect(decoded.replicas == config.replicas)
            #expect(decoded.checkpointInterval == 4)
            #expect(decoded.genesisHash == Array(SHA256Digest.of(config.signedBytes)))
            #expect(decoded.clusterID == ClusterFixture.clusterID)
        }
    }

    @Test func acceptsAnECDSAP384Operator() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let op = try SigningPrivateKey(generating: .ecdsaP384SHA384)
        var fields = try body(fixture)
        fields[3] = .array([.text("ecdsa-p384-sha384"), .bytes(op.publicKey.rawRepresentation!)])
        let bodyBytes = CBORValue.array(fields).encoded
        let message = SignatureTag.configuration.message(cluster: ClusterFixture.clusterID, body: .bytes(bodyBytes))
        let raw = try op.signature(for: message, format: .raw).bytes
        let config = try ClusterConfiguration(signedBytes: CBORValue.array([.bytes(bodyBytes), .bytes(raw)]).encoded)
        #expect(config.operatorKey.scheme == .ecdsaP384SHA384)
        let der = try op.signature(for: message, format: .der).bytes
        #expect(throws: ClusterError.badOperatorSignature) { try ClusterConfiguration(signedBytes: CBORValue.array([.bytes(bodyBytes), .bytes(der)]).encoded) }
    }

    @Test func refusesABadOperatorSignature() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let other = try SigningPrivateKey(generating: .ed25519)
        #expect(throws: ClusterError.badOperatorSignature) { try ClusterConfiguration(signedBytes: signed(.array(try body(fixture)), by: other)) }
        // A signature over the body under another cluster id (domain separation).
        #expect(throws: ClusterError.badOperatorSignature) {
            try ClusterConfiguration(signedBytes: signed(.array(try body(fixture)), by: fixture.operatorKey, cluster: [UInt8](repeating: 0, count: 16)))
        }
        // One changed byte of the signed body.
        var outer = try CBOR.decode(fixture.configuration.signedBytes).array("outer")
        var bodyBytes = fixture.configuration.bodyBytes
        bodyBytes[bodyBytes.count - 1] ^= 1
        outer[0] = .bytes(bodyBytes)
        #expect(throws: ClusterError.badOperatorSignature) { try ClusterConfiguration(signedBytes: CBORValue.array(outer).encoded) }
        // An operator signer that signs with another key is refused when building.
        await #expect(throws: ClusterError.badOperatorSignature) {
            try await ClusterConfiguration.sign(body: fixture.configuration.body) { try other.signature(for: $0).bytes }
        }
    }

    @Test func refusesReplicaCountsOutsideOneTo256() async throws {
        let fixture = try await ClusterFixture(n: 1)
        let fields = try body(fixture)
        #expect(throws: ClusterError.replicaCountOutOfRange(0)) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 4, .array([])), by: fixture.operatorKey))
        }
        let one = try fields[4].array("replicas")[0]
        #expect(throws: ClusterError.replicaCountOutOfRange(257)) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 4, .array(Array(repeating: one, count: 257))), by: fixture.operatorKey))
        }
    }

    @Test func refusesAnIDOutOfPosition() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let fields = try body(fixture)
        var list = replicas(fields)
        list[2][0] = .unsigned(3)
        #expect(throws: ClusterError.replicaIDOutOfPosition(position: 2, id: 3)) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 4, .array(list.map { .array($0) })), by: fixture.operatorKey))
        }
    }

    @Test func refusesDuplicateAddressesKeysAndPins() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let fields = try body(fixture)
        // Copy one field of replica 1 into replica 3; for the consensus key, its proof too.
        for (columns, name) in [([1], "address"), ([3, 4], "consensus key"), ([2], "main key"), ([5], "TLS pin")] {
            var list = replicas(fields)
            for c in columns { list[3][c] = list[1][c] }
            #expect(throws: ClusterError.duplicateReplicaField(field: name, first: ReplicaID(1), second: ReplicaID(3))) {
                try ClusterConfiguration(signedBytes: signed(replaced(fields, 4, .array(list.map { .array($0) })), by: fixture.operatorKey))
            }
        }
    }

    @Test func refusesABadProofOfPossession() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let fields = try body(fixture)
        var list = replicas(fields)
        list[2][4] = list[1][4]  // replica 1's proof for replica 2's key
        #expect(throws: ClusterError.badProofOfPossession(what: "replica 2")) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 4, .array(list.map { .array($0) })), by: fixture.operatorKey))
        }
        // A signature over the key under the ordinary signing tag is not a proof of possession.
        let keys = fixture.keys(2, epoch: 0)
        list[2][4] = .bytes(keys.consensus.signature(for: keys.consensus.publicKey.compressedRepresentation).compressedRepresentation)
        #expect(throws: ClusterError.badProofOfPossession(what: "replica 2")) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 4, .array(list.map { .array($0) })), by: fixture.operatorKey))
        }
        // A consensus key that is not a valid G1 point.
        list = replicas(fields)
        list[0][3] = .bytes([0xc0] + [UInt8](repeating: 0, count: 47))  // the identity
        #expect(throws: ClusterError.invalidConsensusKey(what: "replica 0")) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 4, .array(list.map { .array($0) })), by: fixture.operatorKey))
        }
    }

    @Test func refusesAZeroIntervalAVersionAndAnOperatorScheme() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let fields = try body(fixture)
        #expect(throws: ClusterError.zeroCheckpointInterval) { try ClusterConfiguration(signedBytes: signed(replaced(fields, 2, .unsigned(0)), by: fixture.operatorKey)) }
        #expect(throws: ClusterError.unsupportedVersion(what: "configuration", version: 2)) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 0, .unsigned(2)), by: fixture.operatorKey))
        }
        let p256 = try SigningPrivateKey(generating: .ecdsaP256SHA256)
        #expect(throws: ClusterError.unsupportedOperatorScheme) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 3, .array([.text("ecdsa-p256-sha256"), .bytes(p256.publicKey.rawRepresentation!)])), by: fixture.operatorKey))
        }
        #expect(throws: ClusterError.malformed("cluster id must be 16 bytes, has 15")) {
            try ClusterConfiguration(signedBytes: signed(replaced(fields, 1, .bytes([UInt8](repeating: 1, count: 15))), by: fixture.operatorKey))
        }
    }

    @Test func refusesBadAddresses() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let fields = try body(fixture)
        for address in ["", "host", ":80", "host:", "host:0", "host:65536", "ho st:80", "host:8a", "h\u{1b}[0m:80", String(repeating: "a", count: 253) + ":80"] {
            var list = replicas(fields)
            list[1][1] = .text(address)
            let bytes = signed(replaced(fields, 4, .array(list.map { .array($0) })), by: fixture.operatorKey)
            #expect(throws: (any Error).self) { try ClusterConfiguration(signedBytes: bytes) }
        }
        #expect(ConfigurationBody.isValidAddress("[::1]:7000"))
        #expect(ConfigurationBody.isValidAddress("replica-1.example:65535"))
    }

    @Test func refusesTruncatedTrailingAndOversizedBytes() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let bytes = fixture.configuration.signedBytes
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: (any Error).self) { try ClusterConfiguration(signedBytes: Array(bytes.prefix(length))) }
        }
        #expect(throws: ClusterError.encoding(what: "signed configuration", .trailingBytes(count: 1))) { try ClusterConfiguration(signedBytes: bytes + [0]) }
        #expect(throws: ClusterError.oversized(what: "signed configuration", limit: ClusterConfiguration.maximumByteCount, actual: ClusterConfiguration.maximumByteCount + 1)) {
            try ClusterConfiguration(signedBytes: [UInt8](repeating: 0, count: ClusterConfiguration.maximumByteCount + 1))
        }
    }
}

enum SHA256Digest {
    static func of(_ bytes: [UInt8]) -> [UInt8] { DigestAlgorithm.sha256.hash(bytes) }
}
