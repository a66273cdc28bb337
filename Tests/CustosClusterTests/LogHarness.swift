import BLS12381
import CustosCrypto
import Testing
@testable import CustosCluster

/// A key log fed in ledger order by a test: each schedule notice at the next sequence, with
/// the checkpoint notices a ledger would give at every boundary passed, and certificates by Q
/// replicas of keyset(s) whose private keys the fixture derives.
struct LogHarness {
    let fixture: ClusterFixture
    var log: KeyLog
    /// The sequence of the last notice.
    private(set) var s: UInt64 = 0

    init(n: Int = 4, interval: UInt64 = 4) async throws {
        fixture = try await ClusterFixture(n: n, interval: interval)
        log = KeyLog(configuration: fixture.configuration)
    }

    var cluster: [UInt8] { fixture.cluster }

    /// Moves to the next sequence, handing in the checkpoint notice for a boundary passed.
    mutating func next() throws -> UInt64 {
        if s > 0, s % log.interval == 0, s > log.checkpointNotice { try log.checkpoint(boundary: s) }
        s += 1
        return s
    }

    /// Hands in checkpoint notices until every accepted entry so far is active.
    mutating func settle() throws {
        let boundary = KeyLog.activationBoundary(sequence: max(s, 1), interval: log.interval)
        try log.checkpoint(boundary: boundary)
        s = boundary
    }

    /// Q replicas of keyset(s) whose consensus keys are the fixture's derived keys.
    func approvers(at t: UInt64) throws -> [TestKeys] {
        let keyset = try log.keyset(at: t)
        let usable = keyset.keys.map { fixture.keys($0.name.replica.index, generation: $0.name.generation, epoch: $0.name.epoch) }
            .filter { keyset($0.name.replica)?.consensusKey == $0.consensus.publicKey }
        return Array(usable.prefix(fixture.configuration.quorum))
    }

    /// Schedules `item` at the next sequence with `certificate`, or with a certificate over
    /// `message` by Q replicas of keyset(s).
    @discardableResult
    mutating func schedule(_ kind: ScheduledKind, _ item: [UInt8], certificate: [UInt8]?, message: [UInt8],
                           domain: BLS12381.DomainSeparationTag) throws -> LogEntry {
        let t = try next()
        let cert = try certificate ?? fixture.certificate(message: message, domain: domain, by: approvers(at: t)).bytes
        return try LogEntry(bytes: log.schedule(sequence: t, kind: kind, item: item, certificate: cert).bytes)
    }

    @discardableResult
    mutating func schedule(_ command: OperatorCommand, certificate: [UInt8]? = nil) throws -> LogEntry {
        try schedule(.command, command.bytes, certificate: certificate,
                     message: OperatorCommand.approvalMessage(cluster: cluster, command: command), domain: SignatureTag.commandApprovalDST)
    }

    @discardableResult
    mutating func schedule(_ record: ClientKeyRecord, certificate: [UInt8]? = nil) throws -> LogEntry {
        try schedule(.clientRecord, record.bytes, certificate: certificate,
                     message: ClientKeyRecord.approvalMessage(cluster: cluster, record: record), domain: SignatureTag.clientKeyApprovalDST)
    }

    @discardableResult
    mutating func schedule(_ record: KeyExchangeRecord, certificate: [UInt8]? = nil) throws -> LogEntry {
        try schedule(.replicaRecord, record.bytes, certificate: certificate,
                     message: Approval.message(cluster: cluster, record: record), domain: SignatureTag.keyLogApprovalDST)
    }

    /// Signs and schedules command `number`, expecting it accepted.
    @discardableResult
    mutating func execute(_ number: UInt64, _ action: OperatorCommand.Action) async throws -> OperatorCommand {
        let command = try await fixture.command(number, action)
        let entry = try schedule(command)
        #expect(entry.status == .accepted, "command \(number) (\(action.name)): \(entry.reason)")
        return command
    }

    /// Adds client k with its derived epoch-0 keys.
    mutating func addClient(_ k: Int, number: UInt64, scheme: SignatureScheme = .ed25519) async throws {
        let descriptor = try await fixture.clientDescriptor(k, keys: fixture.clientKeys(k, epoch: 0, scheme: scheme))
        try await execute(number, .addClient(descriptor))
    }
}

/// Expects a void entry with `reason`.
func expectVoid(_ entry: LogEntry, _ reason: KeyLog.VoidReason, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(entry.status == .void && entry.reason == reason.rawValue, "expected \(reason.rawValue), got \(entry.status) \(entry.reason)",
            sourceLocation: sourceLocation)
}
