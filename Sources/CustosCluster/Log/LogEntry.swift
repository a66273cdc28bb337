/// What a schedule notice carries.
public enum ScheduledKind: UInt64, Sendable, CaseIterable, CustomStringConvertible {
    case replicaRecord = 0
    case clientRecord = 1
    case command = 2

    public var name: String {
        switch self {
        case .replicaRecord: "replica-record"
        case .clientRecord: "client-record"
        case .command: "command"
        }
    }

    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }

    public var description: String { name }

    /// The largest item of this kind.
    public var maximumItemByteCount: Int {
        switch self {
        case .replicaRecord: KeyExchangeRecord.maximumByteCount
        case .clientRecord: ClientKeyRecord.maximumByteCount
        case .command: OperatorCommand.maximumByteCount
        }
    }
}

/// One key-log entry: a schedule notice and what the key log decided about it.
/// Wire form: [s, kind, item bytes, Certificate bytes, status (0 accepted, 1 void), reason].
public struct LogEntry: Equatable, Sendable {
    public enum Status: UInt64, Sendable {
        case accepted = 0
        case void = 1
    }

    public static let maximumReasonByteCount = 128
    public static let maximumByteCount = OperatorCommand.maximumByteCount + ClusterCertificate.maximumByteCount + 256

    public let sequence: UInt64
    public let kind: ScheduledKind
    /// The scheduled item: a replica record, a client record or a signed command.
    public let item: [UInt8]
    public let certificate: [UInt8]
    public let status: Status
    /// Empty when accepted; a void reason code of docs/cluster.md otherwise.
    public let reason: String

    public init(sequence: UInt64, kind: ScheduledKind, item: [UInt8], certificate: [UInt8], status: Status, reason: String) {
        self.sequence = sequence
        self.kind = kind
        self.item = item
        self.certificate = certificate
        self.status = status
        self.reason = reason
    }

    /// A replica-record entry.
    public init(sequence: UInt64, record: [UInt8], certificate: [UInt8], status: Status, reason: String) {
        self.init(sequence: sequence, kind: .replicaRecord, item: record, certificate: certificate, status: status, reason: reason)
    }

    /// The item of a replica-record entry (kept for callers that schedule only those).
    public var record: [UInt8] { item }

    /// Byte-exact, as the chain head is (not Swift's canonical-equivalence `String ==`).
    public static func == (a: LogEntry, b: LogEntry) -> Bool { a.cbor == b.cbor }

    var cbor: CBORValue {
        .array([.unsigned(sequence), .unsigned(kind.rawValue), .bytes(item), .bytes(certificate), .unsigned(status.rawValue), .text(reason)])
    }

    public var encoded: [UInt8] { cbor.encoded }

    public init(bytes: [UInt8]) throws {
        try self.init(value: try CBORValue.decode(bytes, what: "log entry", limit: Self.maximumByteCount))
    }

    init(value: CBORValue) throws {
        let f = try value.array("log entry", count: 6)
        sequence = try f[0].unsigned("log entry sequence")
        let kindCode = try f[1].unsigned("log entry kind")
        guard let kind = ScheduledKind(rawValue: kindCode) else { throw ClusterError.malformed("log entry kind must be 0, 1 or 2, is \(kindCode)") }
        self.kind = kind
        item = try f[2].bytes("log entry item", maximum: kind.maximumItemByteCount)
        certificate = try f[3].bytes("log entry certificate", maximum: ClusterCertificate.maximumByteCount)
        let code = try f[4].unsigned("log entry status")
        guard let status = Status(rawValue: code) else { throw ClusterError.malformed("log entry status must be 0 or 1, is \(code)") }
        self.status = status
        reason = try f[5].text("log entry reason", maximum: Self.maximumReasonByteCount)
    }
}

extension LogEntry {
    /// The answer to a log-entries peer request: [LogEntry, …].
    public static func encodeList(_ entries: [LogEntry]) -> [UInt8] { CBORValue.array(entries.map(\.cbor)).encoded }

    public static func decodeList(_ bytes: [UInt8], limit: Int) throws -> [LogEntry] {
        try CBORValue.decode(bytes, what: "log entries", limit: limit).array("log entries").map { try LogEntry(value: $0) }
    }
}

extension CheckpointCertificate {
    /// The answer to a stable-checkpoints peer request: [CheckpointCertificate, …].
    public static func encodeList(_ certificates: [CheckpointCertificate]) -> [UInt8] { CBORValue.array(certificates.map(\.cbor)).encoded }

    public static func decodeList(_ bytes: [UInt8], limit: Int) throws -> [CheckpointCertificate] {
        try CBORValue.decode(bytes, what: "stable checkpoints", limit: limit).array("stable checkpoints").map { try CheckpointCertificate(value: $0) }
    }
}
