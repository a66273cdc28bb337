import CustosStore
import Foundation

extension KeyService {
    /// One call of the node (or a reader) on the replica network: authorised for `permission`
    /// (a refusal is audited as denied), then `body`; a failure is audited with its code, a
    /// success with the details `body` returns. The engine's own decisions are audited by the
    /// engine; this record names who asked. Reads (`recordSuccess` false) leave a record only
    /// when refused, so a node polling its replica does not fill the audit log.
    public func auditedCluster<T: Sendable>(_ operation: AuditOperation, _ permission: Permission, by principal: Principal,
                                            recordSuccess: Bool = true,
                                            _ body: () async throws -> (T, details: [String: String])) async throws -> T {
        let (result, details) = try await audited(operation, by: principal, tenant: nil) {
            try principal.authorize(permission, tenant: nil)
            return try await body()
        }
        if recordSuccess {
            try await self.recordSuccess(event(operation, by: principal, tenant: nil, details: details))
        }
        return result
    }
}

/// An error from outside the keystore whose audit record may name a code of its own (a fixed
/// word, never a value from the request).
public protocol AuditCodedError: Error {
    var auditCode: String { get }
}
