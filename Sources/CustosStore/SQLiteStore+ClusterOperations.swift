import Foundation
import SQLKit

// Operator commands and client nodes (schema 7). Decisions as in SQLiteStore+Cluster: one
// BEGIN IMMEDIATE … COMMIT holding the check, the write and the audit append.
extension SQLiteStore {
    // MARK: Durable decisions

    public func decideClusterCommandApproval(number: UInt64, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome {
        let number = try Self.integer(number, "command number")
        return try await decide(audit) {
            let found = try await self.rows("SELECT digest FROM cluster_command_approvals WHERE number = \(bind: number)")
            if let existing = try found.first.map({ Array(try $0.decode(column: "digest", as: Data.self)) }) {
                return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
            }
            try await self.execute("INSERT INTO cluster_command_approvals (number, digest) VALUES (\(bind: number), \(bind: Data(digest)))")
            return .recorded
        }
    }

    public func decideClusterClientApproval(_ name: ClusterClientKeyRef, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome {
        let epoch = try Self.integer(name.epoch, "epoch")
        let client = Int64(name.client)
        return try await decide(audit) {
            let found = try await self.rows("SELECT digest FROM cluster_client_approvals WHERE client = \(bind: client) AND epoch = \(bind: epoch)")
            if let existing = try found.first.map({ Array(try $0.decode(column: "digest", as: Data.self)) }) {
                return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
            }
            try await self.execute("""
                INSERT INTO cluster_client_approvals (client, epoch, digest) VALUES (\(bind: client), \(bind: epoch), \(bind: Data(digest)))
                """)
            return .recorded
        }
    }

    // MARK: Relayed items

    public func saveClusterRelayed(_ item: ClusterRelayedRecord) async throws {
        let kind = try Self.integer(item.kind, "kind")
        try await exclusive {
            try await execute("""
                INSERT INTO cluster_relayed (kind, digest, item, certificate, received_at)
                VALUES (\(bind: kind), \(bind: Data(item.digest)), \(bind: Data(item.item)), \(bind: Self.blob(item.certificate)),
                        \(bind: item.receivedAt.timeIntervalSince1970))
                ON CONFLICT(kind, digest) DO NOTHING
                """)
        }
    }

    public func saveClusterRelayedCertificate(kind: UInt64, digest: [UInt8], certificate: [UInt8]) async throws {
        let kind = try Self.integer(kind, "kind")
        try await exclusive {
            try await transaction {
                guard try await !self.rows("SELECT kind FROM cluster_relayed WHERE kind = \(bind: kind) AND digest = \(bind: Data(digest))").isEmpty else {
                    throw StoreError.keyNotFound("relayed item \(digest.prefix(8).map { String(format: "%02x", $0) }.joined())…")
                }
                try await self.execute("""
                    UPDATE cluster_relayed SET certificate = \(bind: Data(certificate)) WHERE kind = \(bind: kind) AND digest = \(bind: Data(digest))
                    """)
            }
        }
    }

    public func clusterRelayed() async throws -> [ClusterRelayedRecord] {
        try await exclusive {
            try await rows("SELECT * FROM cluster_relayed ORDER BY received_at, rowid").map { row in
                ClusterRelayedRecord(kind: UInt64(try row.decode(column: "kind", as: Int64.self)),
                                     digest: Array(try row.decode(column: "digest", as: Data.self)),
                                     item: Array(try row.decode(column: "item", as: Data.self)),
                                     certificate: try row.decode(column: "certificate", as: Data?.self).map { Array($0) },
                                     receivedAt: Date(timeIntervalSince1970: try row.decode(column: "received_at", as: Double.self)))
            }
        }
    }

    public func dropClusterRelayed(digest: [UInt8]) async throws {
        try await exclusive { try await execute("DELETE FROM cluster_relayed WHERE digest = \(bind: Data(digest))") }
    }

    // MARK: Client membership and key sets

    public func clusterClientMembership() async throws -> ClusterClientMembershipRecord? {
        try await exclusive {
            try await rows("SELECT * FROM cluster_client_membership WHERE id = 1").first.map { row in
                ClusterClientMembershipRecord(clusterID: Array(try row.decode(column: "cluster_id", as: Data.self)),
                                              client: UInt32(try row.decode(column: "client", as: Int64.self)),
                                              configuration: Array(try row.decode(column: "configuration", as: Data.self)),
                                              joinedAt: Date(timeIntervalSince1970: try row.decode(column: "joined_at", as: Double.self)))
            }
        }
    }

    public func joinClusterAsClient(_ membership: ClusterClientMembershipRecord, keys: [(KeyRecord, KeyVersionRecord)],
                                    keySet: ClusterClientKeySetRecord, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.requireNoMembership()
                try await self.appendAuditInTransaction(audit)
                for (key, version) in keys { try await self.insertKeyRows(key, version) }
                try await self.insertClientKeySetRow(keySet)
                try await self.execute("""
                    INSERT INTO cluster_client_membership (id, cluster_id, client, configuration, joined_at)
                    VALUES (1, \(bind: Data(membership.clusterID)), \(bind: Int64(membership.client)), \(bind: Data(membership.configuration)),
                            \(bind: membership.joinedAt.timeIntervalSince1970))
                    """)
            }
        }
    }

