import CustosCrypto
import CustosStore
import Foundation

/// What `AuditLog.verify` found.
public struct AuditVerification: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// A record's content no longer matches its seal.
        case edited
        /// Sequence numbers are missing.
        case deleted
        /// A sealed record that was not written by this chain (links to nothing here).
        case inserted
        /// A genuine record at another place than where it was written.
        case reordered
        /// The newest records are gone: a signed checkpoint names a later head.
        case truncated
        /// A checkpoint whose signature, signer or head does not match.
        case badCheckpoint = "bad-checkpoint"
        /// A row whose cells do not decode (text in an integer column).
        case unreadable
        /// A row at sequence 0 or below, where the chain never writes.
        case outOfRange = "out-of-range"
        /// The log is older than the sealed high-water mark or the off-node head says.
        case rolledBack = "rolled-back"
        /// The high-water mark file is missing, forged or unreadable.
        case badMark = "bad-mark"
        /// The off-node head could not be read or is not signed by this log's key.
        case badHead = "bad-head"
    }

    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var sequence: Int64
        public var kind: Kind
        public var detail: String
        public var description: String { "record \(sequence): \(kind.rawValue): \(detail)" }
    }

    public var recordsChecked: Int
    public var headSequence: Int64
    public var checkpointsChecked: Int
    public var findings: [Finding]
    /// Heads from before a restore that this log does not contain, each accepted by the
    /// `backup.restore` record that names it: the fork is recorded, not a rollback.
    public var restoredForks: [String] = []
    public var intact: Bool { findings.isEmpty }
}

extension AuditLog {
    /// Walks the whole chain in sequence order, in pages (memory stays bounded by the
    /// page size and the findings), and names every record where it breaks.
    ///
    /// For each stored row its seal is recomputed. A row whose seal fails is tried at
    /// nearby sequences: a genuine record moved elsewhere (swapped, or renumbered to
    /// hide a deletion or an insertion) still has a valid seal for its original place
    /// and is reported as reordered. Otherwise it is edited if its successor still
    /// links to it, inserted if nothing does. Gaps in the sequence are deletions.
    /// Checkpoints then confirm signed heads and reveal truncation; the sealed
    /// high-water mark and the off-node head (when a sink is attached) reveal a log
    /// cut back together with its checkpoints. Cancelling the task stops the walk.
    ///
    /// - Parameter tenant: when set, only findings on that tenant's records (and
    ///   findings on no record, like deletions) are reported, so one tenant's auditor
    ///   learns nothing about another tenant's records.
    public func verify(tenant: String? = nil, pageSize: Int = 2000) async throws -> AuditVerification {
        do {
            return try await walk(tenant: tenant, pageSize: max(1, pageSize))
        } catch where Task.isCancelled {
            // The store reports a cancelled query as its own error; callers see one kind.
            throw CancellationError()
        }
    }

