import CustosCrypto
import CustosStore

/// A key record as the keystore works with it: the row read from the store, with its
/// names, category, algorithm and protection decoded once, where the row is read. A
/// row that holds a value no Custos writes is refused with the row's id, not carried
/// along as a string to fail somewhere later.
struct StoredKey: Sendable {
    let row: KeyRecord
    let tenant: TenantID
    let alias: KeyAlias
    let category: KeyCategory
    let algorithm: KeyAlgorithm
    let protection: ProtectionReference

    init(_ row: KeyRecord) throws {
        func decode<T>(_ field: String, _ value: String, _ body: () throws -> T) throws -> T {
            do {
                return try body()
            } catch {
                throw KeystoreError.corruptRecord("key record \(row.id) has an invalid \(field) '\(value.prefix(80))'")
            }
        }
        self.row = row
        tenant = try decode("tenant", row.tenantID) { try TenantID(validating: row.tenantID) }
        alias = try decode("alias", row.alias) { try KeyAlias(validating: row.alias) }
        category = try decode("category", row.category) { try KeyCategory(identifier: row.category) }
        algorithm = try decode("scheme", row.scheme) { try KeyAlgorithm(identifier: row.scheme) }
        protection = try decode("protection", row.protection) { try ProtectionReference(parsing: row.protection) }
    }

    var id: String { row.id }
    var status: KeyStatus { row.status }
    var primaryVersion: Int { row.primaryVersion }
}