    public func insertClusterClientKeySet(_ keySet: ClusterClientKeySetRecord, keys: [(KeyRecord, KeyVersionRecord)],
                                          audit: [AuditEvent]) async throws -> ClusterClientKeySetRecord {
        try await exclusive {
            try await transaction {
                if let existing = try await self.clientKeySetRow(keySet.name) { return existing }
                try await self.appendAuditInTransaction(audit)
                for (key, version) in keys { try await self.insertKeyRows(key, version) }
                try await self.insertClientKeySetRow(keySet)
                return keySet
            }
        }
    }

    public func clusterClientKeySet(_ name: ClusterClientKeyRef) async throws -> ClusterClientKeySetRecord? {
        try await exclusive { try await clientKeySetRow(name) }
    }

    public func clusterClientKeySets() async throws -> [ClusterClientKeySetRecord] {
        try await exclusive {
            try await rows("SELECT * FROM cluster_client_key_sets ORDER BY client, epoch").map(Self.clientKeySet(from:))
        }
    }

    private func insertClientKeySetRow(_ keySet: ClusterClientKeySetRecord) async throws {
        let epoch = try Self.integer(keySet.name.epoch, "epoch")
        try await execute("""
            INSERT INTO cluster_client_key_sets (client, epoch, record, signing_key_id, tls_key_id, api_tls_key_id, created_at)
            VALUES (\(bind: Int64(keySet.name.client)), \(bind: epoch), \(bind: Self.blob(keySet.record)), \(bind: keySet.signingKeyID),
                    \(bind: keySet.tlsKeyID), \(bind: keySet.apiTLSKeyID), \(bind: keySet.createdAt.timeIntervalSince1970))
            """)
    }

    private func clientKeySetRow(_ name: ClusterClientKeyRef) async throws -> ClusterClientKeySetRecord? {
        let epoch = try Self.integer(name.epoch, "epoch")
        return try await rows("""
            SELECT * FROM cluster_client_key_sets WHERE client = \(bind: Int64(name.client)) AND epoch = \(bind: epoch)
            """).first.map(Self.clientKeySet(from:))
    }

