/// Errors of the persistence layer, naming the cause. They never carry key material.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case duplicateTenant(String)
    case duplicateAlias(tenant: String, alias: String)
    case tenantNotFound(String)
    case keyNotFound(String)
    case versionNotFound(keyID: String, version: Int)
    case schemaTooNew(found: Int, supported: Int)
    case tokenNotFound(String)
    case auditNotAttached
    case duplicateName(kind: String, name: String)
    case database(String)
    /// A value the store keeps as a SQLite integer is above 2^63 − 1.
    case outOfRange(String)
    case clusterLogOutOfOrder(expected: UInt64, actual: UInt64)
    /// This data directory already belongs to a cluster (as another replica, or another cluster).
    case clusterAlreadyJoined

    public var description: String {
        switch self {
        case .duplicateTenant(let id): "tenant '\(id)' already exists"
        case .duplicateAlias(let tenant, let alias): "tenant '\(tenant)' already has a key with alias '\(alias)'"
        case .tenantNotFound(let id): "tenant '\(id)' does not exist"
        case .keyNotFound(let id): "key '\(id)' does not exist"
        case .versionNotFound(let keyID, let version): "key '\(keyID)' has no version \(version)"
        case .schemaTooNew(let found, let supported):
            "the database schema is version \(found) but this Custos supports up to \(supported); upgrade Custos"
        case .tokenNotFound(let id): "token '\(id)' does not exist"
        case .auditNotAttached: "the audit log is not open: no sensitive change is written without its audit record"
        case .duplicateName(let kind, let name): "\(kind) '\(name)' already exists"
        case .database(let reason): "database error: \(reason)"
        case .outOfRange(let what): "\(what) is above 2^63 − 1, more than the store keeps"
        case .clusterLogOutOfOrder(let expected, let actual): "key-log entry \(actual) is not the next one (expected \(expected))"
        case .clusterAlreadyJoined: "this data directory has already joined a cluster"
        }
    }
}
