import Foundation

/// One stored audit row as the verifier reads it: a record, or a row whose cells do
/// not decode (someone wrote text into an integer column). The verifier names the
/// second kind instead of stopping at the first bad cell.
public enum AuditRow: Sendable, Equatable {
    case record(AuditRecord)
    case unreadable(sequence: Int64, reason: String)

    public var sequence: Int64 {
        switch self {
        case .record(let record): record.sequence
        case .unreadable(let sequence, _): sequence
        }
    }
}

/// One stored checkpoint row, or the sequence of one that does not decode.
public enum CheckpointRow: Sendable, Equatable {
    case checkpoint(AuditCheckpoint)
    case unreadable(sequence: Int64, reason: String)

    public var sequence: Int64 {
        switch self {
        case .checkpoint(let checkpoint): checkpoint.sequence
        case .unreadable(let sequence, _): sequence
        }
    }
}

/// Reading the whole log in pages for verification: every row, whatever its sequence
/// (zero and negative included), without failing on a damaged one.
public protocol AuditScanning: Sendable {
    /// Rows with a sequence of at least `from`, in sequence order, at most `limit`.
    func auditRows(from: Int64, limit: Int) async throws -> [AuditRow]
    /// Checkpoint rows with a sequence of at least `from`, in sequence order.
    func checkpointRows(from: Int64, limit: Int) async throws -> [CheckpointRow]
}
