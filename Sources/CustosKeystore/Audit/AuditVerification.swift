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
        /// A checkpoint whose signature or head does not match.
        case badCheckpoint = "bad-checkpoint"
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
    public var intact: Bool { findings.isEmpty }
}

extension AuditLog {
    /// Walks the whole chain in sequence order and names every record where it breaks.
    ///
    /// For each stored row its seal is recomputed. A row whose seal fails is tried at
    /// nearby sequences: a genuine record moved elsewhere (swapped, or renumbered to
    /// hide a deletion or an insertion) still has a valid seal for its original place
    /// and is reported as reordered. Otherwise it is edited if its successor still
    /// links to it, inserted if nothing does. Gaps in the sequence are deletions.
    /// Checkpoints then confirm signed heads and reveal truncation.
    ///
    /// - Parameter tenant: when set, only findings on that tenant's records (and
    ///   deletions, which have no tenant) are reported, so one tenant's auditor learns
    ///   nothing about another tenant's records.
    public func verify(tenant: String? = nil, pageSize: Int = 2000) async throws -> AuditVerification {
        var findings: [AuditVerification.Finding] = []
        var expectedSequence: Int64 = 1
        var previousHash = AuditRecord.genesisHash
        var count = 0
        var after: Int64 = 0
        var tenantOf: [Int64: String?] = [:]
        var rowsBySequence: [Int64: AuditRecord] = [:]

        // First pass: load and index (records are small; a node's log fits in memory
        // in pages; for very large logs, verify ranges between checkpoints).
        while true {
            let page = try await store.auditRecords(AuditQuery(after: after, limit: pageSize))
            guard let last = page.last else { break }
            for record in page {
                rowsBySequence[record.sequence] = record
                tenantOf[record.sequence] = record.tenantID
            }
            after = last.sequence
        }
        let sequences = rowsBySequence.keys.sorted()
        // Hashes some stored record links to: an edited record is still linked to by
        // its successor (its hash field is untouched); an inserted one is not.
        let linkedTo = Set(rowsBySequence.values.map(\.previousHash)).subtracting([AuditRecord.genesisHash])
        var shifted: (first: Int64, last: Int64, offset: Int64)?
        func flushShift() {
            guard let run = shifted else { return }
            let range = run.first == run.last ? "record \(run.first) was" : "records \(run.first)–\(run.last) were"
            let original = run.first == run.last ? "\(run.first + run.offset)" : "\(run.first + run.offset)–\(run.last + run.offset)"
            let cause = run.first == run.last ? "" : run.offset == 1 ? " (a record before them was deleted and the rest renumbered)"
                : run.offset == -1 ? " (a record was inserted before them)" : ""
            findings.append(.init(sequence: run.first, kind: .reordered, detail: "\(range) written as \(original)\(cause)"))
            shifted = nil
        }
        for sequence in sequences {
            let record = rowsBySequence[sequence]!
            count += 1
            if sequence > expectedSequence {
                flushShift()
                let range = expectedSequence == sequence - 1 ? "record \(expectedSequence) is" : "records \(expectedSequence)–\(sequence - 1) are"
                findings.append(.init(sequence: expectedSequence, kind: .deleted, detail: "\(range) missing"))
            }
            // A broken link right after a record already reported is that record's finding.
            let previousClean = (findings.last.map { $0.sequence < sequence - 1 } ?? true)
                && (shifted.map { $0.last < sequence - 1 } ?? true)
            if ConstantTime.equals(seal(record), record.hash) {
                flushShift()
                if !ConstantTime.equals(record.previousHash, previousHash), previousClean, sequence == expectedSequence {
                    findings.append(.init(sequence: sequence, kind: .inserted, detail: "the chain is broken before this record"))
                }
            } else if let original = originalSequence(of: record, near: sequence) {
                let offset = original - sequence
                if let run = shifted, run.offset == offset, run.last == sequence - 1, abs(offset) == 1 {
                    shifted = (run.first, sequence, offset)
                } else {
                    flushShift()
                    shifted = (sequence, sequence, offset)
                }
            } else {
                flushShift()
                let isLast = sequence == sequences.last
                if linkedTo.contains(record.hash) || (isLast && ConstantTime.equals(record.previousHash, previousHash)) {
                    findings.append(.init(sequence: sequence, kind: .edited, detail: "its content does not match its seal"))
                } else {
                    findings.append(.init(sequence: sequence, kind: .inserted, detail: "it was not written by this chain (no valid seal, nothing links to it)"))
                }
            }
            previousHash = record.hash
            expectedSequence = sequence + 1
        }
        flushShift()

        // Checkpoints: a valid signature over a head that the chain no longer has.
        var checkpointCount = 0
        var checkpointAfter: Int64 = 0
        let head = sequences.last ?? 0
        while true {
            let page = try await store.checkpoints(after: checkpointAfter, limit: 500)
            guard let last = page.last else { break }
            for checkpoint in page {
                checkpointCount += 1
                guard isValidCheckpointSignature(checkpoint) else {
                    findings.append(.init(sequence: checkpoint.sequence, kind: .badCheckpoint, detail: "checkpoint signature is invalid"))
                    continue
                }
                if checkpoint.sequence > head {
                    findings.append(.init(sequence: head + 1, kind: .truncated,
                                          detail: "a signed checkpoint names record \(checkpoint.sequence), but the log ends at \(head)"))
                } else if let record = rowsBySequence[checkpoint.sequence], !ConstantTime.equals(record.hash, checkpoint.headHash) {
                    findings.append(.init(sequence: checkpoint.sequence, kind: .badCheckpoint,
                                          detail: "the signed head for this record differs from the stored record"))
                }
            }
            checkpointAfter = last.sequence
        }

        if let tenant {
            findings = findings.filter { finding in
                guard let owner = tenantOf[finding.sequence] else { return true }
                return owner == tenant
            }
        }
        findings.sort { ($0.sequence, $0.kind.rawValue) < ($1.sequence, $1.kind.rawValue) }
        return AuditVerification(recordsChecked: count, headSequence: head, checkpointsChecked: checkpointCount, findings: findings)
    }

    /// The sequence a genuine record was sealed under, if it is within `window` of
    /// where it now sits: moved records keep a seal valid for their original place.
    private func originalSequence(of record: AuditRecord, near sequence: Int64, window: Int64 = 4096) -> Int64? {
        var candidate = record
        for distance in 1...window {
            for original in [sequence - distance, sequence + distance] where original >= 1 {
                candidate.sequence = original
                if ConstantTime.equals(seal(candidate), record.hash) { return original }
            }
        }
        return nil
    }
}
