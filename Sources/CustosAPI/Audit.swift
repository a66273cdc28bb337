import CustosMacros
import Foundation

// The audit log, health and errors.

@PublicMemberwiseInit
@SnakeCaseCodingKeys
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
}

@PublicMemberwiseInit
public struct AuditRecordList: Codable, Sendable {
    public var records: [AuditRecordResponse]
    public var next: Int64?
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct AuditVerifyResponse: Codable, Sendable {
    @PublicMemberwiseInit
    public struct Finding: Codable, Sendable {
        public var sequence: Int64
        public var kind: String
        public var detail: String
    }
    public var intact: Bool
    public var recordsChecked: Int
    public var headSequence: Int64
    public var checkpointsChecked: Int
    public var findings: [Finding]
    public var restoredForks: [String]? = nil
}

@PublicMemberwiseInit
public struct HealthResponse: Codable, Sendable {
    public var status: String
    public var checks: [String: String]? = nil
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
