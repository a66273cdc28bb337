import Foundation
import NIOCore
import SQLKit
import SQLiteNIO

// Audit records, checkpoints and API tokens in the embedded store.
extension SQLiteStore {
    // MARK: Audit

    /// Stand-alone appends (group commits of signatures) are one multi-row INSERT: a
    /// single statement is its own transaction, so the batch is durable in one commit
    /// with one round trip to the database thread. The chain head is kept in memory;
    /// if another process appended meanwhile, the sequence's primary key refuses the
    /// insert, the head is read again and the batch resealed.
    public func appendAudit(_ events: [AuditEvent]) async throws -> [AuditRecord] {
        guard !events.isEmpty else { return [] }
        guard events.count <= Self.rowsPerStatement else {
            return try await exclusive {
                try await transaction { try await self.appendAuditInTransaction(events) }
            }
        }
        return try await exclusive {
            var attempt = 0
            while true {
                let head: (Int64, [UInt8])
                if let cached = cachedAuditHead {
                    head = cached
                } else {
                    head = try await headInTransaction() ?? (0, AuditRecord.genesisHash)
                }
                let records = try seal(events, after: head)
                do {
                    try await insert(records)
                    cachedAuditHead = (records.last!.sequence, records.last!.hash)
                    return records
                } catch let error as StoreError where attempt < 5 && error.description.contains("UNIQUE constraint failed") {
                    cachedAuditHead = nil
                    attempt += 1
                }
            }
        }
    }

    static let rowsPerStatement = 2000

    /// Appends inside the caller's transaction: the head is read under the write
    /// lock (BEGIN IMMEDIATE), so two processes on one file cannot fork the chain.
    @discardableResult
    func appendAuditInTransaction(_ events: [AuditEvent]) async throws -> [AuditRecord] {
        guard !events.isEmpty else { return [] }
        // The enclosing transaction may still roll back: the next stand-alone append
        // reads the head from the database.
        cachedAuditHead = nil
        let head = try await headInTransaction() ?? (0, AuditRecord.genesisHash)
        let appended = try seal(events, after: head)
        try await insert(appended)
        return appended
    }

    private func seal(_ events: [AuditEvent], after head: (Int64, [UInt8])) throws -> [AuditRecord] {
        guard let sealer = auditSealer else { throw StoreError.auditNotAttached }
        var (sequence, previous) = head
        var appended: [AuditRecord] = []
        appended.reserveCapacity(events.count)
        for event in events {
            sequence += 1
            var record = AuditRecord(
                sequence: sequence, timeMicros: Int64((event.time.timeIntervalSince1970 * 1_000_000).rounded()),
                actor: event.actor, tenantID: event.tenantID, operation: event.operation.rawValue, keyID: event.keyID,
                keyVersion: event.keyVersion, outcome: event.outcome.rawValue,
                details: AuditRecord.encodeDetails(event.details), previousHash: previous, hash: [])
            record.hash = sealer.seal(record.sealedBytes)
            previous = record.hash
            appended.append(record)
        }
        return appended
    }

    /// One multi-row INSERT per chunk, bound directly through SQLiteNIO: building the
    /// statement through SQLKit cost more than the row itself.
    private func insert(_ appended: [AuditRecord]) async throws {
        for start in stride(from: 0, to: appended.count, by: Self.rowsPerStatement) {
            let chunk = appended[start..<min(start + Self.rowsPerStatement, appended.count)]
            var sql = "INSERT INTO audit_records (sequence, time_us, actor, tenant_id, operation, key_id, key_version, outcome, details, previous_hash, hash) VALUES "
            sql.reserveCapacity(sql.utf8.count + chunk.count * 36)
            var binds: [SQLiteData] = []
            binds.reserveCapacity(chunk.count * 11)
            for (offset, record) in chunk.enumerated() {
                sql += offset == 0 ? "(?,?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?,?)"
                binds.append(.integer(Int(record.sequence)))
                binds.append(.integer(Int(record.timeMicros)))
                binds.append(.text(record.actor))
                binds.append(record.tenantID.map { .text($0) } ?? .null)
                binds.append(.text(record.operation))
                binds.append(record.keyID.map { .text($0) } ?? .null)
                binds.append(record.keyVersion.map { .integer($0) } ?? .null)
                binds.append(.text(record.outcome))
                binds.append(.text(record.details))
                binds.append(.blob(ByteBuffer(bytes: record.previousHash)))
                binds.append(.blob(ByteBuffer(bytes: record.hash)))
            }
            do {
                try await connection.query(sql, binds) { _ in }
            } catch {
                throw Self.mapError(error)
            }
        }
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

    static func auditRecord(from row: any SQLRow) throws -> AuditRecord {
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
            try await rows("SELECT * FROM audit_checkpoints WHERE sequence > \(bind: sequence) ORDER BY sequence LIMIT \(unsafeRaw: String(max(0, limit)))")
                .map(Self.checkpoint(from:))
        }
    }

    static func checkpoint(from row: any SQLRow) throws -> AuditCheckpoint {
        AuditCheckpoint(
            sequence: try row.decode(column: "sequence", as: Int64.self),
            headHash: Array(try row.decode(column: "head_hash", as: Data.self)),
            time: Date(timeIntervalSince1970: try row.decode(column: "time", as: Double.self)),
            signerFingerprint: try row.decode(column: "signer_fingerprint", as: String.self),
            signature: Array(try row.decode(column: "signature", as: Data.self)))
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
