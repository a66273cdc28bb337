import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation

// API views of audit records and verification results, shared by the server and the
// command line's local backend.

extension AuditRecordResponse {
    public init(record: AuditRecord) {
        self.init(sequence: record.sequence, time: record.time, actor: record.actor, tenant: record.tenantID,
                  operation: record.operation, keyID: record.keyID, keyVersion: record.keyVersion, outcome: record.outcome,
                  details: record.detailValues, previousHash: Hex.encode(record.previousHash), hash: Hex.encode(record.hash))
    }
}

extension AuditVerifyResponse {
    public init(result: AuditVerification) {
        self.init(intact: result.intact, recordsChecked: result.recordsChecked, headSequence: result.headSequence,
                  checkpointsChecked: result.checkpointsChecked,
                  findings: result.findings.map { .init(sequence: $0.sequence, kind: $0.kind.rawValue, detail: $0.detail) })
    }
}
