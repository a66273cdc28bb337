import Foundation
import SQLKit

// The replica network's rows (schema 6; generation of the membership: 7). Each decision is one BEGIN IMMEDIATE … COMMIT
// holding the check, the write and the audit append: with synchronous = FULL in WAL mode,
// one fsync, and nothing of it survives unless all of it does.
extension SQLiteStore {
    // MARK: Membership and key sets

    public func clusterMembership() async throws -> ClusterMembershipRecord? {
        try await exclusive {
            try await rows("SELECT * FROM cluster_membership WHERE id = 1").first.map { row in
                ClusterMembershipRecord(clusterID: Array(try row.decode(column: "cluster_id", as: Data.self)),
                                        replica: try row.decode(column: "replica", as: Int.self),
                                        configuration: Array(try row.decode(column: "configuration", as: Data.self)),
                                        joinedAt: Date(timeIntervalSince1970: try row.decode(column: "joined_at", as: Double.self)),
                                        generation: UInt64(try row.decode(column: "generation", as: Int64.self)))
            }
        }
    }

    public func joinCluster(_ membership: ClusterMembershipRecord, keys: [(KeyRecord, KeyVersionRecord)], keySet: ClusterKeySetRecord,
                            audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.requireNoMembership()
                let generation = try Self.integer(membership.generation, "generation")
                try await self.appendAuditInTransaction(audit)
                for (key, version) in keys { try await self.insertKeyRows(key, version) }
                try await self.insertKeySetRow(keySet)
                try await self.execute("""
                    INSERT INTO cluster_membership (id, cluster_id, replica, configuration, joined_at, generation)
                    VALUES (1, \(bind: Data(membership.clusterID)), \(bind: membership.replica), \(bind: Data(membership.configuration)),
                            \(bind: membership.joinedAt.timeIntervalSince1970), \(bind: generation))
                    """)
            }
        }
    }

    public func insertClusterKeySet(_ keySet: ClusterKeySetRecord, keys: [(KeyRecord, KeyVersionRecord)], audit: [AuditEvent]) async throws -> ClusterKeySetRecord {
        try await exclusive {
            try await transaction {
                if let existing = try await self.keySetRow(keySet.name) { return existing }
                try await self.appendAuditInTransaction(audit)
                for (key, version) in keys { try await self.insertKeyRows(key, version) }
                try await self.insertKeySetRow(keySet)
                return keySet
            }
        }
    }

    public func clusterKeySet(_ name: ClusterKeyRef) async throws -> ClusterKeySetRecord? {
        try await exclusive { try await keySetRow(name) }
    }

    public func clusterKeySets() async throws -> [ClusterKeySetRecord] {
        try await exclusive {
            try await rows("SELECT * FROM cluster_key_sets ORDER BY replica, generation, epoch").map(Self.keySet(from:))
        }
    }

    /// A data directory joins one cluster once, as a replica or as a client.
    func requireNoMembership() async throws {
        guard try await rows("SELECT id FROM cluster_membership").isEmpty,
              try await rows("SELECT id FROM cluster_client_membership").isEmpty else { throw StoreError.clusterAlreadyJoined }
    }

    private func insertKeySetRow(_ keySet: ClusterKeySetRecord) async throws {
        let (generation, epoch) = (try Self.integer(keySet.name.generation, "generation"), try Self.integer(keySet.name.epoch, "epoch"))
        try await execute("""
            INSERT INTO cluster_key_sets (replica, generation, epoch, record, consensus_key_id, main_key_id, tls_key_id, created_at)
            VALUES (\(bind: keySet.name.replica), \(bind: generation), \(bind: epoch), \(bind: Self.blob(keySet.record)),
                    \(bind: keySet.consensusKeyID), \(bind: keySet.mainKeyID), \(bind: keySet.tlsKeyID), \(bind: keySet.createdAt.timeIntervalSince1970))
            """)
    }

    private func keySetRow(_ name: ClusterKeyRef) async throws -> ClusterKeySetRecord? {
        let (generation, epoch) = (try Self.integer(name.generation, "generation"), try Self.integer(name.epoch, "epoch"))
        return try await rows("""
            SELECT * FROM cluster_key_sets WHERE replica = \(bind: name.replica) AND generation = \(bind: generation) AND epoch = \(bind: epoch)
            """).first.map(Self.keySet(from:))
    }

    private static func keySet(from row: any SQLRow) throws -> ClusterKeySetRecord {
        ClusterKeySetRecord(
            name: ClusterKeyRef(replica: try row.decode(column: "replica", as: Int.self),
                                generation: UInt64(try row.decode(column: "generation", as: Int64.self)),
                                epoch: UInt64(try row.decode(column: "epoch", as: Int64.self))),
            record: try row.decode(column: "record", as: Data?.self).map { Array($0) },
            consensusKeyID: try row.decode(column: "consensus_key_id", as: String.self),
            mainKeyID: try row.decode(column: "main_key_id", as: String.self),
            tlsKeyID: try row.decode(column: "tls_key_id", as: String.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
    }

    // MARK: Durable decisions

    public func decideClusterApproval(_ name: ClusterKeyRef, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome {
        let (generation, epoch) = (try Self.integer(name.generation, "generation"), try Self.integer(name.epoch, "epoch"))
        return try await decide(audit) {
            let found = try await self.rows("""
                SELECT digest FROM cluster_approvals WHERE replica = \(bind: name.replica) AND generation = \(bind: generation) AND epoch = \(bind: epoch)
                """)
            if let existing = try found.first.map({ Array(try $0.decode(column: "digest", as: Data.self)) }) {
                return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
            }
            try await self.execute("""
                INSERT INTO cluster_approvals (replica, generation, epoch, digest)
                VALUES (\(bind: name.replica), \(bind: generation), \(bind: epoch), \(bind: Data(digest)))
                """)
            return .recorded
        }
    }

    public func decideConsensusShare(view: UInt64, sequence: UInt64, phase: UInt8, digest: [UInt8], floor: UInt64,
                                     viewChangePhase: UInt8, audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome {
        let (view, sequence) = (try Self.integer(view, "view"), try Self.integer(sequence, "sequence"))
        return try await decide(audit) {
            // The floors and the slot in one statement: this is the hot path.
            guard let row = try await self.rows("""
                SELECT f.low_watermark, f.view_floor, f.highest_signed, s.digest FROM cluster_floors f
                LEFT JOIN cluster_shares s ON s.view = \(bind: view) AND s.sequence = \(bind: sequence) AND s.phase = \(bind: Int(phase))
                WHERE f.id = 1
                """).first else { throw StoreError.database("the consensus floors row is missing") }
            let lowWatermark = UInt64(try row.decode(column: "low_watermark", as: Int64.self))
            let viewFloor = UInt64(try row.decode(column: "view_floor", as: Int64.self))
            let effective = max(floor, lowWatermark)
            if UInt64(sequence) <= effective { return .belowFloor(floor: effective) }
            if UInt64(view) < viewFloor { return .viewLeft(viewFloor: viewFloor) }
            if let existing = try row.decode(column: "digest", as: Data?.self).map({ Array($0) }) {
                return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
            }
            try await self.execute("""
                INSERT INTO cluster_shares (view, sequence, phase, digest) VALUES (\(bind: view), \(bind: sequence), \(bind: Int(phase)), \(bind: Data(digest)))
                """)
            // The floors row changes only for a higher sequence or a view change (the other
            // phases of a sequence skip the statement).
            let highestSigned = try row.decode(column: "highest_signed", as: Int64?.self)
            let newViewFloor = phase == viewChangePhase ? max(Int64(viewFloor), view) : Int64(viewFloor)
            if newViewFloor != Int64(viewFloor) || highestSigned.map({ sequence > $0 }) ?? true {
                try await self.execute("""
                    UPDATE cluster_floors SET view_floor = \(bind: newViewFloor),
                    highest_signed = MAX(COALESCE(highest_signed, 0), \(bind: sequence)) WHERE id = 1
                    """)
            }
            return .recorded
        }
    }

    public func decideClusterCheckpoint(boundary: UInt64, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome {
        let boundary = try Self.integer(boundary, "boundary")
        return try await decide(audit) {
            let found = try await self.rows("SELECT digest FROM cluster_checkpoint_decisions WHERE boundary = \(bind: boundary)")
            if let existing = try found.first.map({ Array(try $0.decode(column: "digest", as: Data.self)) }) {
                return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
            }
            try await self.execute("INSERT INTO cluster_checkpoint_decisions (boundary, digest) VALUES (\(bind: boundary), \(bind: Data(digest)))")
            return .recorded
        }
    }

    /// One decision: `body` checks and writes, then the audit records of its outcome are
    /// appended, all in one transaction. A refusal writes only its audit record.
    func decide(_ audit: ClusterDecisionAudit, _ body: () async throws -> ClusterDecisionOutcome) async throws -> ClusterDecisionOutcome {
        try await exclusive {
            try await transaction {
                let outcome = try await body()
                try await self.appendAuditInTransaction(audit(outcome))
                return outcome
            }
        }
    }

    public func pruneConsensusShares(through sequence: UInt64) async throws {
        let sequence = try Self.integer(sequence, "sequence")
        try await exclusive {
            try await transaction {
                try await self.execute("DELETE FROM cluster_shares WHERE sequence <= \(bind: sequence)")
                try await self.execute("UPDATE cluster_floors SET low_watermark = MAX(low_watermark, \(bind: sequence)) WHERE id = 1")
            }
        }
    }

    public func consensusFloors() async throws -> ClusterFloorsRecord {
        try await exclusive { try await floorsRow() }
    }

    public func consensusShareDigest(view: UInt64, sequence: UInt64, phase: UInt8) async throws -> [UInt8]? {
        let (view, sequence) = (try Self.integer(view, "view"), try Self.integer(sequence, "sequence"))
        return try await exclusive {
            try await rows("""
                SELECT digest FROM cluster_shares WHERE view = \(bind: view) AND sequence = \(bind: sequence) AND phase = \(bind: Int(phase))
                """).first.map { Array(try $0.decode(column: "digest", as: Data.self)) }
        }
    }

    private func floorsRow() async throws -> ClusterFloorsRecord {
        guard let row = try await rows("SELECT * FROM cluster_floors WHERE id = 1").first else {
            throw StoreError.database("the consensus floors row is missing")
        }
        return ClusterFloorsRecord(lowWatermark: UInt64(try row.decode(column: "low_watermark", as: Int64.self)),
                                   viewFloor: UInt64(try row.decode(column: "view_floor", as: Int64.self)),
                                   highestSigned: try row.decode(column: "highest_signed", as: Int64?.self).map { UInt64($0) })
    }

    // MARK: Key log

    public func appendClusterLogEntry(_ row: ClusterLogRow) async throws {
        let (index, sequence) = (try Self.integer(row.index, "log index"), try Self.integer(row.sequence, "sequence"))
        try await exclusive {
            try await transaction {
                let count = try await self.rows("SELECT COUNT(*) AS n FROM cluster_log").first?.decode(column: "n", as: Int64.self) ?? 0
                guard count == index else { throw StoreError.clusterLogOutOfOrder(expected: UInt64(count), actual: row.index) }
                try await self.execute("""
                    INSERT INTO cluster_log (idx, sequence, entry, head) VALUES (\(bind: index), \(bind: sequence), \(bind: Data(row.entry)), \(bind: Data(row.head)))
                    """)
            }
        }
    }

    public func clusterLogEntries(after index: UInt64, limit: Int) async throws -> [ClusterLogRow] {
        guard index <= UInt64(Int64.max) else { return [] }
        return try await exclusive {
            try await rows("""
                SELECT * FROM cluster_log WHERE idx >= \(bind: Int64(index)) ORDER BY idx LIMIT \(unsafeRaw: String(max(0, limit)))
                """).map { row in
                ClusterLogRow(index: UInt64(try row.decode(column: "idx", as: Int64.self)),
                              sequence: UInt64(try row.decode(column: "sequence", as: Int64.self)),
                              entry: Array(try row.decode(column: "entry", as: Data.self)),
                              head: Array(try row.decode(column: "head", as: Data.self)))
            }
        }
    }

    // MARK: Certificates and stable checkpoints

    public func saveClusterCertificate(_ name: ClusterKeyRef, certificate: [UInt8]) async throws {
        let (generation, epoch) = (try Self.integer(name.generation, "generation"), try Self.integer(name.epoch, "epoch"))
        try await exclusive {
            // A record re-certified after its signers' keys were superseded replaces the older certificate.
            try await execute("""
                INSERT INTO cluster_certificates (replica, generation, epoch, certificate)
                VALUES (\(bind: name.replica), \(bind: generation), \(bind: epoch), \(bind: Data(certificate)))
                ON CONFLICT(replica, generation, epoch) DO UPDATE SET certificate = excluded.certificate
                """)
        }
    }

    public func clusterCertificate(_ name: ClusterKeyRef) async throws -> [UInt8]? {
        let (generation, epoch) = (try Self.integer(name.generation, "generation"), try Self.integer(name.epoch, "epoch"))
        return try await exclusive {
            try await rows("""
                SELECT certificate FROM cluster_certificates WHERE replica = \(bind: name.replica) AND generation = \(bind: generation) AND epoch = \(bind: epoch)
                """).first.map { Array(try $0.decode(column: "certificate", as: Data.self)) }
        }
    }

    public func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) async throws {
        let boundary = try Self.integer(boundary, "boundary")
        try await exclusive {
            try await execute("""
                INSERT INTO cluster_stable_checkpoints (boundary, certificate) VALUES (\(bind: boundary), \(bind: Data(certificate)))
                ON CONFLICT(boundary) DO NOTHING
                """)
        }
    }

    public func stableCheckpoints(after boundary: UInt64, limit: Int) async throws -> [(boundary: UInt64, certificate: [UInt8])] {
        guard boundary < UInt64(Int64.max) else { return [] }
        return try await exclusive {
            try await rows("""
                SELECT * FROM cluster_stable_checkpoints WHERE boundary > \(bind: Int64(boundary)) ORDER BY boundary LIMIT \(unsafeRaw: String(max(0, limit)))
                """).map(Self.stableCheckpoint(from:))
        }
    }

    public func latestStableCheckpoint() async throws -> (boundary: UInt64, certificate: [UInt8])? {
        try await exclusive {
            try await rows("SELECT * FROM cluster_stable_checkpoints ORDER BY boundary DESC LIMIT 1").first.map(Self.stableCheckpoint(from:))
        }
    }

    private static func stableCheckpoint(from row: any SQLRow) throws -> (boundary: UInt64, certificate: [UInt8]) {
        (UInt64(try row.decode(column: "boundary", as: Int64.self)), Array(try row.decode(column: "certificate", as: Data.self)))
    }

    /// SQLite integers are signed 64-bit: larger protocol numbers are refused, not wrapped.
    static func integer(_ value: UInt64, _ what: String) throws -> Int64 {
        guard value <= UInt64(Int64.max) else { throw StoreError.outOfRange(what) }
        return Int64(value)
    }
}
