import CustosCrypto
import CustosStore
import Foundation

/// One item of a batch signing request.
public struct SignRequestItem: Sendable {
    public var alias: String
    public var message: [UInt8]
    public var format: SignatureFormat?

    public init(alias: String, message: [UInt8], format: SignatureFormat? = nil) {
        self.alias = alias
        self.message = message
        self.format = format
    }
}

extension KeyService {
    /// Signs many messages for one tenant. Each item succeeds or fails on its own; the
    /// audit records of all of them (successes and failures) are written together,
    /// group-committed with other requests, and the results return only once they are
    /// durable. Items are signed on all cores, in chunks.
    public func signBatch(tenant: String, items: [SignRequestItem], by principal: Principal = .local) async throws
        -> [Result<SignResult, KeystoreError>] {
        try await audited("sign", by: principal, tenant: tenant) {
            try principal.authorize(.useKeys, tenant: tenant)
        }
        let chunkSize = max(8, (items.count + ProcessInfo.processInfo.activeProcessorCount - 1) / max(1, ProcessInfo.processInfo.activeProcessorCount))
        let outcomes = await withTaskGroup(of: [(Int, Result<SignResult, KeystoreError>, AuditEvent)].self) { group in
            for start in stride(from: 0, to: items.count, by: chunkSize) {
                let range = start..<min(start + chunkSize, items.count)
                group.addTask {
                    var done: [(Int, Result<SignResult, KeystoreError>, AuditEvent)] = []
                    for index in range {
                        done.append(await self.signOne(tenant: tenant, item: items[index], index: index, by: principal))
                    }
                    return done
                }
            }
            var all: [(Int, Result<SignResult, KeystoreError>, AuditEvent)] = []
            for await chunk in group { all += chunk }
            return all.sorted { $0.0 < $1.0 }
        }
        do {
            try await audit.record(outcomes.map(\.2))
        } catch {
            throw KeystoreError.store(.database("the audit records could not be written: \(error)"))
        }
        return outcomes.map(\.1)
    }

    private func signOne(tenant: String, item: SignRequestItem, index: Int, by principal: Principal) async
        -> (Int, Result<SignResult, KeystoreError>, AuditEvent) {
        do {
            return try await mappingErrors {
                try Task.checkCancellation()
                let (result, record) = try await signDescribed(tenant: tenant, alias: item.alias, message: item.message,
                                                               format: item.format, by: principal)
                return (index, .success(result), record)
            }
        } catch {
            let keystoreError = (error as? KeystoreError) ?? KeystoreError.invalidArgument(error is CancellationError ? "cancelled: the request's deadline passed" : "\(error)")
            return (index, .failure(keystoreError),
                    event("sign", by: principal, tenant: tenant, outcome: "failure",
                          details: ["alias": String(item.alias.prefix(128)), "error": keystoreError.code]))
        }
    }
}
