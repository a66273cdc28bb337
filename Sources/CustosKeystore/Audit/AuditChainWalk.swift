import CustosCrypto
import CustosStore
import Foundation

/// The state of one verification walk: rows arrive in sequence order with one row of
/// look-ahead, checkpoints are merged in from their own stream, and heads claimed
/// from outside the database (the high-water mark, the off-node head) are checked
/// where their record is.
struct ChainWalk {
    /// A head some other place says the log had: it must still be in the log.
    struct Claim {
        var sequence: Int64
        var hash: [UInt8]
        var source: String
        /// The mark also says a checkpoint at least this new exists.
        var requiresCheckpoint = false
        var reported = false
    }

    /// A finding and the tenant of the record it is on (nil: on no tenant's record).
    struct Noted {
        var finding: AuditVerification.Finding
        var owner: String?
        init(_ finding: AuditVerification.Finding, owner: String?) {
            self.finding = finding
            self.owner = owner
        }
    }

    let log: AuditLog
    var checkpoints: CheckpointStream
    var claims: [Claim] = []
    var noted: [Noted] = []
    private(set) var count = 0
    private(set) var head: Int64 = 0
    private(set) var checkpointsChecked = 0
    private var expectedSequence: Int64 = 1
    private var previousHash = AuditRecord.genesisHash
    private var lastRecordFinding: Int64?
    private var shifted: (first: Int64, last: Int64, offset: Int64)?
    private var latestValidCheckpoint: Int64 = 0
    /// The highest checkpoint row of any kind (a forged or unreadable one is a finding).
    private var latestCheckpointRow = Int64.min

    init(log: AuditLog, checkpoints: CheckpointStream) {
        self.log = log
        self.checkpoints = checkpoints
    }

    private mutating func note(_ sequence: Int64, _ kind: AuditVerification.Kind, _ detail: String, owner: String?, onRecord: Bool = true) {
        noted.append(Noted(.init(sequence: sequence, kind: kind, detail: detail), owner: owner))
        if onRecord { lastRecordFinding = sequence }
    }

    private mutating func flushShift() {
        guard let run = shifted else { return }
        let range = run.first == run.last ? "record \(run.first) was" : "records \(run.first)–\(run.last) were"
        let original = run.first == run.last ? "\(run.first + run.offset)" : "\(run.first + run.offset)–\(run.last + run.offset)"
        let cause = run.first == run.last ? "" : run.offset == 1 ? " (a record before them was deleted and the rest renumbered)"
            : run.offset == -1 ? " (a record was inserted before them)" : ""
        shifted = nil
        note(run.first, .reordered, "\(range) written as \(original)\(cause)", owner: nil)
    }

    mutating func visit(_ row: AuditRow, next: AuditRow?) async throws {
        // A row that fails its seal costs thousands of HMACs (the search for where it
        // was written): check for cancellation at every row, not only every page.
        try Task.checkCancellation()
        count += 1
        var owner: String?
        if case .record(let record) = row { owner = record.tenantID }
        try await mergeCheckpoints(upTo: row, owner: owner)
        let sequence = row.sequence
        guard sequence >= 1 else {
            note(sequence, .outOfRange, "a record at sequence \(sequence) is outside the chain (sequences start at 1)", owner: owner)
            return
        }
        head = sequence
        if sequence > expectedSequence {
            flushShift()
            let range = expectedSequence == sequence - 1 ? "record \(expectedSequence) is" : "records \(expectedSequence)–\(sequence - 1) are"
            note(expectedSequence, .deleted, "\(range) missing", owner: nil)
        }
        defer { expectedSequence = sequence &+ 1 }
        guard case .record(let record) = row else {
            flushShift()
            if case .unreadable(_, let reason) = row { note(sequence, .unreadable, reason, owner: nil) }
            previousHash = []
            checkClaims(at: sequence, hash: nil)
            return
        }
        // A broken link right after a record already reported is that record's finding.
        let previousClean = (lastRecordFinding.map { $0 < sequence - 1 } ?? true) && (shifted.map { $0.last < sequence - 1 } ?? true)
        if ConstantTime.equals(log.seal(record), record.hash) {
            flushShift()
            if !ConstantTime.equals(record.previousHash, previousHash), previousClean {
                note(sequence, .inserted, "the chain is broken before this record", owner: owner)
            }
        } else if let original = log.originalSequence(of: record, near: sequence) {
            let offset = original - sequence
            if let run = shifted, run.offset == offset, run.last == sequence - 1, abs(offset) == 1 {
                shifted = (run.first, sequence, offset)
            } else {
                flushShift()
                shifted = (sequence, sequence, offset)
            }
        } else {
            flushShift()
            var linked = false
            if case .record(let successor) = next { linked = ConstantTime.equals(successor.previousHash, record.hash) }
            if linked || (next == nil && ConstantTime.equals(record.previousHash, previousHash)) {
                note(sequence, .edited, "its content does not match its seal", owner: owner)
            } else {
                note(sequence, .inserted, "it was not written by this chain (no valid seal, nothing links to it)", owner: owner)
            }
        }
        previousHash = record.hash
        checkClaims(at: sequence, hash: record.hash)
    }

