import Foundation
import SQLKit

// Named values kept beside the records (the root key's id, the wrapped audit key).
extension SQLiteStore {
    // MARK: Metadata

    public func metadata(_ name: String) async throws -> [UInt8]? {
        try await exclusive {
            let found = try await rows("SELECT value FROM metadata WHERE name = \(bind: name)")
            return try found.first.map { Array(try $0.decode(column: "value", as: Data.self)) }
        }
    }

    public func setMetadata(_ name: String, _ value: [UInt8]) async throws {
        try await exclusive {
            try await execute("INSERT INTO metadata (name, value) VALUES (\(bind: name), \(bind: Data(value))) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        }
    }

    public func setMetadataIfAbsent(_ name: String, _ value: [UInt8]) async throws -> [UInt8] {
        try await exclusive {
            try await transaction {
                try await self.execute("INSERT INTO metadata (name, value) VALUES (\(bind: name), \(bind: Data(value))) ON CONFLICT(name) DO NOTHING")
                let stored = try await self.rows("SELECT value FROM metadata WHERE name = \(bind: name)")
                return Array(try stored[0].decode(column: "value", as: Data.self))
            }
        }
    }
}
