import Foundation
import SQLKit

// Ethereum accounts: the tenant's chain, each account's policy, and its nonce and daily
// spending per chain.
extension SQLiteStore {
    public func ethereumChain(tenantID: String) async throws -> EthereumChainRecord? {
        try await exclusive {
            try await rows("SELECT * FROM eth_chains WHERE tenant_id = \(bind: tenantID)").first.map { row in
                EthereumChainRecord(tenantID: try row.decode(column: "tenant_id", as: String.self),
                                    chainID: try row.decode(column: "chain_id", as: String.self),
                                    updatedAt: Date(timeIntervalSince1970: try row.decode(column: "updated_at", as: Double.self)),
                                    rowMAC: try row.decode(column: "row_mac", as: Data?.self).map { Array($0) })
            }
        }
    }

    public func setEthereumChain(_ record: EthereumChainRecord?, tenantID: String, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                guard try await self.rows("SELECT id FROM tenants WHERE id = \(bind: tenantID)").count == 1 else {
                    throw StoreError.tenantNotFound(tenantID)
                }
                try await self.appendAuditInTransaction(audit)
                try await self.execute("DELETE FROM eth_chains WHERE tenant_id = \(bind: tenantID)")
                if let record {
                    try await self.execute("""
                        INSERT INTO eth_chains (tenant_id, chain_id, updated_at, row_mac)
                        VALUES (\(bind: tenantID), \(bind: record.chainID), \(bind: record.updatedAt.timeIntervalSince1970), \(bind: record.rowMAC.map { Data($0) }))
                        """)
                }
            }
        }
    }

    public func ethereumPolicy(keyID: String) async throws -> EthereumPolicyRecord? {
        try await exclusive {
            try await rows("SELECT * FROM eth_policies WHERE key_id = \(bind: keyID)").first.map { row in
                EthereumPolicyRecord(keyID: try row.decode(column: "key_id", as: String.self),
                                     policy: Array(try row.decode(column: "policy", as: Data.self)),
                                     updatedAt: Date(timeIntervalSince1970: try row.decode(column: "updated_at", as: Double.self)),
                                     rowMAC: try row.decode(column: "row_mac", as: Data?.self).map { Array($0) })
            }
        }
    }

    public func setEthereumPolicy(_ record: EthereumPolicyRecord?, keyID: String, audit: [AuditEvent]) async throws {
        try await exclusive {
            try await transaction {
                guard try await self.rows("SELECT id FROM keys WHERE id = \(bind: keyID)").count == 1 else {
                    throw StoreError.keyNotFound(keyID)
                }
                try await self.appendAuditInTransaction(audit)
                try await self.execute("DELETE FROM eth_policies WHERE key_id = \(bind: keyID)")
                if let record {
                    try await self.execute("""
                        INSERT INTO eth_policies (key_id, policy, updated_at, row_mac)
                        VALUES (\(bind: keyID), \(bind: Data(record.policy)), \(bind: record.updatedAt.timeIntervalSince1970), \(bind: record.rowMAC.map { Data($0) }))
                        """)
                }
            }
        }
    }

    public func ethereumAccountStates(keyID: String) async throws -> [EthereumAccountStateRecord] {
        try await exclusive {
            try await rows("SELECT * FROM eth_account_state WHERE key_id = \(bind: keyID) ORDER BY chain").map(Self.accountState(from:))
        }
    }

    public func ethereumAccountState(keyID: String, chain: String) async throws -> EthereumAccountStateRecord? {
        try await exclusive {
            try await rows("SELECT * FROM eth_account_state WHERE key_id = \(bind: keyID) AND chain = \(bind: chain)").first.map(Self.accountState(from:))
        }
    }

    public func replaceEthereumAccountStates(_ changes: [EthereumAccountStateChange]) async throws -> [Bool] {
        guard !changes.isEmpty else { return [] }
        return try await exclusive {
            try await transaction {
                var written: [Bool] = []
                var audit: [AuditEvent] = []
                for change in changes {
                    let state = change.state
                    let current = try await self.rows("""
                        SELECT * FROM eth_account_state WHERE key_id = \(bind: state.keyID) AND chain = \(bind: state.chain)
                        """).first.map(Self.accountState(from:))
                    // Another writer changed the row since `expected` was read: this change is not written.
                    guard current == change.expected else {
                        written.append(false)
                        continue
                    }
                    try await self.execute("""
                        INSERT INTO eth_account_state (key_id, chain, next_nonce, day, spent, row_mac)
                        VALUES (\(bind: state.keyID), \(bind: state.chain), \(bind: state.nextNonce), \(bind: state.day), \(bind: state.spent),
                                \(bind: state.rowMAC.map { Data($0) }))
                        ON CONFLICT (key_id, chain) DO UPDATE SET next_nonce = excluded.next_nonce, day = excluded.day,
                            spent = excluded.spent, row_mac = excluded.row_mac
                        """)
                    audit += change.audit
                    written.append(true)
                }
                try await self.appendAuditInTransaction(audit)
                return written
            }
        }
    }

    private static func accountState(from row: any SQLRow) throws -> EthereumAccountStateRecord {
        EthereumAccountStateRecord(keyID: try row.decode(column: "key_id", as: String.self),
                                   chain: try row.decode(column: "chain", as: String.self),
                                   nextNonce: try row.decode(column: "next_nonce", as: String.self),
                                   day: try row.decode(column: "day", as: String.self),
                                   spent: try row.decode(column: "spent", as: String.self),
                                   rowMAC: try row.decode(column: "row_mac", as: Data?.self).map { Array($0) })
    }
}
