import Foundation
import SQLKit

// Audit records, checkpoints and API tokens in the embedded store.
extension SQLiteStore {
    // MARK: Audit

    public func appendAudit(_ events: [AuditEvent]) async throws -> [AuditRecord] {
        guard !events.isEmpty else { return [] }
        return try await exclusive {
            try await transaction { try await self.appendAuditInTransaction(events) }
        }
    }

    /// Appends inside the caller's transaction: the head is read under the write
    /// lock (BEGIN IMMEDIATE), so two processes on one file cannot fork the chain.
    @discardableResult
    func appendAuditInTransaction(_ events: [AuditEvent]) async throws -> [AuditRecord] {
        guard !events.isEmpty else { return [] }
        guard let sealer = auditSealer else { throw StoreError.auditNotAttached }
        var (sequence, previous) = try await headInTransaction() ?? (0, AuditRecord.genesisHash)
        var appended: [AuditRecord] = []
        appended.reserveCapacity(events.count)
        for event in events {
            sequence += 1
            var record = AuditRecord(
                sequence: sequence, timeMicros: Int64((event.time.timeIntervalSince1970 * 1_000_000).rounded()),
                actor: event.actor, tenantID: event.tenantID, operation: event.operation, keyID: event.keyID,
                keyVersion: event.keyVersion, outcome: event.outcome,
                details: AuditRecord.encodeDetails(event.details), previousHash: previous, hash: [])
            record.hash = sealer.seal(record.sealedBytes)
            try await execute("""
                INSERT INTO audit_records (sequence, time_us, actor, tenant_id, operation, key_id, key_version, outcome, details, previous_hash, hash)
                VALUES (\(bind: record.sequence), \(bind: record.timeMicros), \(bind: record.actor), \(bind: record.tenantID),
                        \(bind: record.operation), \(bind: record.keyID), \(bind: record.keyVersion), \(bind: record.outcome),
                        \(bind: record.details), \(bind: Data(record.previousHash)), \(bind: Data(record.hash)))
                """)
            previous = record.hash
            appended.append(record)
        }
        return appended
    }

    private func headInTransaction() async throws -> (Int64, [UInt8])? {
        guard let row = try await rows("SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1").first else { return nil }
        return (try row.decode(column: "sequence", as: Int64.self), Array(try row.decode(column: "hash", as: Data.self)))
    }

    public func auditHead() async throws -> (sequence: Int64, hash: [UInt8])? {
        try await exclusive { try await headInTransaction().map { (sequence: $0.0, hash: $0.1) } }
    }

