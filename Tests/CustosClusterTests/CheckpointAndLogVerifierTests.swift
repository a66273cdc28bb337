import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

/// A key log of N = 4, W = 4 with stable checkpoints, built the way replicas build it.
struct CertifiedLog {
    let fixture: ClusterFixture
    var log: KeyLog
    var checkpoints: [CheckpointCertificate] = []

    init(fixture: ClusterFixture) {
        self.fixture = fixture
        log = KeyLog(configuration: fixture.configuration)
    }

    func statement(at boundary: UInt64) -> CheckpointStatement {
        let p = log.position(atBoundary: boundary)
        return CheckpointStatement(boundary: boundary, ledgerDigest: [UInt8](repeating: UInt8(truncatingIfNeeded: boundary), count: 32), logLength: p.length, logHead: p.head)
    }

    /// The checkpoint notice for `boundary` and a certificate by the given keys.
    mutating func checkpoint(_ boundary: UInt64, signers: [TestKeys]) throws {
        try log.checkpoint(boundary: boundary)
        let statement = statement(at: boundary)
        let cert = try CheckpointCertificate.combine(signers.map { fixture.checkpointSignature(statement, by: $0) }, cluster: fixture.cluster,
                                                     quorum: fixture.configuration.quorum) { log.key($0)?.mainKey }
        try log.verify(cert)
        checkpoints.append(cert)
    }

    mutating func schedule(_ s: UInt64, _ name: KeyName, approvers: [TestKeys]) async throws {
        let record = try await fixture.record(name)
        try log.schedule(sequence: s, record: record.bytes, certificate: try fixture.certificate(of: record, by: approvers).bytes)
    }

    var export: LogExport {
        LogExport(configuration: fixture.configuration, entries: log.entries.map { try! LogEntry(bytes: $0.bytes) }, checkpoints: checkpoints)
    }

    /// Rotates replicas 0…2 to epoch 1 and replica 0 to epoch 2, with checkpoints at 4, 8, 12
    /// and one entry after the last checkpoint.
    static func make() async throws -> CertifiedLog {
        let fixture = try await ClusterFixture(n: 4)
        var c = CertifiedLog(fixture: fixture)
        let boot = fixture.bootstrap(0..<4)
        try await c.schedule(1, KeyLogTests.name(0, 1), approvers: Array(boot[0..<3]))
        try await c.schedule(2, KeyLogTests.name(1, 1), approvers: Array(boot[1..<4]))
        try c.checkpoint(4, signers: Array(boot[0..<3]))
        try await c.schedule(6, KeyLogTests.name(2, 1), approvers: Array(boot[0..<3]))
        try c.checkpoint(8, signers: Array(boot[1..<4]))
        // From 9 on, replicas 0 and 1 sign with epoch 1.
        let active = [fixture.keys(0, epoch: 1), fixture.keys(1, epoch: 1), boot[3]]
        try await c.schedule(10, KeyLogTests.name(0, 2), approvers: active)
        // keyset(12) is decided at 4: replica 2's epoch 1 (scheduled at 6) is not active yet.
        try c.checkpoint(12, signers: [fixture.keys(0, epoch: 1), fixture.keys(1, epoch: 1), boot[2]])
        try await c.schedule(14, KeyLogTests.name(3, 1), approvers: [fixture.keys(0, epoch: 1), fixture.keys(1, epoch: 1), fixture.keys(2, epoch: 1)])
        return c
    }
}

@Suite struct CheckpointAndLogVerifierTests {
    @Test func checkpointCertificatesRoundTripAndVerifyAgainstKeysetB() async throws {
        let c = try await CertifiedLog.make()
        for cert in c.checkpoints {
            let decoded = try CheckpointCertificate(bytes: cert.encoded)
            #expect(decoded == cert)
            #expect(try c.log.verify(decoded) == .matchesLog)
        }
        let signature = c.fixture.checkpointSignature(c.statement(at: 4), by: c.fixture.keys(1, epoch: 0))
        #expect(try CheckpointSignature(bytes: signature.encoded) == signature)
        #expect(signature.isValid(cluster: c.fixture.cluster, mainKey: c.fixture.keys(1, epoch: 0).mainPublicKey))
        #expect(!signature.isValid(cluster: c.fixture.cluster, mainKey: c.fixture.keys(1, epoch: 1).mainPublicKey))
    }

