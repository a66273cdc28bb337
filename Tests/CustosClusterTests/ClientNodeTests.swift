import BLS12381
import CustosCrypto
import Foundation
import Synchronization
import Testing
@testable import CustosCluster

/// Replicas scripted by the test: they serve one true key log built from the fixture's keys (or
/// a forged copy of it), its stable checkpoints, and keep the client records submitted to them.
final class ScriptedReplicas: PeerTransport, Sendable {
    private struct State {
        var log: [LogEntry] = []
        var checkpoints: [CheckpointCertificate] = []
        var submitted: [[UInt8]] = []
        var forging: Set<ReplicaID> = []
        var shifting: Set<ReplicaID> = []
        var down: Set<ReplicaID> = []
    }

    private let state = Mutex(State())

    func publish(_ log: KeyLog, checkpoints: [CheckpointCertificate]) {
        let entries = log.entries.map { try! LogEntry(bytes: $0.bytes) }
        state.withLock {
            $0.log = entries
            $0.checkpoints = checkpoints
        }
    }

    func forge(_ replica: ReplicaID) { _ = state.withLock { $0.forging.insert(replica) } }
    /// The replica serves its last entry one sequence later (the same keys verify it there).
    func shift(_ replica: ReplicaID) { _ = state.withLock { $0.shifting.insert(replica) } }
    func down(_ replica: ReplicaID) { _ = state.withLock { $0.down.insert(replica) } }
    var submitted: [[UInt8]] { state.withLock { $0.submitted } }

    struct Unreachable: Error {}

    func send(_ request: [UInt8], to peer: ReplicaID) async throws -> [UInt8] {
        try state.withLock { s in
            guard !s.down.contains(peer) else { throw Unreachable() }
            switch try PeerRequest(bytes: request) {
            case .watchLog(let after, let limit, _):
                var entries = Array(s.log.dropFirst(Int(after)).prefix(Int(limit)))
                if s.forging.contains(peer), let last = entries.last {
                    // The outcome of the last entry turned around.
                    entries[entries.count - 1] = LogEntry(sequence: last.sequence, kind: last.kind, item: last.item, certificate: last.certificate,
                                                          status: last.status == .accepted ? .void : .accepted, reason: "")
                }
                if s.shifting.contains(peer), let last = entries.last {
                    entries[entries.count - 1] = LogEntry(sequence: last.sequence + 1, kind: last.kind, item: last.item,
                                                          certificate: last.certificate, status: last.status, reason: last.reason)
                }
                return LogEntry.encodeList(entries)
            case .stableCheckpoints(let after, let limit):
                return CheckpointCertificate.encodeList(Array(s.checkpoints.filter { $0.boundary > after }.prefix(Int(limit))))
            case .submitClientRecord(let bytes):
                s.submitted.append(bytes)
                return ClientSubmissionState(state: .pending, approvals: 1, quorum: 3).encoded
            default:
                throw ClusterError.notAReplica
            }
        }
    }
}

/// The ledger and replicas of a `ClusterFixture`: notices applied to the true log, certificates
/// made with the bootstrap keys (no replica rotates here), stable checkpoints at every boundary.
struct ScriptedLedger {
    let fixture: ClusterFixture
    var log: KeyLog
    var checkpoints: [CheckpointCertificate] = []
    var sequence: UInt64 = 0
    let replicas = ScriptedReplicas()

    init(fixture: ClusterFixture) {
        self.fixture = fixture
        log = KeyLog(configuration: fixture.configuration)
    }

    var approvers: [TestKeys] { fixture.bootstrap(0..<fixture.configuration.quorum) }

    mutating func schedule(_ command: OperatorCommand) throws {
        sequence += 1
        try log.schedule(sequence: sequence, kind: .command, item: command.bytes,
                         certificate: try fixture.certificate(of: command, by: approvers).bytes)
        replicas.publish(log, checkpoints: checkpoints)
    }

    mutating func schedule(_ record: ClientKeyRecord) throws {
        sequence += 1
        try log.schedule(sequence: sequence, kind: .clientRecord, item: record.bytes,
                         certificate: try fixture.certificate(of: record, by: approvers).bytes)
        replicas.publish(log, checkpoints: checkpoints)
    }

