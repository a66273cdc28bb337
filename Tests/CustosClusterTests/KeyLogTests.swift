import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

/// N = 4 (Q = 3), W = 4: keyset(t) for t ≤ 8 is the bootstrap keys; a record scheduled at
/// s ∈ 1…4 is active from 9 (activation boundary 8), decided by the checkpoint notice for 4.
@Suite struct KeyLogTests {
    static func name(_ r: Int, _ e: UInt64, g: UInt64 = 0) -> KeyName { KeyName(replica: ReplicaID(r), generation: g, epoch: e) }

    func certified(_ fixture: ClusterFixture, _ name: KeyName, by approvers: [TestKeys], seed: UInt8? = nil,
                   authority: TestKeys? = nil) async throws -> (record: [UInt8], certificate: [UInt8]) {
        let keys = seed.map { TestKeys(name: name, seed: $0) }
        let record = try await fixture.record(name, keys: keys, authority: authority)
        return (record.bytes, try fixture.certificate(of: record, by: approvers).bytes)
    }

    @Test func acceptsARecordAndActivatesItTwoCheckpointsLater() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var log = KeyLog(configuration: fixture.configuration)
        #expect(log.head == fixture.configuration.genesisHash && log.length == 0)
        let (record, certificate) = try await certified(fixture, Self.name(0, 1), by: fixture.bootstrap(0..<3))
        let stored = try log.schedule(sequence: 1, record: record, certificate: certificate)
        let entry = try LogEntry(bytes: stored.bytes)
        #expect(entry.status == .accepted && entry.reason.isEmpty && entry.sequence == 1)
        #expect(stored.head == SHA256Digest.of(fixture.configuration.genesisHash + stored.bytes))
        #expect(log.head == stored.head && log.length == 1)
        #expect(log.newestCertifiedEpoch(replica: ReplicaID(0), generation: 0) == 1)
        #expect(log.newestCertifiedEpoch(replica: ReplicaID(1), generation: 0) == 0)
        #expect(log.newestCertifiedEpoch(replica: ReplicaID(0), generation: 1) == nil)
        #expect(log.activationBoundary(ofEntry: 0) == 8)
        #expect(KeyLog.activationBoundary(sequence: 4, interval: 4) == 8)
        #expect(KeyLog.activationBoundary(sequence: 5, interval: 4) == 12)
        #expect(KeyLog.activationBoundary(sequence: .max - 1, interval: 4) == .max)
        #expect(KeyLog.activationBoundary(sequence: .max, interval: 1) == .max)
        #expect(log.decidingBoundary(of: .max) == (UInt64.max / 4 + 1 - 2) * 4)
        #expect(log.key(Self.name(0, 1))?.mainKey == fixture.keys(0, epoch: 1).mainPublicKey)

        // Scheduled is not active: the bootstrap key stays through the activation boundary.
        #expect(try log.keyset(at: 8)(ReplicaID(0))?.name == Self.name(0, 0))
        #expect(throws: ClusterError.keysetUndecided(sequence: 9, needsCheckpoint: 4)) { try log.keyset(at: 9) }
        try log.checkpoint(boundary: 4)
        #expect(try log.keyset(at: 9)(ReplicaID(0))?.name == Self.name(0, 1))
        #expect(try log.keyset(at: 12)(ReplicaID(0))?.name == Self.name(0, 1))
        #expect(try log.keyset(at: 12)(ReplicaID(1))?.name == Self.name(1, 0))
        #expect(throws: ClusterError.keysetUndecided(sequence: 13, needsCheckpoint: 8)) { try log.keyset(at: 13) }

