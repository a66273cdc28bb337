import Foundation
import SQLKit

// TLS certificates, the client trust set and their change counter (schema version 5).
extension SQLiteStore {
    // MARK: Certificates

    public func insertCertificate(_ certificate: CertificateRecord, with change: CertificateKeyChange, audit: [AuditEvent]) async throws -> CertificateRecord {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                switch change {
                case .none:
                    break
                case .newKey(let key, let version):
                    try await self.insertKeyRows(key, version)
                case .newVersion(let version, let updatedAt, let keyMAC):
                    try await self.insertPrimaryVersion(version, updatedAt: updatedAt, keyMAC: keyMAC)
                }
                guard try await self.rows("SELECT id FROM certificates WHERE tenant_id = \(bind: certificate.tenantID) AND serial = \(bind: certificate.serial)").isEmpty else {
                    throw StoreError.duplicateName(kind: "certificate serial", name: certificate.serial)
                }
                let c = certificate
                let chain = c.chain.map { Data($0).base64EncodedString() }.joined(separator: "\n")
                try await self.execute("""
                    INSERT INTO certificates (tenant_id, key_id, key_version, issuer_key_id, issuer_pin, serial, subject, not_before, not_after,
                                              pin, is_ca, der, chain, created_at, revoked_at, row_mac)
                    VALUES (\(bind: c.tenantID), \(bind: c.keyID), \(bind: c.keyVersion), \(bind: c.issuerKeyID), \(bind: c.issuerPin), \(bind: c.serial),
                            \(bind: c.subject), \(bind: c.notBefore.timeIntervalSince1970), \(bind: c.notAfter.timeIntervalSince1970), \(bind: c.pin),
                            \(bind: c.isCA ? 1 : 0), \(bind: Data(c.der)), \(bind: chain), \(bind: c.createdAt.timeIntervalSince1970),
                            \(bind: c.revokedAt?.timeIntervalSince1970), \(bind: Self.blob(c.rowMAC)))
                    """)
                let stored = try await self.rows("SELECT * FROM certificates WHERE tenant_id = \(bind: c.tenantID) AND serial = \(bind: c.serial)")
                try await self.bumpTLSChanges()
                guard let row = stored.first else { throw StoreError.database("the certificate just inserted cannot be read back") }
                return try Self.certificate(from: row)
            }
        }
    }

    public func certificates(tenantID: String, keyID: String?) async throws -> [CertificateRecord] {
        try await exclusive {
            if let keyID {
                return try await rows("SELECT * FROM certificates WHERE tenant_id = \(bind: tenantID) AND key_id = \(bind: keyID) ORDER BY id").map(Self.certificate(from:))
            }
            return try await rows("SELECT * FROM certificates WHERE tenant_id = \(bind: tenantID) ORDER BY id").map(Self.certificate(from:))
        }
    }

    public func certificate(tenantID: String, serial: String) async throws -> CertificateRecord? {
        try await exclusive {
            try await rows("SELECT * FROM certificates WHERE tenant_id = \(bind: tenantID) AND serial = \(bind: serial)").first.map(Self.certificate(from:))
        }
    }

    public func allCertificates() async throws -> [CertificateRecord] {
        try await exclusive {
            try await rows("SELECT * FROM certificates ORDER BY id").map(Self.certificate(from:))
        }
    }

    public func revokeCertificate(id: Int64, at date: Date, rowMAC: [UInt8]?, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                guard try await self.rows("SELECT id FROM certificates WHERE id = \(bind: id) AND revoked_at IS NULL").count == 1 else {
                    throw StoreError.database("certificate \(id) does not exist or is already revoked")
                }
                try await self.execute("UPDATE certificates SET revoked_at = \(bind: date.timeIntervalSince1970), row_mac = \(bind: Self.blob(rowMAC)) WHERE id = \(bind: id)")
                try await self.bumpTLSChanges()
            }
        }
    }

    private static func certificate(from row: any SQLRow) throws -> CertificateRecord {
        let chainText = try row.decode(column: "chain", as: String.self)
        let chain = try chainText.split(separator: "\n").map { part -> [UInt8] in
            guard let data = Data(base64Encoded: String(part)) else { throw StoreError.database("a certificate chain is not base64") }
            return Array(data)
        }
        return CertificateRecord(
            id: try row.decode(column: "id", as: Int64.self),
            tenantID: try row.decode(column: "tenant_id", as: String.self),
            keyID: try row.decode(column: "key_id", as: String?.self),
            keyVersion: try row.decode(column: "key_version", as: Int?.self),
            issuerKeyID: try row.decode(column: "issuer_key_id", as: String?.self),
            issuerPin: try row.decode(column: "issuer_pin", as: String.self),
            serial: try row.decode(column: "serial", as: String.self),
            subject: try row.decode(column: "subject", as: String.self),
            notBefore: Date(timeIntervalSince1970: try row.decode(column: "not_before", as: Double.self)),
            notAfter: Date(timeIntervalSince1970: try row.decode(column: "not_after", as: Double.self)),
            pin: try row.decode(column: "pin", as: String.self),
            isCA: try row.decode(column: "is_ca", as: Int.self) != 0,
            der: Array(try row.decode(column: "der", as: Data.self)),
            chain: chain,
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)),
            revokedAt: try row.decode(column: "revoked_at", as: Double?.self).map { Date(timeIntervalSince1970: $0) },
            rowMAC: try row.decode(column: "row_mac", as: Data?.self).map { Array($0) })
    }

    // MARK: Trust

    public func insertTrust(_ entry: TLSTrustRecord, audit: [AuditEvent]) async throws -> TLSTrustRecord {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                let existing: [any SQLRow]
                switch entry.kind {
                case .pin: existing = try await self.rows("SELECT id FROM tls_trust WHERE kind = 'pin' AND pin = \(bind: entry.pin)")
                case .authority: existing = try await self.rows("SELECT id FROM tls_trust WHERE kind = 'authority' AND key_id = \(bind: entry.keyID)")
                }
                guard existing.isEmpty else {
                    throw StoreError.duplicateName(kind: entry.kind == .pin ? "trusted pin" : "trusted authority", name: entry.pin ?? entry.keyID ?? "")
                }
                try await self.execute("""
                    INSERT INTO tls_trust (kind, pin, label, tenant_id, key_id, created_at, row_mac)
                    VALUES (\(bind: entry.kind.rawValue), \(bind: entry.pin), \(bind: entry.label), \(bind: entry.tenantID), \(bind: entry.keyID),
                            \(bind: entry.createdAt.timeIntervalSince1970), \(bind: Self.blob(entry.rowMAC)))
                    """)
                let id = try await self.rows("SELECT last_insert_rowid() AS id").first?.decode(column: "id", as: Int64.self) ?? 0
                try await self.bumpTLSChanges()
                var stored = entry
                stored.id = id
                return stored
            }
        }
    }

    public func deleteTrust(id: Int64, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                guard try await self.rows("SELECT id FROM tls_trust WHERE id = \(bind: id)").count == 1 else {
                    throw StoreError.database("trust entry \(id) does not exist")
                }
                try await self.execute("DELETE FROM tls_trust WHERE id = \(bind: id)")
                try await self.bumpTLSChanges()
            }
        }
    }

    public func trustEntries() async throws -> [TLSTrustRecord] {
        try await exclusive {
            try await rows("SELECT * FROM tls_trust ORDER BY id").map { row in
                let kindRaw = try row.decode(column: "kind", as: String.self)
                guard let kind = TLSTrustRecord.Kind(rawValue: kindRaw) else { throw StoreError.database("unknown trust entry kind '\(kindRaw)'") }
                return TLSTrustRecord(
                    id: try row.decode(column: "id", as: Int64.self), kind: kind,
                    pin: try row.decode(column: "pin", as: String?.self), label: try row.decode(column: "label", as: String?.self),
                    tenantID: try row.decode(column: "tenant_id", as: String?.self), keyID: try row.decode(column: "key_id", as: String?.self),
                    createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)),
                    rowMAC: try row.decode(column: "row_mac", as: Data?.self).map { Array($0) })
            }
        }
    }

    public func tlsChangeCounter() async throws -> Int64 {
        try await exclusive {
            try await rows("SELECT counter FROM tls_changes WHERE id = 1").first?.decode(column: "counter", as: Int64.self) ?? 0
        }
    }

    /// Inside the caller's transaction.
    private func bumpTLSChanges() async throws {
        try await execute("UPDATE tls_changes SET counter = counter + 1 WHERE id = 1")
    }

    /// A TLS key disabled, enabled, rotated or destroyed changes what a server presents
    /// or trusts (a CA key's certificates), so it bumps the counter too; other keys do not.
    func bumpTLSChanges(ifTLSKey keyID: String) async throws {
        try await execute("""
            UPDATE tls_changes SET counter = counter + 1
            WHERE id = 1 AND EXISTS (SELECT 1 FROM keys WHERE id = \(bind: keyID) AND category = 'TLS')
            """)
    }
}
