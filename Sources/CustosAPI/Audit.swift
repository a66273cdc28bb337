import Foundation

// The audit log, health and errors.

public struct AuditRecordResponse: Codable, Sendable {
    public var sequence: Int64
    public var time: Date
    public var actor: String
    public var tenant: String?
    public var operation: String
    public var keyID: String?
    public var keyVersion: Int?
    public var outcome: String
    public var details: [String: String]
    public var previousHash: String
    public var hash: String

    public init(sequence: Int64, time: Date, actor: String, tenant: String?, operation: String, keyID: String?,
                keyVersion: Int?, outcome: String, details: [String: String], previousHash: String, hash: String) {
        self.sequence = sequence
        self.time = time
        self.actor = actor
        self.tenant = tenant
        self.operation = operation
        self.keyID = keyID
        self.keyVersion = keyVersion
        self.outcome = outcome
        self.details = details
        self.previousHash = previousHash
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case sequence, time, actor, tenant, operation, outcome, details, hash
        case keyID = "key_id"
        case keyVersion = "key_version"
        case previousHash = "previous_hash"
    }
}

public struct AuditRecordList: Codable, Sendable {
    public var records: [AuditRecordResponse]
    public var next: Int64?
    public init(records: [AuditRecordResponse], next: Int64?) {
        self.records = records
        self.next = next
    }
}

public struct AuditVerifyResponse: Codable, Sendable {
    public struct Finding: Codable, Sendable {
        public var sequence: Int64
        public var kind: String
        public var detail: String
        public init(sequence: Int64, kind: String, detail: String) {
            self.sequence = sequence
            self.kind = kind
            self.detail = detail
        }
    }
    public var intact: Bool
    public var recordsChecked: Int
    public var headSequence: Int64
    public var checkpointsChecked: Int
    public var findings: [Finding]

    public init(intact: Bool, recordsChecked: Int, headSequence: Int64, checkpointsChecked: Int, findings: [Finding]) {
        self.intact = intact
        self.recordsChecked = recordsChecked
        self.headSequence = headSequence
        self.checkpointsChecked = checkpointsChecked
        self.findings = findings
    }

    enum CodingKeys: String, CodingKey {
        case intact, findings
        case recordsChecked = "records_checked"
        case headSequence = "head_sequence"
        case checkpointsChecked = "checkpoints_checked"
    }
}

public struct HealthResponse: Codable, Sendable {
    public var status: String
    public var checks: [String: String]?
    public init(status: String, checks: [String: String]? = nil) {
        self.status = status
        self.checks = checks
    }
}

/// RFC 9457 problem details; `code` is the stable machine-readable part.
public struct Problem: Codable, Sendable, Error {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var code: String

    public init(status: Int, code: String, title: String, detail: String) {
        self.type = "https://custos.dev/problems/\(code)"
        self.title = title
        self.status = status
        self.detail = detail
        self.code = code
    }
}

extension Problem: CustomStringConvertible {
    public var description: String { detail }
}