    private func walk(tenant: String?, pageSize: Int) async throws -> AuditVerification {
        var walk = ChainWalk(log: self, checkpoints: CheckpointStream(store: store))
        var claims: [ChainWalk.Claim] = []
        var preliminary: [ChainWalk.Noted] = []
        if let markPath {
            switch AuditMark.read(markPath, key: markKey) {
            case .absent:
                preliminary.append(.init(.init(sequence: 0, kind: .badMark, detail: "the high-water mark file \(markPath) is missing"), owner: nil))
            case .invalid(let reason):
                preliminary.append(.init(.init(sequence: 0, kind: .badMark, detail: reason), owner: nil))
            case .valid(let mark):
                claims.append(.init(sequence: mark.sequence, hash: mark.headHash, source: "the sealed high-water mark", requiresCheckpoint: true))
            }
        }
        if let sink {
            do {
                if let head = try await sink.latest() {
                    if isValidCheckpointSignature(head) {
                        claims.append(.init(sequence: head.sequence, hash: head.headHash, source: "the off-node head at \(sink.location)"))
                    } else {
                        preliminary.append(.init(.init(sequence: head.sequence, kind: .badHead,
                                                       detail: "the head at \(sink.location) is not signed by this log's audit key"), owner: nil))
                    }
                }
            } catch {
                preliminary.append(.init(.init(sequence: 0, kind: .badHead, detail: "the off-node head could not be read: \(error)"), owner: nil))
            }
        }
        var forks: [String] = []
        var kept: [ChainWalk.Claim] = []
        for claim in claims where claim.sequence > 0 {
            if let head = try await store.auditHead(), try await missing(claim.sequence, claim.hash, in: head) != nil,
               let restore = try await restoreRecord(naming: claim.sequence, claim.hash) {
                forks.append("\(claim.source) names record \(claim.sequence) of the log before the restore recorded at record \(restore.sequence) (backup.restore)")
            } else {
                kept.append(claim)
            }
        }
        walk.claims = kept.sorted { $0.sequence < $1.sequence }
        walk.noted = preliminary

        var from = Int64.min
        var pending: AuditRow?
        while true {
            try Task.checkCancellation()
            let page = try await store.auditRows(from: from, limit: pageSize)
            for row in page {
                if let pending { try await walk.visit(pending, next: row) }
                pending = row
            }
            guard let last = page.last, page.count == pageSize, last.sequence < .max else { break }
            from = last.sequence + 1
        }
        if let pending { try await walk.visit(pending, next: nil) }
        try await walk.finish()

        var findings = walk.noted
        if let tenant {
            findings = findings.filter { $0.owner == nil || $0.owner == tenant }
        }
        let sorted = findings.map(\.finding).sorted { ($0.sequence, $0.kind.rawValue) < ($1.sequence, $1.kind.rawValue) }
        return AuditVerification(recordsChecked: walk.count, headSequence: walk.head, checkpointsChecked: walk.checkpointsChecked, findings: sorted,
                                 restoredForks: forks)
    }

    /// Every completed verification is itself recorded (who, which tenant, the outcome),
    /// after the walk, so the record never covers itself. A refused one is recorded as
    /// denied by the caller's authorisation check.
    public func recordVerification(_ result: AuditVerification, actor: String, tenant: String?) async throws {
        try await record(AuditEvent(time: clock(), actor: actor, tenantID: tenant, operation: .auditVerify, outcome: .success,
                                    details: ["intact": result.intact ? "true" : "false", "findings": String(result.findings.count),
                                              "records": String(result.recordsChecked)]))
    }

    /// The sequence a genuine record was sealed under, if it is within `window` of
    /// where it now sits: moved records keep a seal valid for their original place.
    func originalSequence(of record: AuditRecord, near sequence: Int64, window: Int64 = 4096) -> Int64? {
        var candidate = record
        for distance in 1...window {
            for original in [sequence &- distance, sequence &+ distance] where original >= 1 {
                candidate.sequence = original
                if ConstantTime.equals(seal(candidate), record.hash) { return original }
            }
        }
        return nil
    }
}

/// Checkpoints in sequence order, a page at a time, for a merge with the records.
struct CheckpointStream {
    let store: any Store
    private var buffer: [CheckpointRow] = []
    private var index = 0
    private var from = Int64.min
    private var exhausted = false

    init(store: any Store) { self.store = store }

    /// The next checkpoint row without consuming it.
    mutating func peek() async throws -> CheckpointRow? {
        if index < buffer.count { return buffer[index] }
        guard !exhausted else { return nil }
        try Task.checkCancellation()
        buffer = try await store.checkpointRows(from: from, limit: 500)
        index = 0
        if let last = buffer.last, buffer.count == 500, last.sequence < .max { from = last.sequence + 1 } else { exhausted = true }
        return buffer.first
    }

    mutating func next() async throws -> CheckpointRow? {
        let row = try await peek()
        if row != nil { index += 1 }
        return row
    }
}
