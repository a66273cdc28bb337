import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

@Suite struct OperatorCommandTests {
    func actions(_ fixture: ClusterFixture) async throws -> [OperatorCommand.Action] {
        [
            .rotateReplicaKeys(targets: nil, kinds: .all),
            .rotateReplicaKeys(targets: [ReplicaID(0), ReplicaID(3)], kinds: [.main, .tls]),
            .rotateClientKeys(targets: nil, kinds: .signing),
            .rotateClientKeys(targets: [ClientID(1), ClientID(70000)], kinds: .all),
            .addClient(try await fixture.clientDescriptor(5)),
            .removeClient(ClientID(5)),
            .replaceReplica(fixture.replacement(2, generation: 1)),
            try fixture.operatorKeyAction(9, newKey: try SigningPrivateKey(generating: .ecdsaP384SHA384)),
        ]
    }

    @Test func everyActionRoundTripsByteExact() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let names = ["rotate-replica-keys", "rotate-replica-keys", "rotate-client-keys", "rotate-client-keys", "add-client",
                     "remove-client", "replace-replica", "rotate-operator-key"]
        for (action, name) in zip(try await actions(fixture), names) {
            let command = try await fixture.command(9, action)
            let decoded = try OperatorCommand(bytes: command.bytes)
            #expect(decoded.action == action && decoded.action.name == name)
            #expect(decoded.number == 9 && decoded.expiresAt == ClusterFixture.now + 3600 && decoded.clusterID == fixture.cluster)
            #expect(decoded.bytes == command.bytes && decoded.digest == SHA256Digest.of(command.bytes))
            #expect(decoded.action.isRotation == (name == "rotate-replica-keys" || name == "rotate-client-keys"))
            try decoded.verify(operatorKey: fixture.configuration.operatorKey)
        }
        // The exact layout: [1, cluster id, c, expires at, [3, k]] inside [body, signature].
        let remove = try await fixture.command(7, .removeClient(ClientID(5)), expiresAt: 1000)
        let outer = try CBOR.decode(remove.bytes)
        guard case .array(let parts) = outer, parts.count == 2, case .bytes(let body) = parts[0] else { Issue.record("layout"); return }
        #expect(try CBOR.decode(body) == .array([.unsigned(1), .bytes(fixture.cluster), .unsigned(7), .unsigned(1000),
                                                  .array([.unsigned(3), .unsigned(5)])]))
        #expect(Hex.encode(body) == "8501" + "50101112131415161718191a1b1c1d1e1f" + "07" + "1903e8" + "820305")
        let rotate = try await fixture.command(2, .rotateReplicaKeys(targets: nil, kinds: [.consensus, .tls]), expiresAt: 1)
        #expect(Array(rotate.bodyBytes.suffix(4)) == [0x83, 0x00, 0xf6, 0x05])
    }

    @Test func decodingRefusesEveryMalformedField() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let good = try await fixture.command(3, .removeClient(ClientID(1)))
        let signature = CBORValue.bytes(good.operatorSignature)
        func signed(_ body: [CBORValue]) -> [UInt8] { CBORValue.array([.bytes(CBORValue.array(body).encoded), signature]).encoded }
        func body(_ action: CBORValue, version: UInt64 = 1, cluster: [UInt8] = ClusterFixture.clusterID, number: UInt64 = 3) -> [UInt8] {
            signed([.unsigned(version), .bytes(cluster), .unsigned(number), .unsigned(100), action])
        }
        let remove = CBORValue.array([.unsigned(3), .unsigned(1)])
        #expect(try OperatorCommand(bytes: body(remove)).action == .removeClient(ClientID(1)))
        #expect(throws: ClusterError.unsupportedVersion(what: "command", version: 2)) { try OperatorCommand(bytes: body(remove, version: 2)) }
        #expect(throws: ClusterError.malformed("command number must be at least 1")) { try OperatorCommand(bytes: body(remove, number: 0)) }
        #expect(throws: ClusterError.malformed("command cluster id must be 16 bytes, has 15")) {
            try OperatorCommand(bytes: body(remove, cluster: Array(ClusterFixture.clusterID.prefix(15))))
        }
        func targets(_ ids: [UInt64]) -> CBORValue { .array([.unsigned(0), .array(ids.map { .unsigned($0) }), .unsigned(1)]) }
        let refusals: [(CBORValue, ClusterError)] = [
            (targets([]), .malformed("command targets must list 1 to 256 ids, lists 0")),
            (targets(Array(0...256)), .malformed("command targets must list 1 to 256 ids, lists 257")),
            (targets([2, 1]), .malformed("command targets must be ascending and distinct")),
            (targets([1, 1]), .malformed("command targets must be ascending and distinct")),
            (targets([65536]), .malformed("command target 65536 is beyond the id range")),
            (.array([.unsigned(1), .array([.unsigned(1 << 32)]), .unsigned(1)]), .malformed("command target 4294967296 is beyond the id range")),
            (.array([.unsigned(0), .null, .unsigned(0)]), .malformed("replica key kinds must be nonzero and name only consensus, main, tls")),
            (.array([.unsigned(0), .null, .unsigned(8)]), .malformed("replica key kinds must be nonzero and name only consensus, main, tls")),
            (.array([.unsigned(1), .null, .unsigned(0)]), .malformed("client key kinds must be nonzero and name only signing, tls, api-tls")),
            (.array([.unsigned(1), .null, .unsigned(15)]), .malformed("client key kinds must be nonzero and name only signing, tls, api-tls")),
            (.array([.unsigned(6), .unsigned(1)]), .malformed("unknown command action 6")),
            (.array([.unsigned(3)]), .malformed("command action 3 must have 2 fields, has 1")),
            (.array([.unsigned(0), .null]), .malformed("command action 0 must have 3 fields, has 2")),
            (.array([]), .malformed("command action is empty")),
            (.array([.unsigned(3), .unsigned(1 << 32)]), .clientOutOfRange(1 << 32)),
            (.array([.unsigned(0), .unsigned(1), .unsigned(1)]), .malformed("command targets must be an array")),
            (.array([.unsigned(5), .array([.text("ecdsa-p256-sha256"), .bytes([4] + [UInt8](repeating: 1, count: 64))]), .bytes([])]),
             .unsupportedOperatorScheme),
            (.array([.unsigned(5), .array([.text("ed25519"), .bytes([1, 2])]), .bytes([])]), .invalidOperatorKey),
        ]
        for (action, error) in refusals {
            #expect(throws: error) { try OperatorCommand(bytes: body(action)) }
        }
        // A replacement whose consensus key or proof of possession is not a point.
        let r = fixture.replacement(1, generation: 1)
        var fields: [CBORValue] = [.unsigned(1), .text(r.address), .bytes(r.mainKey), .bytes([UInt8](repeating: 0, count: 48)),
                                   .bytes(r.proofOfPossession.compressedRepresentation), .bytes(r.tlsPin)]
        #expect(throws: ClusterError.invalidConsensusKey(what: "replacement replica 1")) { try OperatorCommand(bytes: body(.array([.unsigned(4), .array(fields)]))) }
        fields[3] = .bytes(r.consensusKey.compressedRepresentation)
        fields[4] = .bytes([UInt8](repeating: 0, count: 96))
        #expect(throws: ClusterError.badProofOfPossession(what: "replacement replica 1")) { try OperatorCommand(bytes: body(.array([.unsigned(4), .array(fields)]))) }
        // Shapes of the outer array, the signature and the size limit.
        #expect(throws: ClusterError.oversized(what: "command operator signature", limit: 96, actual: 97)) {
            try OperatorCommand(bytes: CBORValue.array([.bytes(CBORValue.array([]).encoded), .bytes([UInt8](repeating: 0, count: 97))]).encoded)
        }
        #expect(throws: ClusterError.oversized(what: "command", limit: 4096, actual: 4097)) { try OperatorCommand(bytes: [UInt8](repeating: 0, count: 4097)) }
        #expect(throws: ClusterError.malformed("command must have 2 fields, has 1")) { try OperatorCommand(bytes: CBORValue.array([.bytes([])]).encoded) }
        for length in 0..<good.bytes.count {
            #expect(throws: (any Error).self) { try OperatorCommand(bytes: Array(good.bytes.prefix(length))) }
        }
    }

    @Test func theOperatorSignatureCoversEveryByteUnderTheKeyAndCluster() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let command = try await fixture.command(4, .rotateReplicaKeys(targets: [ReplicaID(1)], kinds: .main))
        try command.verify(operatorKey: fixture.configuration.operatorKey)
        // Another operator key.
        let other = try await ClusterFixture(n: 4, seed: 9)
        #expect(throws: ClusterError.badCommandSignature) { try command.verify(operatorKey: other.configuration.operatorKey) }
        // The body altered after signing (expiry pushed), signature kept.
        let altered = try await fixture.command(4, .rotateReplicaKeys(targets: [ReplicaID(1)], kinds: .main), expiresAt: ClusterFixture.now + 7200)
        let spliced = try OperatorCommand(bytes: CBORValue.array([.bytes(altered.bodyBytes), .bytes(command.operatorSignature)]).encoded)
        #expect(throws: ClusterError.badCommandSignature) { try spliced.verify(operatorKey: fixture.configuration.operatorKey) }
        // An ECDSA P-384 operator signs raw r‖s; DER is refused.
        let p384 = try SigningPrivateKey(generating: .ecdsaP384SHA384)
        let key = try OperatorKey(scheme: .ecdsaP384SHA384, rawRepresentation: p384.publicKey.rawRepresentation!)
        let byP384 = try await fixture.command(5, .removeClient(ClientID(2)), signer: p384)
        #expect(byP384.operatorSignature.count == 96)
        try byP384.verify(operatorKey: key)
        // A DER signature (over 96 bytes) does not even decode; a 96-byte one by another key does not verify.
        await #expect(throws: (any Error).self) {
            try await OperatorCommand.sign(cluster: fixture.cluster, number: 5, expiresAt: 1, action: .removeClient(ClientID(2))) {
                try p384.signature(for: $0, format: .der).bytes
            }
        }
        let otherP384 = try SigningPrivateKey(generating: .ecdsaP384SHA384)
        let byOther = try await fixture.command(5, .removeClient(ClientID(2)), signer: otherP384)
        #expect(throws: ClusterError.badCommandSignature) { try byOther.verify(operatorKey: key) }
        // The approval and operator-key binding messages are domain-separated and bind number and digest.
        let approval = OperatorCommand.approvalMessage(cluster: fixture.cluster, command: command)
        #expect(try CBOR.decode(approval) == .array([.text("custos/cluster/v1/command-approval"), .bytes(fixture.cluster),
                                                      .array([.unsigned(4), .bytes(command.digest)])]))
        let binding = OperatorCommand.operatorKeyBindingMessage(cluster: fixture.cluster, number: 4, key: key)
        #expect(try CBOR.decode(binding) == .array([.text("custos/cluster/v1/operator-key-binding"), .bytes(fixture.cluster),
                                                     .array([.unsigned(4), .array([.text("ecdsa-p384-sha384"), .bytes(key.rawRepresentation)])])]))
        #expect(OperatorCommand.signedMessage(cluster: fixture.cluster, bodyBytes: command.bodyBytes)
                == SignatureTag.command.message(cluster: fixture.cluster, body: .bytes(command.bodyBytes)))
    }

    @Test func expiryAllowsTheClockSkewAndAtMostThirtyOneDays() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let at: UInt64 = 2_000_000_000
        let command = try await fixture.command(1, .removeClient(ClientID(1)), expiresAt: at)
        try command.checkExpiry(now: at)
        try command.checkExpiry(now: at + 120)
        #expect(throws: ClusterError.commandExpired(number: 1, expiresAt: at, now: at + 121)) { try command.checkExpiry(now: at + 121) }
        try command.checkExpiry(now: at - 31 * 86400 - 120)
        #expect(throws: ClusterError.commandExpiryTooFar(number: 1, expiresAt: at, now: at - 31 * 86400 - 121)) {
            try command.checkExpiry(now: at - 31 * 86400 - 121)
        }
        #expect(ClusterError.commandExpired(number: 1, expiresAt: at, now: at + 121).description.hasPrefix("command 1 expired at 2000000000"))
        // Extreme values neither trap nor pass wrongly.
        let never = try await fixture.command(1, .removeClient(ClientID(1)), expiresAt: .max)
        #expect(throws: ClusterError.commandExpiryTooFar(number: 1, expiresAt: .max, now: 0)) { try never.checkExpiry(now: 0) }
        try never.checkExpiry(now: .max - 10)
        let zero = try await fixture.command(1, .removeClient(ClientID(1)), expiresAt: 0)
        #expect(throws: ClusterError.commandExpired(number: 1, expiresAt: 0, now: .max)) { try zero.checkExpiry(now: .max) }
    }

    @Test func kindsHaveNamesAndRefuseUnknownBits() {
        #expect(ReplicaKeyKinds.all.rawValue == 7 && ClientKeyKinds.all.rawValue == 7)
        #expect(ReplicaKeyKinds(names: ["tls", "consensus"]) == [.consensus, .tls])
        #expect(ReplicaKeyKinds([.consensus, .tls]).names == ["consensus", "tls"])
        #expect(ClientKeyKinds(names: ["api-tls"]) == .apiTLS && ClientKeyKinds.all.names == ["signing", "tls", "api-tls"])
        #expect(ReplicaKeyKinds(names: ["signing"]) == nil && ClientKeyKinds(names: []) == nil && ClientKeyKinds(names: ["main"]) == nil)
        #expect(ReplicaKeyKinds(validating: 0) == nil && ReplicaKeyKinds(validating: 9) == nil && ReplicaKeyKinds(validating: 5) == [.consensus, .tls])
        #expect(ClientKeyKinds(validating: 8) == nil && ClientKeyKinds(validating: 2) == .tls)
        #expect(ClientID(3).description == "client 3" && ClientKeyName(client: ClientID(3), epoch: 2).description == "(client 3, e2)")
        #expect(NodeRef.replica(ReplicaID(9)) < NodeRef.client(ClientID(0)) && NodeRef.client(ClientID(1)).description == "client 1")
        #expect(ScheduledKind(name: "client-record") == .clientRecord && ScheduledKind.command.name == "command" && ScheduledKind(name: "x") == nil)
    }
}
