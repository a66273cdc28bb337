import CustosJSON
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
    /// Signs many messages for one tenant. Each item succeeds or fails on its own.
    ///
    /// Each alias is resolved once per batch (record, then its primary version), and
    /// items are signed on all cores, in chunks. The audit log gets one record per key
    /// version that signed, listing the HMAC of every message it signed in request
    /// order, and one record per failed item; they are written together,
    /// group-committed with other requests, and the results return only once they are
    /// durable.
    public func signBatch(tenant: TenantID, items: [SignRequestItem], by principal: Principal) async throws
        -> [Result<SignResult, KeystoreError>] {
        try await audited(.sign, by: principal, tenant: tenant) {
            try principal.authorize(.useKeys, tenant: tenant)
        }
        var signers: [String: Result<BatchSigner, KeystoreError>] = [:]
        for item in items where signers[item.alias] == nil {
            signers[item.alias] = await batchSigner(tenant: tenant, alias: item.alias)
        }
        let resolved = signers
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunkSize = max(8, (items.count + cores - 1) / cores)
        let outcomes = await withTaskGroup(of: [(Int, BatchOutcome)].self) { group in
            for start in stride(from: 0, to: items.count, by: chunkSize) {
                let range = start..<min(start + chunkSize, items.count)
                group.addTask {
                    var done: [(Int, BatchOutcome)] = []
                    done.reserveCapacity(range.count)
                    for index in range {
                        done.append((index, await self.signItem(items[index], with: resolved[items[index].alias]!)))
                    }
                    return done
                }
            }
            var all: [(Int, BatchOutcome)] = []
            all.reserveCapacity(items.count)
            for await chunk in group { all += chunk }
            return all.sorted { $0.0 < $1.0 }.map(\.1)
        }
        do {
            try await audit.record(batchEvents(outcomes, items: items, tenant: tenant, by: principal))
        } catch {
            throw KeystoreError.store(.database("the audit records could not be written: \(error)"))
        }
        return outcomes.map(\.result)
    }

    /// The primary version of one alias, ready to sign.
    struct BatchSigner: Sendable {
        let record: StoredKey
        let signer: any KeySigner
    }

    /// One item's result, with the HMAC of its message when it was signed.
    struct BatchOutcome: Sendable {
        var result: Result<SignResult, KeystoreError>
        var messageHMAC: String?
    }

    /// An item's alias is checked here, so a malformed one fails that item alone.
    private func batchSigner(tenant: TenantID, alias: String) async -> Result<BatchSigner, KeystoreError> {
        do {
            return .success(try await mappingErrors {
                let (record, signer) = try await primarySigner(tenant: tenant, alias: try KeyAlias(validating: alias))
                return BatchSigner(record: record, signer: signer)
            })
        } catch {
            return .failure(Self.keystoreError(error))
        }
    }

    private func signItem(_ item: SignRequestItem, with resolved: Result<BatchSigner, KeystoreError>) async -> BatchOutcome {
        do {
            // Past the request's deadline the remaining items stop here.
            try Task.checkCancellation()
            let key = try resolved.get()
            let signature = try await mappingErrors { try await key.signer.sign(item.message, format: item.format) }
            let record = key.record
            return BatchOutcome(result: .success(SignResult(signature: signature.bytes, keyID: record.id, alias: record.alias,
                                                            version: record.primaryVersion, scheme: signature.scheme,
                                                            format: signature.format)),
                                messageHMAC: audit.digest(item.message))
        } catch {
            return BatchOutcome(result: .failure(Self.keystoreError(error)), messageHMAC: nil)
        }
    }

    private static func keystoreError(_ error: any Error) -> KeystoreError {
        (error as? KeystoreError) ?? (error is CancellationError ? .deadlineExceeded : .invalidArgument("\(error)"))
    }

    /// An item's alias as its failure record names it: escaped when it is not a valid
    /// alias, so a caller cannot write control characters into the log.
    private static func recordedAlias(_ alias: String) -> String {
        KeyAlias(alias)?.rawValue ?? TerminalText.escaped(String(alias.prefix(128)))
    }

    /// The batch's audit records, in the order of the first item each one covers: a
    /// success record per key version (`signatures`, and `message_hmacs` separated by
    /// spaces in request order), a failure record per failed item.
    private func batchEvents(_ outcomes: [BatchOutcome], items: [SignRequestItem], tenant: TenantID, by principal: Principal) -> [AuditEvent] {
        struct Group {
            let first: Int
            let result: SignResult
            var hmacs: [String]
        }
        var groups: [String: Group] = [:]
        var failures: [(Int, AuditEvent)] = []
        for (index, outcome) in outcomes.enumerated() {
            switch outcome.result {
            case .success(let result):
                let key = "\(result.keyID)#\(result.version)"
                groups[key, default: Group(first: index, result: result, hmacs: [])].hmacs.append(outcome.messageHMAC ?? "")
            case .failure(let error):
                failures.append((index, event(.sign, by: principal, tenant: tenant, outcome: .failure,
                                              details: ["alias": Self.recordedAlias(items[index].alias), "error": error.code])))
            }
        }
        let successes = groups.values.map { group in
            (group.first, event(.sign, by: principal, tenant: tenant, keyID: group.result.keyID, version: group.result.version,
                                details: ["scheme": group.result.scheme.rawValue, "signatures": String(group.hmacs.count),
                                          "message_hmacs": group.hmacs.joined(separator: " ")]))
        }
        return (successes + failures).sorted { $0.0 < $1.0 }.map(\.1)
    }
}