    /// Claims on the record at `sequence` (nil hash: the row is unreadable, already named).
    private mutating func checkClaims(at sequence: Int64, hash: [UInt8]?) {
        for index in claims.indices where claims[index].sequence == sequence {
            guard let hash, !ConstantTime.equals(hash, claims[index].hash) else { continue }
            claims[index].reported = true
            note(sequence, .rolledBack, "\(claims[index].source) names another record here: the log was rolled back and rewritten", owner: nil, onRecord: false)
        }
    }

    /// Checkpoints before `row` (their record is missing) and at it.
    private mutating func mergeCheckpoints(upTo row: AuditRow, owner: String?) async throws {
        while let next = try await checkpoints.peek(), next.sequence <= row.sequence {
            _ = try await checkpoints.next()
            check(next, against: next.sequence == row.sequence ? row : nil, owner: next.sequence == row.sequence ? owner : nil)
        }
    }

    private mutating func check(_ row: CheckpointRow, against record: AuditRow?, owner: String?) {
        checkpointsChecked += 1
        latestCheckpointRow = max(latestCheckpointRow, row.sequence)
        switch row {
        case .unreadable(let sequence, let reason):
            note(sequence, .unreadable, "checkpoint: \(reason)", owner: owner, onRecord: false)
        case .checkpoint(let checkpoint):
            guard checkpoint.sequence >= 1 else {
                note(checkpoint.sequence, .outOfRange, "a checkpoint at sequence \(checkpoint.sequence) is outside the chain", owner: owner, onRecord: false)
                return
            }
            guard log.isValidCheckpointSignature(checkpoint) else {
                let detail = checkpoint.signerFingerprint == log.signerFingerprint
                    ? "checkpoint signature is invalid (its sequence, head, time or signer was changed)"
                    : "checkpoint names a signer other than this log's audit key"
                note(checkpoint.sequence, .badCheckpoint, detail, owner: owner, onRecord: false)
                return
            }
            latestValidCheckpoint = max(latestValidCheckpoint, checkpoint.sequence)
            if case .record(let stored) = record, !ConstantTime.equals(stored.hash, checkpoint.headHash) {
                note(checkpoint.sequence, .badCheckpoint, "the signed head for this record differs from the stored record", owner: owner, onRecord: false)
            }
        }
    }

    /// After the last row: checkpoints and claims beyond the end, and checkpoints
    /// older than the mark.
    mutating func finish() async throws {
        flushShift()
        let validBefore = latestValidCheckpoint
        while let row = try await checkpoints.next() {
            check(row, against: nil, owner: nil)
        }
        if latestValidCheckpoint > validBefore, latestValidCheckpoint > head {
            note(head + 1, .truncated, "a signed checkpoint names record \(latestValidCheckpoint), but the log ends at \(head)", owner: nil, onRecord: false)
        }
        for claim in claims where !claim.reported {
            if claim.sequence > head {
                // A signed checkpoint beyond the end already says so.
                guard latestValidCheckpoint < claim.sequence else { continue }
                note(head + 1, .rolledBack, "\(claim.source) names record \(claim.sequence), but the log ends at \(head)", owner: nil, onRecord: false)
            } else if claim.requiresCheckpoint, latestValidCheckpoint < claim.sequence, latestCheckpointRow < claim.sequence {
                let latest = latestValidCheckpoint == 0 ? "there is none" : "the latest is at record \(latestValidCheckpoint)"
                note(claim.sequence, .rolledBack, "\(claim.source) names a checkpoint at record \(claim.sequence), but \(latest) (checkpoints were deleted)",
                     owner: nil, onRecord: false)
            }
        }
    }
}
