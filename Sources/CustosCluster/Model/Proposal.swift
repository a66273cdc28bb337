/// What a proposer sends to approvers: its record and, after epoch 1, the certified record it
/// succeeds, so an approver that lags can check the epoch and authority key.
public struct Proposal: Equatable, Sendable {
    /// Record 1024 + previous record 1024 + certificate 8192, with the arrays around them.
    public static let maximumByteCount = 10 * 1024

    public struct Previous: Equatable, Sendable {
        public let record: KeyExchangeRecord
        /// Certificate bytes, decoded by the verifier against its own N.
        public let certificate: [UInt8]

        public init(record: KeyExchangeRecord, certificate: [UInt8]) {
            self.record = record
            self.certificate = certificate
        }
    }

    public let record: KeyExchangeRecord
    public let previous: Previous?

    public init(record: KeyExchangeRecord, previous: Previous?) {
        self.record = record
        self.previous = previous
    }

    var cbor: CBORValue {
        .array([.bytes(record.bytes), previous.map { .array([.bytes($0.record.bytes), .bytes($0.certificate)]) } ?? .null])
    }

    public var encoded: [UInt8] { cbor.encoded }

    public init(bytes: [UInt8]) throws {
        try self.init(value: try CBORValue.decode(bytes, what: "proposal", limit: Self.maximumByteCount))
    }

    init(value: CBORValue) throws {
        let f = try value.array("proposal", count: 2)
        record = try KeyExchangeRecord(bytes: try f[0].bytes("proposal record", maximum: KeyExchangeRecord.maximumByteCount))
        if f[1].isNull {
            previous = nil
        } else {
            let p = try f[1].array("proposal previous", count: 2)
            let previousRecord = try KeyExchangeRecord(bytes: try p[0].bytes("previous record", maximum: KeyExchangeRecord.maximumByteCount))
            // Compared without `KeyName.next`, which would trap on a peer's epoch UInt64.max.
            let expected = KeyName(replica: record.name.replica, generation: record.name.generation, epoch: record.name.epoch - 1)
            guard previousRecord.name == expected else { throw ClusterError.previousRecordMismatch(record.name) }
            previous = Previous(record: previousRecord, certificate: try p[1].bytes("previous certificate", maximum: ClusterCertificate.maximumByteCount))
        }
        if previous == nil, record.name.epoch != 1 { throw ClusterError.previousRecordMismatch(record.name) }
    }
}
