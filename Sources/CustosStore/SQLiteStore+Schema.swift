import Foundation
import SQLKit

// The schema and its forward-only migrations, applied when the store opens.
extension SQLiteStore {
    // MARK: Migrations

    /// Versioned, forward-only schema changes. Never edit one that has shipped.
    static let migrations: [(version: Int, statements: [String])] = [
        (1, [
            """
            CREATE TABLE metadata (name TEXT PRIMARY KEY, value BLOB NOT NULL)
            """,
            """
            CREATE TABLE tenants (id TEXT PRIMARY KEY, created_at REAL NOT NULL)
            """,
            """
            CREATE TABLE wrapping_keys (
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                generation INTEGER NOT NULL,
                wrapped_key BLOB NOT NULL,
                root_key_id TEXT NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (tenant_id, generation))
            """,
            """
            CREATE TABLE keys (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                alias TEXT NOT NULL,
                category TEXT NOT NULL,
                scheme TEXT NOT NULL,
                status TEXT NOT NULL,
                primary_version INTEGER NOT NULL,
                external_id TEXT,
                labels TEXT NOT NULL,
                protection TEXT NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                UNIQUE (tenant_id, alias))
            """,
            """
            CREATE TABLE key_versions (
                key_id TEXT NOT NULL REFERENCES keys(id),
                version INTEGER NOT NULL,
                public_key BLOB,
                fingerprint TEXT,
                wrapped_material BLOB,
                wrapping_generation INTEGER NOT NULL,
                created_at REAL NOT NULL,
                destroyed_at REAL,
                PRIMARY KEY (key_id, version))
            """,
            "CREATE INDEX key_versions_fingerprint ON key_versions(fingerprint)",
            "CREATE INDEX keys_tenant_category ON keys(tenant_id, category)",
        ]),
        (2, [
            """
            CREATE TABLE audit_records (
                sequence INTEGER PRIMARY KEY,
                time_us INTEGER NOT NULL,
                actor TEXT NOT NULL,
                tenant_id TEXT,
                operation TEXT NOT NULL,
                key_id TEXT,
                key_version INTEGER,
                outcome TEXT NOT NULL,
                details TEXT NOT NULL,
                previous_hash BLOB NOT NULL,
                hash BLOB NOT NULL)
            """,
            "CREATE INDEX audit_records_tenant ON audit_records(tenant_id, sequence)",
            """
            CREATE TABLE audit_checkpoints (
                sequence INTEGER PRIMARY KEY,
                head_hash BLOB NOT NULL,
                time REAL NOT NULL,
                signer_fingerprint TEXT NOT NULL,
                signature BLOB NOT NULL)
            """,
            """
            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                tenant_id TEXT,
                role TEXT NOT NULL,
                secret_hash BLOB NOT NULL,
                description TEXT,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                revoked_at REAL)
            """,
            "CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id)",
        ]),
        // Security levels: HSMs and per-tenant, per-category associations with history.
        (3, [
            """
            CREATE TABLE hsms (
                name TEXT PRIMARY KEY,
                module TEXT NOT NULL,
                token_label TEXT NOT NULL,
                created_at REAL NOT NULL)
            """,
            """
            CREATE TABLE security_levels (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                category TEXT NOT NULL,
                level TEXT NOT NULL,
                hsm TEXT REFERENCES hsms(name),
                created_at REAL NOT NULL,
                deprecated_at REAL)
            """,
            "CREATE UNIQUE INDEX security_levels_current ON security_levels(tenant_id, category) WHERE deprecated_at IS NULL",
        ]),
        // Key-row integrity: a MAC per key and version row under the tenant's record key;
        // encryptions reserved per version (the AES-GCM random-nonce limit).
        (4, [
            "ALTER TABLE keys ADD COLUMN row_mac BLOB",
            "ALTER TABLE key_versions ADD COLUMN row_mac BLOB",
            "ALTER TABLE key_versions ADD COLUMN encryptions_reserved INTEGER NOT NULL DEFAULT 0",
        ]),
        // TLS: certificates issued for keystore keys (or from CSRs), the server-wide client
        // trust set, and one counter every change to either bumps.
        (5, [
            """
            CREATE TABLE certificates (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                key_id TEXT REFERENCES keys(id),
                key_version INTEGER,
                issuer_key_id TEXT REFERENCES keys(id),
                issuer_pin TEXT NOT NULL,
                serial TEXT NOT NULL,
                subject TEXT NOT NULL,
                not_before REAL NOT NULL,
                not_after REAL NOT NULL,
                pin TEXT NOT NULL,
                is_ca INTEGER NOT NULL,
                der BLOB NOT NULL,
                chain TEXT NOT NULL,
                created_at REAL NOT NULL,
                revoked_at REAL,
                row_mac BLOB,
                UNIQUE (tenant_id, serial))
            """,
            "CREATE INDEX certificates_key ON certificates(key_id, key_version)",
            """
            CREATE TABLE tls_trust (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                pin TEXT,
                label TEXT,
                tenant_id TEXT REFERENCES tenants(id),
                key_id TEXT REFERENCES keys(id),
                created_at REAL NOT NULL,
                row_mac BLOB)
            """,
            "CREATE UNIQUE INDEX tls_trust_pin ON tls_trust(pin) WHERE kind = 'pin'",
            "CREATE UNIQUE INDEX tls_trust_authority ON tls_trust(key_id) WHERE kind = 'authority'",
            "CREATE TABLE tls_changes (id INTEGER PRIMARY KEY CHECK (id = 1), counter INTEGER NOT NULL)",
            "INSERT INTO tls_changes (id, counter) VALUES (1, 0)",
        ]),
        // The replica network: this directory's membership, its key sets (candidates with
        // their exact record bytes), the durable decisions made before a signature leaves
        // (approvals, consensus-share watermark and its floors, checkpoint digests), the key
        // log, own certificates and stable checkpoints.
        (6, [
            """
            CREATE TABLE cluster_membership (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                cluster_id BLOB NOT NULL,
                replica INTEGER NOT NULL,
                configuration BLOB NOT NULL,
                joined_at REAL NOT NULL)
            """,
            """
            CREATE TABLE cluster_key_sets (
                replica INTEGER NOT NULL,
                generation INTEGER NOT NULL,
                epoch INTEGER NOT NULL,
                record BLOB,
                consensus_key_id TEXT NOT NULL REFERENCES keys(id),
                main_key_id TEXT NOT NULL REFERENCES keys(id),
                tls_key_id TEXT NOT NULL REFERENCES keys(id),
                created_at REAL NOT NULL,
                PRIMARY KEY (replica, generation, epoch))
            """,
            """
            CREATE TABLE cluster_approvals (
                replica INTEGER NOT NULL,
                generation INTEGER NOT NULL,
                epoch INTEGER NOT NULL,
                digest BLOB NOT NULL,
                PRIMARY KEY (replica, generation, epoch))
            """,
            """
            CREATE TABLE cluster_shares (
                view INTEGER NOT NULL,
                sequence INTEGER NOT NULL,
                phase INTEGER NOT NULL,
                digest BLOB NOT NULL,
                PRIMARY KEY (view, sequence, phase))
            """,
            "CREATE INDEX cluster_shares_sequence ON cluster_shares(sequence)",
            """
            CREATE TABLE cluster_floors (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                low_watermark INTEGER NOT NULL,
                view_floor INTEGER NOT NULL,
                highest_signed INTEGER)
            """,
            "INSERT INTO cluster_floors (id, low_watermark, view_floor, highest_signed) VALUES (1, 0, 0, NULL)",
            "CREATE TABLE cluster_checkpoint_decisions (boundary INTEGER PRIMARY KEY, digest BLOB NOT NULL)",
            """
            CREATE TABLE cluster_log (
                idx INTEGER PRIMARY KEY,
                sequence INTEGER NOT NULL,
                entry BLOB NOT NULL,
                head BLOB NOT NULL)
            """,
            """
            CREATE TABLE cluster_certificates (
                replica INTEGER NOT NULL,
                generation INTEGER NOT NULL,
                epoch INTEGER NOT NULL,
                certificate BLOB NOT NULL,
                PRIMARY KEY (replica, generation, epoch))
            """,
            "CREATE TABLE cluster_stable_checkpoints (boundary INTEGER PRIMARY KEY, certificate BLOB NOT NULL)",
        ]),
        // Operator commands and client nodes: the durable decisions on commands and client
        // records, the items a replica relays for approval, a client's key sets and membership,
        // the replica generation of a replacement, and the operator's own state (its
        // configurations, next command number, pending operator key, the commands it signed).
        // A client directory keeps its key log and stable checkpoints in cluster_log and
        // cluster_stable_checkpoints: a data directory is a replica or a client, never both.
        (7, [
            "ALTER TABLE cluster_membership ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
            "CREATE TABLE cluster_command_approvals (number INTEGER PRIMARY KEY, digest BLOB NOT NULL)",
            """
            CREATE TABLE cluster_client_approvals (
                client INTEGER NOT NULL,
                epoch INTEGER NOT NULL,
                digest BLOB NOT NULL,
                PRIMARY KEY (client, epoch))
            """,
            """
            CREATE TABLE cluster_relayed (
                kind INTEGER NOT NULL,
                digest BLOB NOT NULL,
                item BLOB NOT NULL,
                certificate BLOB,
                received_at REAL NOT NULL,
                PRIMARY KEY (kind, digest))
            """,
            """
            CREATE TABLE cluster_client_membership (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                cluster_id BLOB NOT NULL,
                client INTEGER NOT NULL,
                configuration BLOB NOT NULL,
                joined_at REAL NOT NULL)
            """,
            """
            CREATE TABLE cluster_client_key_sets (
                client INTEGER NOT NULL,
                epoch INTEGER NOT NULL,
                record BLOB,
                signing_key_id TEXT NOT NULL REFERENCES keys(id),
                tls_key_id TEXT NOT NULL REFERENCES keys(id),
                api_tls_key_id TEXT NOT NULL REFERENCES keys(id),
                created_at REAL NOT NULL,
                PRIMARY KEY (client, epoch))
            """,
            """
            CREATE TABLE cluster_operator (
                cluster_id BLOB PRIMARY KEY,
                configuration BLOB NOT NULL,
                next_command INTEGER NOT NULL,
                key_alias TEXT NOT NULL,
                pending_key_alias TEXT,
                pending_command INTEGER,
                created_at REAL NOT NULL)
            """,
            """
            CREATE TABLE cluster_operator_commands (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                cluster_id BLOB NOT NULL REFERENCES cluster_operator(cluster_id),
                number INTEGER NOT NULL,
                action TEXT NOT NULL,
                command BLOB NOT NULL,
                replica INTEGER,
                generation INTEGER,
                signed_at REAL NOT NULL)
            """,
            "CREATE INDEX cluster_operator_commands_number ON cluster_operator_commands(cluster_id, number)",
        ]),
        // Ethereum accounts: the chain each tenant signs for, each account's signing policy,
        // and per account and chain the next nonce and the day's transferred value.
        (8, [
            """
            CREATE TABLE eth_chains (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
                chain_id TEXT NOT NULL,
                updated_at REAL NOT NULL,
                row_mac BLOB)
            """,
            """
            CREATE TABLE eth_policies (
                key_id TEXT PRIMARY KEY REFERENCES keys(id),
                policy BLOB NOT NULL,
                updated_at REAL NOT NULL,
                row_mac BLOB)
            """,
            """
            CREATE TABLE eth_account_state (
                key_id TEXT NOT NULL REFERENCES keys(id),
                chain TEXT NOT NULL,
                next_nonce TEXT NOT NULL,
                day TEXT NOT NULL,
                spent TEXT NOT NULL,
                row_mac BLOB,
                PRIMARY KEY (key_id, chain))
            """,
        ]),
    ]

    public static var schemaVersion: Int { migrations.last!.version }

    func migrate(through target: Int = schemaVersion) async throws {
        try await execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        let applied = try await database.raw("SELECT MAX(version) AS v FROM schema_migrations").first()
        let current = try applied.flatMap { try $0.decodeNil(column: "v") ? nil : $0.decode(column: "v", as: Int.self) } ?? 0
        guard current <= Self.schemaVersion else {
            throw StoreError.schemaTooNew(found: current, supported: Self.schemaVersion)
        }
        for migration in Self.migrations where migration.version > current && migration.version <= target {
            try await transaction {
                for statement in migration.statements {
                    try await self.execute(SQLQueryString(statement))
                }
                try await self.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (\(bind: migration.version), \(bind: Date().timeIntervalSince1970))")
            }
        }
    }
}