    @Test func refusesCheckpointCertificatesThatDoNotHold() async throws {
        let c = try await CertifiedLog.make()
        let fixture = c.fixture
        let log = c.log
        func certificate(_ statement: CheckpointStatement, _ signers: [TestKeys]) -> CheckpointCertificate {
            CheckpointCertificate(statement: statement, signers: signers.map { .init(key: $0.name, signature: $0.signMain(statement.message(cluster: fixture.cluster))) })
        }
        let boot = fixture.bootstrap(0..<4)
        let at4 = c.statement(at: 4)
        // A head or length other than the log's at B.
        let wrongHead = CheckpointStatement(boundary: 4, ledgerDigest: at4.ledgerDigest, logLength: at4.logLength, logHead: log.head)
        #expect(throws: ClusterError.logHeadMismatch(boundary: 4)) { try log.verify(certificate(wrongHead, Array(boot[0..<3]))) }
        let wrongLength = CheckpointStatement(boundary: 4, ledgerDigest: at4.ledgerDigest, logLength: at4.logLength + 1, logHead: at4.logHead)
        #expect(throws: ClusterError.logHeadMismatch(boundary: 4)) { try log.verify(certificate(wrongLength, Array(boot[0..<3]))) }
        // Below Q, a key not active at B (too new at 4, superseded at 12), an unknown key, a bad signature.
        #expect(throws: ClusterError.belowQuorum(required: 3, actual: 2)) { try log.verify(certificate(at4, Array(boot[0..<2]))) }
        #expect(throws: ClusterError.signerKeyNotActive(KeyLogTests.name(0, 1))) { try log.verify(certificate(at4, [fixture.keys(0, epoch: 1)] + boot[1..<3])) }
        #expect(throws: ClusterError.signerKeyNotActive(KeyLogTests.name(0, 0))) { try log.verify(certificate(c.statement(at: 12), Array(boot[0..<3]))) }
        #expect(throws: ClusterError.unknownSignerKey(KeyLogTests.name(3, 4))) { try log.verify(certificate(at4, Array(boot[0..<2]) + [fixture.keys(3, epoch: 4)])) }
        let forged = CheckpointCertificate(statement: at4, signers: boot[0..<3].map { .init(key: $0.name, signature: boot[3].signMain(at4.message(cluster: fixture.cluster))) })
        #expect(throws: ClusterError.badCheckpointSignature(ReplicaID(0))) { try log.verify(forged) }
        // Not on the grid; a boundary whose keyset is not decided.
        let offGrid = CheckpointStatement(boundary: 5, ledgerDigest: at4.ledgerDigest, logLength: 0, logHead: at4.logHead)
        #expect(throws: ClusterError.checkpointNotOnBoundary(5)) { try log.verify(certificate(offGrid, Array(boot[0..<3]))) }
        let far = CheckpointStatement(boundary: 40, ledgerDigest: at4.ledgerDigest, logLength: log.length, logHead: log.head)
        #expect(throws: ClusterError.keysetUndecided(sequence: 40, needsCheckpoint: 32)) { try log.verify(certificate(far, Array(boot[0..<3]))) }
        // Combining: two statements, a replica twice.
        let other = CheckpointStatement(boundary: 4, ledgerDigest: [UInt8](repeating: 0xee, count: 32), logLength: at4.logLength, logHead: at4.logHead)
        #expect(throws: ClusterError.checkpointStatementMismatch(boundary: 4)) {
            try CheckpointCertificate.combine([fixture.checkpointSignature(at4, by: boot[0]), fixture.checkpointSignature(other, by: boot[1])],
                                              cluster: fixture.cluster, quorum: 2) { log.key($0)?.mainKey }
        }
        #expect(throws: ClusterError.checkpointSignersOutOfOrder) {
            try CheckpointCertificate.combine([fixture.checkpointSignature(at4, by: boot[0]), fixture.checkpointSignature(at4, by: boot[0])],
                                              cluster: fixture.cluster, quorum: 2) { log.key($0)?.mainKey }
        }
        // Decoding: signers out of order or repeated.
        let good = certificate(at4, Array(boot[0..<3]))
        let reversed = CheckpointCertificate(statement: at4, signers: good.signers.reversed())
        #expect(throws: ClusterError.checkpointSignersOutOfOrder) { try CheckpointCertificate(bytes: reversed.encoded) }
        let repeated = CheckpointCertificate(statement: at4, signers: [good.signers[0], good.signers[0], good.signers[1]])
        #expect(throws: ClusterError.checkpointSignersOutOfOrder) { try CheckpointCertificate(bytes: repeated.encoded) }
    }

    /// A log that has not reached B still checks the signatures and what it holds.
    @Test func checksACheckpointAheadOfTheLog() async throws {
        let c = try await CertifiedLog.make()
        var behind = KeyLog(configuration: c.fixture.configuration)
        try behind.append(verifying: LogEntry(bytes: c.log.entries[0].bytes))
        #expect(try behind.verify(c.checkpoints[0]) == .aheadOfLog)
        var wrong = KeyLog(configuration: c.fixture.configuration)
        // The same two records in the other order: as long as the certified log, another head.
        let first = try LogEntry(bytes: c.log.entries[0].bytes), second = try LogEntry(bytes: c.log.entries[1].bytes)
        try wrong.append(verifying: LogEntry(sequence: 2, record: second.record, certificate: second.certificate, status: .accepted, reason: ""))
        try wrong.append(verifying: LogEntry(sequence: 3, record: first.record, certificate: first.certificate, status: .accepted, reason: ""))
        #expect(throws: ClusterError.logHeadMismatch(boundary: 4)) { try wrong.verify(c.checkpoints[0]) }
    }

    @Test func verifiesAnExportedLogFromGenesis() async throws {
        let c = try await CertifiedLog.make()
        let bytes = c.export.encoded
        let decoded = try LogExport(bytes: bytes)
        #expect(decoded == c.export && decoded.encoded == bytes)
        #expect(decoded.configuration.genesisHash == c.fixture.configuration.genesisHash)
        let report = try LogVerifier.verify(bytes)
        #expect(report.verifiedBoundary == 12)
        #expect(report.verifiedLength == 4 && report.log.length == 5)
        #expect(report.log.head == c.log.head)
        #expect(report.log.newestCertifiedEpoch(replica: ReplicaID(0), generation: 0) == 2)
        // Without checkpoints the entries are recomputed but nothing is covered.
        let bare = try LogVerifier.verify(LogExport(configuration: c.fixture.configuration, entries: c.export.entries, checkpoints: []))
        #expect(bare.verifiedBoundary == 0 && bare.log.head == c.log.head)
    }

    @Test func refusesAnExportedLogThatWasChanged() async throws {
        let c = try await CertifiedLog.make()
        let export = c.export
        func variant(entries: [LogEntry]? = nil, checkpoints: [CheckpointCertificate]? = nil) -> LogExport {
            LogExport(configuration: export.configuration, entries: entries ?? export.entries, checkpoints: checkpoints ?? export.checkpoints)
        }
        // An entry's status or reason changed.
        var entries = export.entries
        let e = entries[1]
        entries[1] = LogEntry(sequence: e.sequence, record: e.record, certificate: e.certificate, status: .void, reason: "replay")
        #expect(throws: ClusterError.logEntryMismatch(index: 1)) { try LogVerifier.verify(variant(entries: entries)) }
        // An entry dropped before a certified boundary.
        entries = export.entries
        entries.remove(at: 2)
        #expect(throws: ClusterError.logTruncated(boundary: 8)) { try LogVerifier.verify(variant(entries: entries)) }
        // An entry replaced by another notice the log processes consistently: the head differs.
        entries = export.entries
        entries[2] = LogEntry(sequence: 6, record: export.entries[0].record, certificate: export.entries[0].certificate, status: .void, reason: "replay")
        #expect(throws: ClusterError.logHeadMismatch(boundary: 8)) { try LogVerifier.verify(variant(entries: entries)) }
        // The log cut before a certified boundary.
        #expect(throws: ClusterError.logTruncated(boundary: 12)) { try LogVerifier.verify(variant(entries: Array(export.entries.prefix(3)))) }
        // Checkpoints out of order, or one whose signatures are not by keyset(B).
        #expect(throws: ClusterError.checkpointOutOfOrder(boundary: 4, after: 8)) {
            try LogVerifier.verify(variant(checkpoints: [export.checkpoints[1], export.checkpoints[0]]))
        }
        let at12 = export.checkpoints[2].statement
        let stale = CheckpointCertificate(statement: at12, signers: c.fixture.bootstrap(0..<3).map {
            .init(key: $0.name, signature: $0.signMain(at12.message(cluster: c.fixture.cluster)))
        })
        #expect(throws: ClusterError.signerKeyNotActive(KeyLogTests.name(0, 0))) {
            try LogVerifier.verify(variant(checkpoints: Array(export.checkpoints.prefix(2)) + [stale]))
        }
        // Another operator's configuration, bytes cut short, bytes appended.
        let bytes = export.encoded
        #expect(throws: (any Error).self) { try LogVerifier.verify(Array(bytes.dropLast())) }
        #expect(throws: ClusterError.encoding(what: "log export", .trailingBytes(count: 1))) { try LogVerifier.verify(bytes + [0]) }
        var configuration = try CBOR.decode(export.configuration.signedBytes).array("configuration")
        configuration[1] = .bytes([UInt8](repeating: 0, count: 64))
        let otherSigned = CBORValue.array([.array(configuration), .array([]), .array([])]).encoded
        #expect(throws: ClusterError.badOperatorSignature) { try LogVerifier.verify(otherSigned) }
    }

    @Test func peerRequestsRoundTripAndRefuseMalformedBodies() async throws {
        let fixture = try await ClusterFixture(n: 4)
        let record = try await fixture.record(KeyLogTests.name(0, 1))
        let requests: [PeerRequest] = [.approve(Proposal(record: record, previous: nil)), .logEntries(after: 3, limit: 100),
                                       .stableCheckpoints(after: 8, limit: 10), .checkpointSignature(boundary: 12), .status,
                                       .approveCommand([1, 2, 3]), .approveClientRecord([4]), .submitClientRecord([]),
                                       .watchLog(after: 7, limit: 64, waitMilliseconds: 25000)]
        for r in requests {
            #expect(try PeerRequest(bytes: r.encoded) == r)
        }
        #expect(Hex.encode(PeerRequest.status.encoded) == "8105")
        #expect(Hex.encode(PeerRequest.logEntries(after: 3, limit: 100).encoded) == "8302031864")
        #expect(throws: ClusterError.malformed("unknown peer request kind 10")) { try PeerRequest(bytes: hex("810a")) }
        #expect(Hex.encode(PeerRequest.watchLog(after: 1, limit: 2, waitMilliseconds: 3).encoded) == "8409010203")
        #expect(throws: ClusterError.malformed("watch-log wait must be at most 25000 ms, is 25001")) { try PeerRequest(bytes: hex("840900001961a9")) }
        #expect(throws: ClusterError.malformed("peer request 6 must have 2 fields, has 1")) { try PeerRequest(bytes: hex("8106")) }
        #expect(throws: ClusterError.malformed("peer request is empty")) { try PeerRequest(bytes: hex("80")) }
        #expect(throws: ClusterError.malformed("peer request 5 must have 1 fields, has 2")) { try PeerRequest(bytes: hex("820500")) }
        #expect(throws: ClusterError.malformed("peer request 2 must have 3 fields, has 2")) { try PeerRequest(bytes: hex("820203")) }
        #expect(throws: (any Error).self) { try PeerRequest(bytes: hex("a0")) }
        #expect(throws: (any Error).self) { try PeerRequest(bytes: [UInt8](repeating: 0x80, count: PeerRequest.maximumByteCount + 1)) }
        let approve = PeerRequest.approve(Proposal(record: record, previous: nil)).encoded
        for length in stride(from: 0, to: approve.count, by: 11) {
            #expect(throws: (any Error).self) { try PeerRequest(bytes: Array(approve.prefix(length))) }
        }
        let status = PeerStatus(latestStableBoundary: 8, highestSignedSequence: nil)
        #expect(try PeerStatus(bytes: status.encoded) == status)
        let signed = PeerStatus(latestStableBoundary: 8, highestSignedSequence: 17)
        #expect(try PeerStatus(bytes: signed.encoded) == signed)
        let c = try await CertifiedLog.make()
        #expect(try LogEntry.decodeList(LogEntry.encodeList(c.export.entries), limit: 1 << 20) == c.export.entries)
        #expect(try CheckpointCertificate.decodeList(CheckpointCertificate.encodeList(c.checkpoints), limit: 1 << 20) == c.checkpoints)
    }
}