    /// The next boundary's notice and its stable checkpoint, signed by the bootstrap main keys.
    mutating func checkpoint() throws {
        let boundary = (sequence / fixture.interval + 1) * fixture.interval
        sequence = boundary
        try log.checkpoint(boundary: boundary)
        let position = log.position(atBoundary: boundary)
        let statement = CheckpointStatement(boundary: boundary, ledgerDigest: [UInt8](repeating: UInt8(boundary % 251), count: 32),
                                            logLength: position.length, logHead: position.head)
        let signatures = approvers.map { fixture.checkpointSignature(statement, by: $0) }
        checkpoints.append(try CheckpointCertificate.combine(signatures, cluster: fixture.cluster, quorum: fixture.configuration.quorum) {
            fixture.keys(Int($0.replica.rawValue), epoch: 0).mainPublicKey
        })
        replicas.publish(log, checkpoints: checkpoints)
    }
}

@Suite("Client node engine")
struct ClientNodeTests {
    static let client = ClientID(1)
    static func name(_ e: UInt64) -> ClientKeyName { ClientKeyName(client: client, epoch: e) }

    func node(_ fixture: ClusterFixture, _ ledger: ScriptedLedger, vault: InMemoryClientVault, audit: RecordingAuditSink) -> ClientNode {
        ClientNode(configuration: fixture.configuration, client: Self.client, vault: vault, transport: ledger.replicas,
                   clock: ManualClock(), audit: audit, peerTimeout: .seconds(2))
    }

    @Test("follows and verifies the log, fixes it at stable checkpoints, rotates on its order, switches at activation, destroys the old keys, and restarts from its vault")
    func followRotateRestart() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var ledger = ScriptedLedger(fixture: fixture)
        let vault = InMemoryClientVault(seed: 77, scheme: .ecdsaP256SHA256)
        let audit = RecordingAuditSink()
        let descriptor = try await vault.initialDescriptor(cluster: fixture.cluster, client: Self.client)
        try ledger.schedule(try await fixture.command(1, .addClient(descriptor)))
        try ledger.checkpoint()
        try ledger.checkpoint()

        let client = node(fixture, ledger, vault: vault, audit: audit)
        try await client.start()
        #expect(try await client.follow(wait: .zero) == .idle)
        var status = await client.status()
        #expect(status.phase == .following)
        #expect(status.logHead == ledger.log.head)
        #expect(status.stableLength == 1 && status.latestStableBoundary == 8)
        #expect(status.active == Self.name(0))
        let message = Array("pay 5".utf8)
        let old = try await client.sign(message)
        #expect(descriptor.keySet.signingKey.isValidSignature(old.signature, for: message))

        // The order: one entry, not yet fixed by a stable checkpoint, acted on at once.
        try ledger.schedule(try await fixture.command(2, .rotateClientKeys(targets: [Self.client], kinds: [.signing, .apiTLS])))
        let progress = try await client.follow(wait: .zero)
        guard case .submitted(let submittedName, let relay, let answer) = progress else {
            Issue.record("no submission: \(progress)")
            return
        }
        #expect(submittedName == Self.name(1) && relay == ReplicaID(1) && answer.state == .pending)
        status = await client.status()
        #expect(status.logLength == 2 && status.stableLength == 1, "the order's entry is held, not stored")
        #expect(try await vault.logEntries(after: 0, limit: 10).count == 1)
        #expect(status.pendingCommand == 2 && status.pendingKinds == [.signing, .apiTLS])
        #expect(status.candidate == Self.name(1))

