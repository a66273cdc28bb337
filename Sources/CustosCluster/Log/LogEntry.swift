/// One key-log entry: a schedule notice and what the key log decided about it.
/// Wire form: [s, Record bytes, Certificate bytes, status (0 accepted, 1 void), reason].
public struct LogEntry: Equatable, Sendable {
    public enum Status: UInt64, Sendable {
        case accepted = 0
        case void = 1
    }

    public static let maximumReasonByteCount = 128
    public static let maximumByteCount = KeyExchangeRecord.maximumByteCount + ClusterCertificate.maximumByteCount + 256

    public let sequence: UInt64
    public let record: [UInt8]
    public let certificate: [UInt8]
    public let status: Status
    /// Empty when accepted; a void reason code of docs/cluster.md otherwise.
    public let reason: String

    public init(sequence: UInt64, record: [UInt8], certificate: [UInt8], status: Status, reason: String) {
        self.sequence = sequence
        self.record = record
        self.certificate = certificate
        self.status = status
        self.reason = reason
    }

    /// Byte-exact, as the chain head is (not Swift's canonical-equivalence `String ==`).
    public static func == (a: LogEntry, b: LogEntry) -> Bool { a.cbor == b.cbor }

    var cbor: CBORValue {
        .array([.unsigned(sequence), .bytes(record), .bytes(certificate), .unsigned(status.rawValue), .text(reason)])
    }

    public var encoded: [UInt8] { cbor.encoded }

    public init(bytes: [UInt8]) throws {
        try self.init(value: try CBORValue.decode(bytes, what: "log entry", limit: Self.maximumByteCount))
    }

    init(value: CBORValue) throws {
        let f = try value.array("log entry", count: 5)
        sequence = try f[0].unsigned("log entry sequence")
        record = try f[1].bytes("log entry record", maximum: KeyExchangeRecord.maximumByteCount)
        certificate = try f[2].bytes("log entry certificate", maximum: ClusterCertificate.maximumByteCount)
        let code = try f[3].unsigned("log entry status")
        guard let status = Status(rawValue: code) else { throw ClusterError.malformed("log entry status must be 0 or 1, is \(code)") }
        self.status = status
        reason = try f[4].text("log entry reason", maximum: Self.maximumReasonByteCount)
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