    public func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord] {
        try await exclusive {
            var sql = SQLQueryString("SELECT * FROM audit_records WHERE sequence > \(bind: query.after)")
            if let tenant = query.tenantID { sql.appendInterpolation(unsafeRaw: " AND tenant_id = "); sql.appendInterpolation(bind: tenant) }
            if let key = query.keyID { sql.appendInterpolation(unsafeRaw: " AND key_id = "); sql.appendInterpolation(bind: key) }
            if let operation = query.operation { sql.appendInterpolation(unsafeRaw: " AND operation = "); sql.appendInterpolation(bind: operation) }
            sql.appendInterpolation(unsafeRaw: " ORDER BY sequence LIMIT \(max(0, query.limit))")
            return try await rows(sql).map(Self.auditRecord(from:))
        }
    }

    private static func auditRecord(from row: any SQLRow) throws -> AuditRecord {
        AuditRecord(
            sequence: try row.decode(column: "sequence", as: Int64.self),
            timeMicros: try row.decode(column: "time_us", as: Int64.self),
            actor: try row.decode(column: "actor", as: String.self),
            tenantID: try row.decode(column: "tenant_id", as: String?.self),
            operation: try row.decode(column: "operation", as: String.self),
            keyID: try row.decode(column: "key_id", as: String?.self),
            keyVersion: try row.decode(column: "key_version", as: Int?.self),
            outcome: try row.decode(column: "outcome", as: String.self),
            details: try row.decode(column: "details", as: String.self),
            previousHash: Array(try row.decode(column: "previous_hash", as: Data.self)),
            hash: Array(try row.decode(column: "hash", as: Data.self)))
    }

    public func addCheckpoint(_ checkpoint: AuditCheckpoint) async throws {
        try await exclusive {
            try await execute("""
                INSERT OR REPLACE INTO audit_checkpoints (sequence, head_hash, time, signer_fingerprint, signature)
                VALUES (\(bind: checkpoint.sequence), \(bind: Data(checkpoint.headHash)), \(bind: checkpoint.time.timeIntervalSince1970),
                        \(bind: checkpoint.signerFingerprint), \(bind: Data(checkpoint.signature)))
                """)
        }
    }

    public func checkpoints(after sequence: Int64, limit: Int) async throws -> [AuditCheckpoint] {
        try await exclusive {
            try await rows("SELECT * FROM audit_checkpoints WHERE sequence > \(bind: sequence) ORDER BY sequence LIMIT \(unsafeRaw: String(max(0, limit)))").map { row in
                AuditCheckpoint(
                    sequence: try row.decode(column: "sequence", as: Int64.self),
                    headHash: Array(try row.decode(column: "head_hash", as: Data.self)),
                    time: Date(timeIntervalSince1970: try row.decode(column: "time", as: Double.self)),
                    signerFingerprint: try row.decode(column: "signer_fingerprint", as: String.self),
                    signature: Array(try row.decode(column: "signature", as: Data.self)))
            }
        }
    }

    public func latestCheckpoint() async throws -> AuditCheckpoint? {
        let last = try await exclusive {
            try await rows("SELECT MAX(sequence) AS s FROM audit_checkpoints").first.flatMap { try $0.decode(column: "s", as: Int64?.self) }
        }
        guard let last else { return nil }
        return try await checkpoints(after: last - 1, limit: 1).first
    }

    // MARK: Tokens

    public func insertToken(_ token: TokenRecord, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                if let tenant = token.tenantID {
                    guard try await self.rows("SELECT id FROM tenants WHERE id = \(bind: tenant)").count == 1 else {
                        throw StoreError.tenantNotFound(tenant)
                    }
                }
                try await self.execute("""
                    INSERT INTO api_tokens (id, tenant_id, role, secret_hash, description, created_at, expires_at, revoked_at)
                    VALUES (\(bind: token.id), \(bind: token.tenantID), \(bind: token.role), \(bind: Data(token.secretHash)),
                            \(bind: token.description), \(bind: token.createdAt.timeIntervalSince1970),
                            \(bind: token.expiresAt.timeIntervalSince1970), \(bind: token.revokedAt?.timeIntervalSince1970))
                    """)
                try await self.appendAuditInTransaction(audit)
            }
        }
    }

    public func token(id: String) async throws -> TokenRecord? {
        try await exclusive {
            try await rows("SELECT * FROM api_tokens WHERE id = \(bind: id)").first.map(Self.token(from:))
        }
    }

    public func tokens(tenantID: String?) async throws -> [TokenRecord] {
        try await exclusive {
            if let tenantID {
                return try await rows("SELECT * FROM api_tokens WHERE tenant_id = \(bind: tenantID) ORDER BY created_at, id").map(Self.token(from:))
            }
            return try await rows("SELECT * FROM api_tokens ORDER BY created_at, id").map(Self.token(from:))
        }
    }

    public func revokeToken(id: String, at date: Date, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                guard try await self.rows("SELECT id FROM api_tokens WHERE id = \(bind: id)").count == 1 else {
                    throw StoreError.tokenNotFound(id)
                }
                // Revoking twice keeps the first time.
                try await self.execute("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, \(bind: date.timeIntervalSince1970)) WHERE id = \(bind: id)")
                try await self.appendAuditInTransaction(audit)
            }
        }
    }

    private static func token(from row: any SQLRow) throws -> TokenRecord {
        TokenRecord(
            id: try row.decode(column: "id", as: String.self),
            tenantID: try row.decode(column: "tenant_id", as: String?.self),
            role: try row.decode(column: "role", as: String.self),
            secretHash: Array(try row.decode(column: "secret_hash", as: Data.self)),
            description: try row.decode(column: "description", as: String?.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)),
            expiresAt: Date(timeIntervalSince1970: try row.decode(column: "expires_at", as: Double.self)),
            revokedAt: try row.decode(column: "revoked_at", as: Double?.self).map { Date(timeIntervalSince1970: $0) })
    }
}
