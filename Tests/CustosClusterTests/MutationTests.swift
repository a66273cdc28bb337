import Testing
@testable import CustosCluster

/// Seeded random mutations of valid messages: no decoder may trap, and whatever a decoder
/// accepts re-encodes to exactly the bytes it was given (so nothing but the canonical form of
/// a message is ever accepted, signed or chained).
@Suite struct MutationTests {
    /// Flips, replaces, inserts or deletes a few bytes.
    static func mutate(_ input: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = input
        for _ in 0...rng.below(3) {
            switch rng.below(5) {
            case 0 where !bytes.isEmpty: bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8))
            case 1 where !bytes.isEmpty: bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: rng.below(bytes.count + 1))
            case 3 where !bytes.isEmpty: bytes.remove(at: rng.below(bytes.count))
            default: bytes = Array(bytes.prefix(rng.below(bytes.count + 1)))
            }
        }
        return bytes
    }

    @Test func decodersNeverTrapAndAcceptOnlyCanonicalBytes() async throws {
        let c = try await CertifiedLog.make()
        let fixture = c.fixture
        let record = try await fixture.record(KeyLogTests.name(1, 1))
        let certificate = try fixture.certificate(of: record, by: fixture.bootstrap(0..<3))
        let approval = fixture.approval(of: record, by: fixture.keys(2, epoch: 0))
        let next = try await fixture.record(KeyLogTests.name(1, 2))
        let proposal = PeerRequest.approve(Proposal(record: next, previous: .init(record: record, certificate: certificate.bytes)))
        let signature = fixture.checkpointSignature(c.statement(at: 4), by: fixture.keys(0, epoch: 0))
        // Each decoder returns the canonical bytes of what it accepted.
        let decoders: [(String, [UInt8], ([UInt8]) throws -> [UInt8])] = [
            ("record", record.bytes, { try KeyExchangeRecord(bytes: $0).bytes }),
            ("certificate", certificate.bytes, { bytes in
                let cert = try ClusterCertificate(bytes: bytes, replicaCount: 4)
                return CBORValue.array([.bytes(cert.aggregate.compressedRepresentation), .bytes(cert.signerBits),
                                        .array(cert.signerKeys.map { .array([.unsigned($0.generation), .unsigned($0.epoch)]) })]).encoded
            }),
            ("approval", approval.encoded, { try Approval(bytes: $0).encoded }),
            ("peer request", proposal.encoded, { try PeerRequest(bytes: $0).encoded }),
            ("checkpoint signature", signature.encoded, { try CheckpointSignature(bytes: $0).encoded }),
            ("checkpoint certificate", c.checkpoints[0].encoded, { try CheckpointCertificate(bytes: $0).encoded }),
            ("log entry", c.log.entries[0].bytes, { try LogEntry(bytes: $0).encoded }),
            ("configuration", fixture.configuration.signedBytes, { try ClusterConfiguration(signedBytes: $0).signedBytes }),
            ("log export", c.export.encoded, { try LogExport(bytes: $0).encoded }),
        ]
        var rng = SeededRandom(seed: 0x1405)
        var refused = 0, accepted = 0
        for (what, valid, decode) in decoders {
            #expect(try decode(valid) == valid, "\(what): the valid message")
            for _ in 0..<400 {
                let input = Self.mutate(valid, &rng)
                if let canonical = try? decode(input) {
                    accepted += 1
                    #expect(canonical == input, "\(what): accepted a non-canonical form")
                } else {
                    refused += 1
                }
                if let value = try? CBOR.decode(input) { #expect(value.encoded == input) }
            }
        }
        #expect(refused > accepted)
    }

    /// Mutated schedule notices never trap the key log; each is appended, accepted only when
    /// it is still a valid record with a valid certificate.
    @Test func theKeyLogVoidsMutatedNotices() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let record = try await fixture.record(KeyLogTests.name(1, 1))
        let certificate = try fixture.certificate(of: record, by: fixture.bootstrap(0..<3)).bytes
        var rng = SeededRandom(seed: 77)
        var log = KeyLog(configuration: fixture.configuration)
        for i in 0..<300 {
            let mutateRecord = rng.below(2) == 0
            let r = mutateRecord ? Self.mutate(record.bytes, &rng) : record.bytes
            let cert = mutateRecord ? certificate : Self.mutate(certificate, &rng)
            let s = UInt64(i + 1)
            try log.checkpoint(boundary: (s - 1) / 4 * 4)
            let stored = try log.schedule(sequence: s, record: r, certificate: cert)
            let entry = try LogEntry(bytes: stored.bytes)
            if entry.status == .accepted {
                #expect(r == record.bytes, "a changed record was accepted")
            }
        }
        #expect(log.length == 300)
        #expect(log.newestCertifiedEpoch(replica: ReplicaID(1), generation: 0) ?? 0 <= 1)
    }
}