        let record = try ClientKeyRecord(bytes: try #require(ledger.replicas.submitted.last))
        #expect(record.command == 2)
        #expect(record.keySet.tlsPin == descriptor.keySet.tlsPin, "the TLS key carried over")
        #expect(record.keySet.signingKey != descriptor.keySet.signingKey && record.keySet.apiTLSPin != descriptor.keySet.apiTLSPin)
        #expect(record.keySet.signingKey.scheme == .ecdsaP256SHA256)
        try record.verify(cluster: fixture.cluster, authorityKey: descriptor.keySet.signingKey)

        // The same record again each round until it is in the log.
        _ = try await client.advance()
        #expect(ledger.replicas.submitted.count == 2 && ledger.replicas.submitted[1] == record.bytes)
        try ledger.schedule(record)
        try ledger.checkpoint()  // 12: scheduled at 10, active after 16
        try await client.follow(wait: .zero)
        status = await client.status()
        #expect(status.newest == Self.name(1) && status.active == Self.name(0) && status.tlsKey == Self.name(0))
        #expect(status.pendingCommand == nil)
        #expect(try await client.sign(message).name == Self.name(0))

        try ledger.checkpoint()  // 16: the new keys active, and a stable checkpoint at their activation
        try await client.follow(wait: .zero)
        status = await client.status()
        #expect(status.active == Self.name(1) && status.tlsKey == Self.name(1))
        #expect(status.stableLength == ledger.log.length && status.latestStableBoundary == 16)
        let new = try await client.sign(message)
        #expect(new.name == Self.name(1))
        #expect(record.keySet.signingKey.isValidSignature(new.signature, for: message))
        #expect(try await !vault.holdsKeys(Self.name(0)))
        let held = await vault.heldPublicKeys
        #expect(!held.contains(descriptor.keySet.signingKey.rawRepresentation) && !held.contains(descriptor.keySet.apiTLSPin))
        #expect(held.contains(descriptor.keySet.tlsPin), "carried: lives on under (client 1, e1)")
        #expect(await audit.events("cluster.keys-destroyed").map(\.subject) == ["\(Self.name(0))"])

        // Restarted on its vault: the fixed log and the keys it holds, nothing else.
        let restarted = node(fixture, ledger, vault: vault, audit: audit)
        try await restarted.start()
        let replayed = await restarted.status()
        #expect(replayed.logHead == ledger.log.head && replayed.latestStableBoundary == 16)
        #expect(replayed.phase == .catchingUp && replayed.tlsKey == Self.name(1))
        #expect(try await restarted.sign(message).name == Self.name(1))
    }

    @Test("a replica that serves a turned-around entry or cannot be reached is left for the next; nothing it served is kept")
    func leavesFaultyReplicas() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var ledger = ScriptedLedger(fixture: fixture)
        let vault = InMemoryClientVault(seed: 78)
        let audit = RecordingAuditSink()
        try ledger.schedule(try await fixture.command(1, .addClient(try await vault.initialDescriptor(cluster: fixture.cluster, client: Self.client))))
        ledger.replicas.forge(ReplicaID(1))
        ledger.replicas.down(ReplicaID(2))
        let client = node(fixture, ledger, vault: vault, audit: audit)
        try await client.start()

        try await client.follow(wait: .zero)
        #expect(await client.status().phase == .unregistered, "the forged answer was dropped whole")
        #expect(await client.status().logLength == 0)
        try await client.follow(wait: .zero)
        try await client.follow(wait: .zero)
        let status = await client.status()
        #expect(status.followedReplica == ReplicaID(3))
        #expect(status.phase == .following && status.logHead == ledger.log.head)
        let refused = await audit.events("cluster.follow", outcome: "refused")
        #expect(refused.map(\.subject) == ["from replica 1", "from replica 2"])
        #expect(refused[0].detail == ClusterError.logEntryMismatch(index: 0).description)
    }

    @Test("a real entry served at another sequence is found out by the next stable checkpoint: the unfixed tail is dropped and fetched again elsewhere")
    func rollsBackAFalseTail() async throws {
        let fixture = try await ClusterFixture(n: 4)
        var ledger = ScriptedLedger(fixture: fixture)
        let vault = InMemoryClientVault(seed: 79)
        let audit = RecordingAuditSink()
        try ledger.schedule(try await fixture.command(1, .addClient(try await vault.initialDescriptor(cluster: fixture.cluster, client: Self.client))))
        ledger.replicas.shift(ReplicaID(1))
        let client = node(fixture, ledger, vault: vault, audit: audit)
        try await client.start()
        try await client.follow(wait: .zero)
        #expect(await client.status().logLength == 1)
        #expect(await client.status().logHead != ledger.log.head, "accepted entry by entry: only a stable checkpoint tells")

        try ledger.checkpoint()
        try await client.follow(wait: .zero)
        var status = await client.status()
        #expect(status.logLength == 0 && status.stableLength == 0, "the tail dropped")
        #expect(try await vault.logEntries(after: 0, limit: 10).isEmpty, "nothing of it stored")
        #expect(status.followedReplica == ReplicaID(2))
        #expect(await audit.events("cluster.follow", outcome: "refused").map(\.detail) == [ClusterError.logHeadMismatch(boundary: 4).description])

        try await client.follow(wait: .zero)
        status = await client.status()
        #expect(status.logHead == ledger.log.head && status.stableLength == 1 && status.latestStableBoundary == 4)
    }
}
