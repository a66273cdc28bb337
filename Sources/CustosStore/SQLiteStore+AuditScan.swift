import Foundation
import SQLKit

// The verifier's view of the audit tables: a cell that does not decode makes its row
// `unreadable`, not the whole scan fail.
extension SQLiteStore: AuditScanning {
    public func auditRows(from: Int64, limit: Int) async throws -> [AuditRow] {
        try await exclusive {
            // `sequence` is the rowid, so it always decodes; other cells may not.
            try await rows("SELECT * FROM audit_records WHERE sequence >= \(bind: from) ORDER BY sequence LIMIT \(unsafeRaw: String(max(0, limit)))")
                .map { row in
                    let sequence = try row.decode(column: "sequence", as: Int64.self)
                    do {
                        return .record(try Self.auditRecord(from: row))
                    } catch {
                        return .unreadable(sequence: sequence, reason: Self.undecodable(row, error))
                    }
                }
        }
    }

    public func checkpointRows(from: Int64, limit: Int) async throws -> [CheckpointRow] {
        try await exclusive {
            try await rows("SELECT * FROM audit_checkpoints WHERE sequence >= \(bind: from) ORDER BY sequence LIMIT \(unsafeRaw: String(max(0, limit)))")
                .map { row in
                    let sequence = try row.decode(column: "sequence", as: Int64.self)
                    do {
                        return .checkpoint(try Self.checkpoint(from: row))
                    } catch {
                        return .unreadable(sequence: sequence, reason: Self.undecodable(row, error))
                    }
                }
        }
    }

    /// Names the columns that failed to decode, never their values.
    private static func undecodable(_ row: any SQLRow, _ error: any Error) -> String {
        if case DecodingError.typeMismatch(_, let context) = error, let key = context.codingPath.last {
            return "column \(key.stringValue) does not hold the expected type"
        }
        return "a column does not hold the expected type"
    }
}