/// Every integer of a message, nested documents included, set to the edges of its range:
/// decoding and then processing (approval checks, certificate and checkpoint verification,
/// the key log) refuse or accept, and never trap on an overflow.
@Suite struct ExtremeIntegerTests {
    static let extremes: [UInt64] = [0, 1, 255, 256, 1 << 32, .max - 1, .max]

    /// The value with one unsigned leaf replaced, for every leaf and every extreme; byte strings
    /// that are themselves CBOR documents are descended into.
    static func variants(_ value: CBORValue) -> [CBORValue] {
        switch value {
        case .unsigned(let n): return extremes.filter { $0 != n }.map { .unsigned($0) }
        case .bytes(let b):
            guard b.count > 2, let inner = try? CBOR.decode(b), case .array = inner else { return [] }
            return variants(inner).map { .bytes($0.encoded) }
        case .array(let items):
            var out: [CBORValue] = []
            for (i, item) in items.enumerated() {
                for v in variants(item) {
                    var copy = items
                    copy[i] = v
                    out.append(.array(copy))
                }
            }
            return out
        case .text, .null: return []
        }
    }

    @Test func extremeIntegersAreRefusedOrProcessedWithoutTrapping() async throws {
        let c = try await CertifiedLog.make()
        let fixture = c.fixture
        let log = c.log
        let first = try KeyExchangeRecord(bytes: LogEntry(bytes: log.entries[3].bytes).record)  // (0, 0, 2)
        let next = try await fixture.record(KeyLogTests.name(0, 3))
        let proposal = PeerRequest.approve(Proposal(record: next, previous: .init(record: first, certificate: try LogEntry(bytes: log.entries[3].bytes).certificate)))
        var processed = 0
        for variant in Self.variants(try CBOR.decode(proposal.encoded)) {
            guard case .approve(let p)? = try? PeerRequest(bytes: variant.encoded) else { continue }
            processed += 1
            _ = try? log.checkProposal(p)
        }
        let entry = try LogEntry(bytes: log.entries[3].bytes)
        for variant in Self.variants(try CBOR.decode(entry.certificate)) {
            if let cert = try? ClusterCertificate(bytes: variant.encoded, replicaCount: 4) {
                processed += 1
                _ = try? log.verifyCertificate(cert, message: Approval.message(cluster: fixture.cluster, record: first), domain: SignatureTag.keyLogApprovalDST, at: 10)
            }
        }
        for variant in Self.variants(try CBOR.decode(c.checkpoints[2].encoded)) {
            if let cert = try? CheckpointCertificate(bytes: variant.encoded) {
                processed += 1
                _ = try? log.verify(cert)
            }
        }
        for variant in Self.variants(try CBOR.decode(entry.encoded)) {
            guard let changed = try? LogEntry(bytes: variant.encoded) else { continue }
            processed += 1
            var copy = KeyLog(configuration: fixture.configuration)
            for stored in log.entries.prefix(3) { try copy.append(verifying: LogEntry(bytes: stored.bytes)) }
            if let appended = try? copy.append(verifying: changed) {
                // What is appended is what the log computed, and it equals the claim. A claim at
                // another sequence can be consistent (the same notice, later): only a stable
                // checkpoint's head tells which sequence the ledger used.
                #expect(appended.bytes == changed.encoded)
                if changed.sequence == entry.sequence { #expect(changed.encoded == entry.encoded, "an entry changed at its own sequence was reproduced") }
            }
            var schedule = copy
            if let stored = try? schedule.schedule(sequence: changed.sequence, record: changed.record, certificate: changed.certificate),
               try LogEntry(bytes: stored.bytes).status == .accepted {
                #expect(changed.record == entry.record, "a changed record was accepted")
                _ = schedule.activationBoundary(ofEntry: stored.index)
            }
        }
        #expect(processed > 50)
    }
}