        // A second log fed the same notices holds the same entries.
        var again = KeyLog(configuration: fixture.configuration)
        try again.schedule(sequence: 1, record: record, certificate: certificate)
        #expect(again.entries == log.entries)
    }

    @Test func voidsWhatTheApprovalChecksRefuseWithTheirReason() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var log = KeyLog(configuration: fixture.configuration)
        let approvers = fixture.bootstrap(0..<3)
        let first = try await certified(fixture, Self.name(1, 1), by: approvers)
        try log.schedule(sequence: 1, record: first.record, certificate: first.certificate)

        func expectVoid(_ s: UInt64, _ notice: (record: [UInt8], certificate: [UInt8]), _ reason: KeyLog.VoidReason) throws {
            let before = (log.newestKeys(of: ReplicaID(1)), log.length)
            let entry = try LogEntry(bytes: log.schedule(sequence: s, record: notice.record, certificate: notice.certificate).bytes)
            #expect(entry.status == .void && entry.reason == reason.rawValue, "expected \(reason.rawValue), got \(entry.reason)")
            #expect(log.newestKeys(of: ReplicaID(1)) == before.0 && log.length == before.1 + 1)
        }
        // A replayed record, and a second record for a certified epoch (an equivocating proposer).
        try expectVoid(2, first, .replay)
        try expectVoid(2, try await certified(fixture, Self.name(1, 1), by: approvers, seed: 55), .epochTaken)
        // An epoch skipped.
        try expectVoid(3, try await certified(fixture, Self.name(1, 3), by: approvers, authority: fixture.keys(1, epoch: 1)), .epochGap)
        // Signed by the wrong key: the bootstrap key instead of epoch 1's, or another replica's.
        try expectVoid(3, try await certified(fixture, Self.name(1, 2), by: approvers, authority: fixture.keys(1, epoch: 0)), .badRecordSignature)
        try expectVoid(3, try await certified(fixture, Self.name(2, 1), by: approvers, authority: fixture.keys(3, epoch: 0)), .badRecordSignature)
        // Another replica's TLS pin (a pin proves no possession): replica 2 claiming replica 3's.
        let keys2 = fixture.keys(2, epoch: 1)
        let base = keys2.candidate
        let foreignPin = CandidateKeys(consensusPublicKey: base.consensusPublicKey, proofOfPossession: base.proofOfPossession,
                                       mainPublicKey: base.mainPublicKey, tlsPin: fixture.keys(3, epoch: 0).tlsPin,
                                       signConsensus: base.signConsensus, signMain: base.signMain)
        let copied = try await KeyExchangeRecord.build(cluster: fixture.cluster, name: Self.name(2, 1), keys: foreignPin) { fixture.keys(2, epoch: 0).signMain($0) }
        try expectVoid(3, (copied.bytes, try fixture.certificate(of: copied, by: approvers).bytes), .foreignTLSPin)
        #expect(throws: ClusterError.duplicateReplicaField(field: "TLS pin", first: ReplicaID(3), second: ReplicaID(2))) {
            try log.checkProposal(Proposal(record: copied, previous: nil))
        }
        // A replica outside the cluster, a generation never started.
        try expectVoid(3, try await certified(fixture, Self.name(5, 1), by: approvers), .replicaOutOfRange)
        try expectVoid(3, try await certified(fixture, Self.name(2, 1, g: 1), by: approvers, authority: fixture.keys(2, epoch: 0)), .unknownGeneration)
        // Bytes that are not a record or not a certificate.
        let good = try await certified(fixture, Self.name(2, 1), by: approvers)
        try expectVoid(4, (Array(good.record.dropLast()), good.certificate), .malformedRecord)
        try expectVoid(4, (good.record, [0x80]), .malformedCertificate)
        // A certificate below Q, and one for another record.
        let record = try KeyExchangeRecord(bytes: good.record)
        let short = try ClusterCertificate.combine(fixture.bootstrap(0..<2).map { fixture.approval(of: record, by: $0) },
                                                   message: Approval.message(cluster: fixture.cluster, record: record), domain: SignatureTag.keyLogApprovalDST,
                                                   replicaCount: 4, quorum: 2) { fixture.keys($0.replica.index, epoch: $0.epoch).consensus.publicKey }
        try expectVoid(4, (good.record, short.bytes), .certificateInvalid)
        try expectVoid(4, (good.record, first.certificate), .certificateInvalid)
        // The good one is still accepted after all of these.
        let entry = try LogEntry(bytes: log.schedule(sequence: 4, record: good.record, certificate: good.certificate).bytes)
        #expect(entry.status == .accepted)
        #expect(log.status(ofEntry: 1) == .void && log.activationBoundary(ofEntry: 1) == nil)
    }

    /// A share by a key that is not the approver's key in keyset(s) does not count, whether it
    /// is too new (scheduled, not yet active) or superseded.
    @Test func certificatesCountOnlyKeysActiveAtTheSchedulePoint() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var log = KeyLog(configuration: fixture.configuration)
        let one = try await certified(fixture, Self.name(1, 1), by: fixture.bootstrap(0..<3))
        try log.schedule(sequence: 1, record: one.record, certificate: one.certificate)
        let newKey = fixture.keys(1, epoch: 1)
        let oldKey = fixture.keys(1, epoch: 0)
        let others = [fixture.keys(0, epoch: 0), fixture.keys(2, epoch: 0)]

        // At s = 5, replica 1's epoch-1 key is scheduled but not active.
        try log.checkpoint(boundary: 4)
        let early = try await certified(fixture, Self.name(0, 1), by: others + [newKey])
        let e1 = try LogEntry(bytes: log.schedule(sequence: 5, record: early.record, certificate: early.certificate).bytes)
        #expect(e1.reason == KeyLog.VoidReason.certificateInvalid.rawValue)
        let cert = try ClusterCertificate(bytes: early.certificate, replicaCount: 4)
        #expect(throws: ClusterError.signerKeyNotActive(newKey.name)) {
            try log.verifyCertificate(cert, message: Approval.message(cluster: fixture.cluster, record: try KeyExchangeRecord(bytes: early.record)),
                                      domain: SignatureTag.keyLogApprovalDST, at: 5)
        }
        // At s = 9 (decided by the checkpoint notice for 4) it is active and the bootstrap key is not.
        let stale = try await certified(fixture, Self.name(0, 1), by: others + [oldKey])
        #expect(try LogEntry(bytes: log.schedule(sequence: 9, record: stale.record, certificate: stale.certificate).bytes).reason == "certificate-invalid")
        #expect(try LogEntry(bytes: log.schedule(sequence: 9, record: early.record, certificate: early.certificate).bytes).status == .accepted)
    }

    @Test func refusesNoticesOutOfOrderOrOversizedAndAppendsNothing() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var log = KeyLog(configuration: fixture.configuration)
        let notice = try await certified(fixture, Self.name(0, 1), by: fixture.bootstrap(0..<3))
        #expect(throws: ClusterError.scheduleOutOfOrder(sequence: 0, after: 0)) { try log.schedule(sequence: 0, record: notice.record, certificate: notice.certificate) }
        #expect(throws: ClusterError.oversized(what: "scheduled replica-record", limit: 1024, actual: 1025)) {
            try log.schedule(sequence: 1, record: [UInt8](repeating: 0, count: 1025), certificate: notice.certificate)
        }
        #expect(throws: ClusterError.oversized(what: "scheduled certificate", limit: 8192, actual: 8193)) {
            try log.schedule(sequence: 1, record: notice.record, certificate: [UInt8](repeating: 0, count: 8193))
        }
        #expect(throws: ClusterError.keysetUndecided(sequence: 9, needsCheckpoint: 4)) { try log.schedule(sequence: 9, record: notice.record, certificate: notice.certificate) }
        #expect(log.length == 0)
        try log.schedule(sequence: 6, record: notice.record, certificate: notice.certificate)
        #expect(throws: ClusterError.scheduleOutOfOrder(sequence: 5, after: 6)) { try log.schedule(sequence: 5, record: notice.record, certificate: notice.certificate) }
        // A checkpoint notice below a scheduled sequence arrives too late; one off the grid is refused.
        #expect(throws: ClusterError.checkpointOutOfOrder(boundary: 4, after: 6)) { try log.checkpoint(boundary: 4) }
        #expect(throws: ClusterError.checkpointNotOnBoundary(10)) { try log.checkpoint(boundary: 10) }
        try log.checkpoint(boundary: 8)
        try log.checkpoint(boundary: 8)  // again: nothing changes
        try log.checkpoint(boundary: 4)  // below: nothing changes
        #expect(log.checkpointNotice == 8)
        #expect(throws: ClusterError.scheduleOutOfOrder(sequence: 8, after: 8)) { try log.schedule(sequence: 8, record: notice.record, certificate: notice.certificate) }
        #expect(log.length == 1)
    }

    @Test func positionsAtBoundaries() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var log = KeyLog(configuration: fixture.configuration)
        let a = try await certified(fixture, Self.name(0, 1), by: fixture.bootstrap(0..<3))
        let b = try await certified(fixture, Self.name(1, 1), by: fixture.bootstrap(0..<3))
        try log.schedule(sequence: 3, record: a.record, certificate: a.certificate)
        try log.schedule(sequence: 4, record: b.record, certificate: b.certificate)
        try log.schedule(sequence: 6, record: b.record, certificate: b.certificate)
        #expect(log.position(atBoundary: 0) == (0, fixture.configuration.genesisHash))
        #expect(log.position(atBoundary: 2) == (0, fixture.configuration.genesisHash))
        #expect(log.position(atBoundary: 4) == (2, log.entries[1].head))
        #expect(log.position(atBoundary: 8) == (3, log.entries[2].head))
    }

    @Test func replaysStoredEntriesAndRefusesAChangedOne() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var log = KeyLog(configuration: fixture.configuration)
        let a = try await certified(fixture, Self.name(0, 1), by: fixture.bootstrap(0..<3))
        try log.schedule(sequence: 2, record: a.record, certificate: a.certificate)
        try log.schedule(sequence: 3, record: a.record, certificate: a.certificate)  // replay: void
        try log.checkpoint(boundary: 4)
        let b = try await certified(fixture, Self.name(0, 2), by: [fixture.keys(0, epoch: 1)] + fixture.bootstrap(1..<3))
        try log.schedule(sequence: 10, record: b.record, certificate: b.certificate)
        #expect(log.status(ofEntry: 2) == .accepted)

        let replayed = try KeyLog(configuration: fixture.configuration, replaying: log.entries)
        #expect(replayed.entries == log.entries && replayed.head == log.head)

        // Status flipped, reason changed, head changed: each refused.
        let original = try LogEntry(bytes: log.entries[1].bytes)
        let flipped = LogEntry(sequence: original.sequence, record: original.record, certificate: original.certificate, status: .accepted, reason: "")
        var entries = log.entries
        entries[1] = StoredLogEntry(index: 1, sequence: 3, bytes: flipped.encoded, head: entries[1].head)
        #expect(throws: ClusterError.logEntryMismatch(index: 1)) { try KeyLog(configuration: fixture.configuration, replaying: entries) }
        entries = log.entries
        entries[2] = StoredLogEntry(index: 2, sequence: 10, bytes: entries[2].bytes, head: entries[1].head)
        #expect(throws: ClusterError.logEntryMismatch(index: 2)) { try KeyLog(configuration: fixture.configuration, replaying: entries) }
        var fresh = KeyLog(configuration: fixture.configuration)
        #expect(throws: ClusterError.logEntryMismatch(index: 0)) {
            try fresh.append(verifying: LogEntry(sequence: 2, record: a.record, certificate: a.certificate, status: .void, reason: "replay"))
        }
        #expect(fresh.length == 0)
    }

    @Test func checksProposalsAgainstTheLog() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var log = KeyLog(configuration: fixture.configuration)
        let first = try await fixture.record(Self.name(2, 1))
        try log.checkProposal(Proposal(record: first, previous: nil))
        let forged = try await fixture.record(Self.name(2, 1), authority: fixture.keys(1, epoch: 0))
        #expect(throws: ClusterError.badAuthoritySignature(Self.name(2, 1))) { try log.checkProposal(Proposal(record: forged, previous: nil)) }
        let firstCert = try fixture.certificate(of: first, by: fixture.bootstrap(0..<3))
        let second = try await fixture.record(Self.name(2, 2))
        let carried = Proposal(record: second, previous: .init(record: first, certificate: firstCert.bytes))
        // Not yet scheduled here: the carried certified previous record stands in for it.
        try log.checkProposal(carried)
        // A carried previous record whose certificate is below Q, or from another record.
        let other = try await fixture.record(Self.name(2, 1), keys: TestKeys(name: Self.name(2, 1), seed: 77))
        let otherCert = try fixture.certificate(of: other, by: fixture.bootstrap(0..<3))
        #expect(throws: ClusterError.badAggregateSignature) {
            try log.checkProposal(Proposal(record: second, previous: .init(record: first, certificate: otherCert.bytes)))
        }
        try log.schedule(sequence: 1, record: first.bytes, certificate: firstCert.bytes)
        // Once scheduled, epoch 1 is taken: a proposal for it is a replay.
        #expect(throws: ClusterError.unexpectedEpoch(Self.name(2, 1), expected: 2)) { try log.checkProposal(Proposal(record: first, previous: nil)) }
        try log.checkProposal(carried)
        let third = try await fixture.record(Self.name(2, 3), authority: fixture.keys(2, epoch: 2))
        #expect(throws: ClusterError.unexpectedEpoch(Self.name(2, 3), expected: 2)) { try log.checkProposal(Proposal(record: third, previous: nil)) }
        let fourth = try await fixture.record(Self.name(2, 4), authority: fixture.keys(2, epoch: 3))
        #expect(throws: ClusterError.unexpectedEpoch(Self.name(2, 4), expected: 2)) {
            try log.checkProposal(Proposal(record: fourth, previous: .init(record: third, certificate: firstCert.bytes)))
        }
        let newGeneration = try await fixture.record(Self.name(2, 1, g: 1), authority: fixture.keys(2, epoch: 0))
        #expect(throws: ClusterError.unknownGeneration(Self.name(2, 1, g: 1))) { try log.checkProposal(Proposal(record: newGeneration, previous: nil)) }
        let outside = try await fixture.record(Self.name(9, 1))
        #expect(throws: ClusterError.replicaOutOfRange(9)) { try log.checkProposal(Proposal(record: outside, previous: nil)) }
    }
}
