import CustosCrypto
import Testing
@testable import CustosCluster

extension MutationTests {
    /// Seeded mutations of signed commands (every action) and client records, scheduled with
    /// the original's valid certificate: each decoder accepts only canonical bytes, and the key
    /// log voids every changed item (and every changed certificate); none is ever accepted.
    @Test func mutatedCommandsAndClientRecordsAreRefusedOrVoid() async throws {
        var h = try await LogHarness()
        let f = h.fixture
        try await h.addClient(1, number: 1)
        let newKey = try SigningPrivateKey(secretMaterial: SecretBytes([UInt8](repeating: 0x42, count: 32)), scheme: .ed25519)
        let actions: [OperatorCommand.Action] = [
            .rotateReplicaKeys(targets: [ReplicaID(1), ReplicaID(2)], kinds: .main),
            .rotateClientKeys(targets: nil, kinds: [.tls, .apiTLS]),
            .addClient(try await f.clientDescriptor(2)),
            .removeClient(ClientID(1)),
            .replaceReplica(f.replacement(3, generation: 1)),
            try f.operatorKeyAction(2, newKey: newKey),
        ]
        var originals: [(ScheduledKind, [UInt8], [UInt8])] = []
        let approvers = f.bootstrap(0..<3)
        for action in actions {
            let command = try await f.command(2, action)
            originals.append((.command, command.bytes, try f.certificate(of: command, by: approvers).bytes))
        }
        let record = try await f.clientRecord(ClientKeyRecordTests.one)
        originals.append((.clientRecord, record.bytes, try f.certificate(of: record, by: approvers).bytes))

        var rng = SeededRandom(seed: 0x1515)
        var voided = 0, decoded = 0
        let before = (h.log.highestCommand, h.log.clients, h.log.operatorKey)
        for (kind, item, certificate) in originals {
            // The original would be accepted here (checked without appending).
            #expect(try h.log.evaluate(sequence: h.s + 1, kind: kind, item: item, certificate: certificate).entry.status == .accepted)
            for round in 0..<120 {
                let changeItem = round % 4 != 0
                let m = changeItem ? Self.mutate(item, &rng) : item
                let c = changeItem ? certificate : Self.mutate(certificate, &rng)
                if m == item && c == certificate { continue }
                switch kind {
                case .command:
                    if let command = try? OperatorCommand(bytes: m) {
                        decoded += 1
                        #expect(command.bytes == m && CBORValue.array([.bytes(command.bodyBytes), .bytes(command.operatorSignature)]).encoded == m)
                    }
                default:
                    if let r = try? ClientKeyRecord(bytes: m) {
                        decoded += 1
                        #expect(r.bytes == m && CBORValue.array([.bytes(r.bodyBytes), .bytes(r.authoritySignature)]).encoded == m)
                    }
                }
                guard m.count <= kind.maximumItemByteCount, c.count <= ClusterCertificate.maximumByteCount else { continue }
                let entry = try h.schedule(kind, m, certificate: c, message: [], domain: SignatureTag.commandApprovalDST)
                #expect(entry.status == .void, "a changed \(kind) was accepted")
                voided += 1
            }
        }
        #expect(voided > 700 && decoded > 0)
        #expect(h.log.highestCommand == before.0 && h.log.clients == before.1 && h.log.operatorKey == before.2)
        #expect(h.log.newestClientKeys(of: ClientID(1))?.name.epoch == 0 && h.log.pendingOrders(of: .replica(ReplicaID(1))) == nil)
    }

    @Test func clientAndCommandDecodersNeverTrapAndAcceptOnlyCanonicalBytes() async throws {
        let f = try await ClusterFixture(n: 4)
        let descriptor = try await f.clientDescriptor(3, keys: f.clientKeys(3, epoch: 0, scheme: .ecdsaP256SHA256))
        let decoders: [(String, [UInt8], ([UInt8]) throws -> [UInt8])] = [
            ("client descriptor", descriptor.encoded, { try ClientDescriptor(bytes: $0).encoded }),
            ("submission state", ClientSubmissionState(state: .certified, approvals: 3, quorum: 3).encoded, { try ClientSubmissionState(bytes: $0).encoded }),
            ("watch log", PeerRequest.watchLog(after: 4, limit: 64, waitMilliseconds: 25000).encoded, { try PeerRequest(bytes: $0).encoded }),
            ("command entry", LogEntry(sequence: 3, kind: .command, item: try await f.command(1, .removeClient(ClientID(1))).bytes,
                                       certificate: [1], status: .void, reason: "unknown-target").encoded, { try LogEntry(bytes: $0).encoded }),
        ]
        var rng = SeededRandom(seed: 0x1516)
        for (what, valid, decode) in decoders {
            #expect(try decode(valid) == valid, "\(what): the valid message")
            for _ in 0..<300 {
                let input = Self.mutate(valid, &rng)
                if let canonical = try? decode(input) { #expect(canonical == input, "\(what): accepted a non-canonical form") }
            }
        }
    }
}