    private static func clientKeySet(from row: any SQLRow) throws -> ClusterClientKeySetRecord {
        ClusterClientKeySetRecord(
            name: ClusterClientKeyRef(client: UInt32(try row.decode(column: "client", as: Int64.self)),
                                      epoch: UInt64(try row.decode(column: "epoch", as: Int64.self))),
            record: try row.decode(column: "record", as: Data?.self).map { Array($0) },
            signingKeyID: try row.decode(column: "signing_key_id", as: String.self),
            tlsKeyID: try row.decode(column: "tls_key_id", as: String.self),
            apiTLSKeyID: try row.decode(column: "api_tls_key_id", as: String.self),
            createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
    }

    // MARK: The operator's state

    public func clusterOperatorStates() async throws -> [ClusterOperatorRecord] {
        try await exclusive {
            try await rows("SELECT * FROM cluster_operator ORDER BY created_at DESC, rowid DESC").map { row in
                ClusterOperatorRecord(clusterID: Array(try row.decode(column: "cluster_id", as: Data.self)),
                                      configuration: Array(try row.decode(column: "configuration", as: Data.self)),
                                      nextCommand: UInt64(try row.decode(column: "next_command", as: Int64.self)),
                                      keyAlias: try row.decode(column: "key_alias", as: String.self),
                                      pendingKeyAlias: try row.decode(column: "pending_key_alias", as: String?.self),
                                      pendingCommand: try row.decode(column: "pending_command", as: Int64?.self).map { UInt64($0) },
                                      createdAt: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
            }
        }
    }

    public func saveClusterOperatorState(_ state: ClusterOperatorRecord, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                try await self.upsertOperatorRow(state)
            }
        }
    }

    public func recordClusterOperatorCommand(_ command: ClusterOperatorCommandRecord, state: ClusterOperatorRecord, audit: [AuditEvent]) async throws {
        let number = try Self.integer(command.number, "command number")
        let generation = try command.generation.map { try Self.integer($0, "generation") }
        try await exclusive {
            try await transaction {
                try await self.appendAuditInTransaction(audit)
                try await self.upsertOperatorRow(state)
                try await self.execute("""
                    INSERT INTO cluster_operator_commands (cluster_id, number, action, command, replica, generation, signed_at)
                    VALUES (\(bind: Data(command.clusterID)), \(bind: number), \(bind: command.action), \(bind: Data(command.command)),
                            \(bind: command.replica), \(bind: generation), \(bind: command.signedAt.timeIntervalSince1970))
                    """)
            }
        }
    }

    public func clusterOperatorCommands(clusterID: [UInt8]) async throws -> [ClusterOperatorCommandRecord] {
        try await exclusive {
            try await rows("SELECT * FROM cluster_operator_commands WHERE cluster_id = \(bind: Data(clusterID)) ORDER BY id").map { row in
                ClusterOperatorCommandRecord(clusterID: Array(try row.decode(column: "cluster_id", as: Data.self)),
                                             number: UInt64(try row.decode(column: "number", as: Int64.self)),
                                             action: try row.decode(column: "action", as: String.self),
                                             command: Array(try row.decode(column: "command", as: Data.self)),
                                             replica: try row.decode(column: "replica", as: Int?.self),
                                             generation: try row.decode(column: "generation", as: Int64?.self).map { UInt64($0) },
                                             signedAt: Date(timeIntervalSince1970: try row.decode(column: "signed_at", as: Double.self)))
            }
        }
    }

    private func upsertOperatorRow(_ state: ClusterOperatorRecord) async throws {
        let next = try Self.integer(state.nextCommand, "next command number")
        let pending = try state.pendingCommand.map { try Self.integer($0, "command number") }
        try await execute("""
            INSERT INTO cluster_operator (cluster_id, configuration, next_command, key_alias, pending_key_alias, pending_command, created_at)
            VALUES (\(bind: Data(state.clusterID)), \(bind: Data(state.configuration)), \(bind: next), \(bind: state.keyAlias),
                    \(bind: state.pendingKeyAlias), \(bind: pending), \(bind: state.createdAt.timeIntervalSince1970))
            ON CONFLICT(cluster_id) DO UPDATE SET configuration = excluded.configuration, next_command = excluded.next_command,
                key_alias = excluded.key_alias, pending_key_alias = excluded.pending_key_alias, pending_command = excluded.pending_command
            """)
    }
}
