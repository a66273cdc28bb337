/// What a replica's main key signs at checkpoint boundary B: the ledger's digest and the key
/// log after its last entry with s ≤ B.
public struct CheckpointStatement: Equatable, Sendable {
    public let boundary: UInt64
    public let ledgerDigest: [UInt8]
    public let logLength: UInt64
    public let logHead: [UInt8]

    public init(boundary: UInt64, ledgerDigest: [UInt8], logLength: UInt64, logHead: [UInt8]) {
        self.boundary = boundary
        self.ledgerDigest = ledgerDigest
        self.logLength = logLength
        self.logHead = logHead
    }

    var cbor: CBORValue { .array([.unsigned(boundary), .bytes(ledgerDigest), .unsigned(logLength), .bytes(logHead)]) }

    init(value: CBORValue) throws {
        let f = try value.array("checkpoint statement", count: 4)
        boundary = try f[0].unsigned("checkpoint boundary")
        ledgerDigest = try f[1].bytes("ledger digest", count: 32)
        logLength = try f[2].unsigned("key-log length")
        logHead = try f[3].bytes("key-log head", count: 32)
    }

    /// M(checkpoint, cluster, CheckpointStatement).
    public func message(cluster: [UInt8]) -> [UInt8] { SignatureTag.checkpoint.message(cluster: cluster, body: cbor) }
}

/// One replica's signature over a checkpoint statement, by its main key `signer` (its key in
/// keyset(B)). Wire form: [CheckpointStatement, r, g, e, signature].
public struct CheckpointSignature: Equatable, Sendable {
    public let statement: CheckpointStatement
    public let signer: KeyName
    public let signature: [UInt8]

    public init(statement: CheckpointStatement, signer: KeyName, signature: [UInt8]) {
        self.statement = statement
        self.signer = signer
        self.signature = signature
    }

    var cbor: CBORValue {
        .array([statement.cbor, .unsigned(UInt64(signer.replica.rawValue)), .unsigned(signer.generation), .unsigned(signer.epoch), .bytes(signature)])
    }

    public var encoded: [UInt8] { cbor.encoded }

    public init(bytes: [UInt8]) throws {
        try self.init(value: try CBORValue.decode(bytes, what: "checkpoint signature", limit: 512))
    }

    init(value: CBORValue) throws {
        let f = try value.array("checkpoint signature", count: 5)
        statement = try CheckpointStatement(value: f[0])
        signer = try Self.keyName(f[1], f[2], f[3])
        signature = try f[4].bytes("checkpoint signature", count: 64)
    }

    /// Whether `mainKey` (raw Ed25519) signed the statement for `cluster`.
    public func isValid(cluster: [UInt8], mainKey: [UInt8]) -> Bool {
        Ed25519Verifier.isValid(signature: signature, message: statement.message(cluster: cluster), key: mainKey)
    }

    static func keyName(_ r: CBORValue, _ g: CBORValue, _ e: CBORValue) throws -> KeyName {
        let id = try r.unsigned("signer replica")
        guard id < 256 else { throw ClusterError.replicaOutOfRange(id) }
        return KeyName(replica: ReplicaID(Int(id)), generation: try g.unsigned("signer generation"), epoch: try e.unsigned("signer epoch"))
    }
}

/// Q or more matching checkpoint signatures: a stable checkpoint anyone verifies alone from
/// the key log. Wire form: [CheckpointStatement, [[r, g, e, signature], …]], ascending r.
public struct CheckpointCertificate: Equatable, Sendable {
    /// 256 signatures of at most 86 bytes each, with the statement.
    public static let maximumByteCount = 24 * 1024

    public struct Signer: Equatable, Sendable {
        public let key: KeyName
        public let signature: [UInt8]
    }

    public let statement: CheckpointStatement
    public let signers: [Signer]

    public var boundary: UInt64 { statement.boundary }

    var cbor: CBORValue {
        .array([statement.cbor, .array(signers.map {
            .array([.unsigned(UInt64($0.key.replica.rawValue)), .unsigned($0.key.generation), .unsigned($0.key.epoch), .bytes($0.signature)])
        })])
    }

    public var encoded: [UInt8] { cbor.encoded }

    public init(bytes: [UInt8]) throws {
        try self.init(value: try CBORValue.decode(bytes, what: "checkpoint certificate", limit: Self.maximumByteCount))
    }

    init(value: CBORValue) throws {
        let f = try value.array("checkpoint certificate", count: 2)
        statement = try CheckpointStatement(value: f[0])
        var signers: [Signer] = []
        for item in try f[1].array("checkpoint signatures") {
            let s = try item.array("checkpoint signer", count: 4)
            let key = try CheckpointSignature.keyName(s[0], s[1], s[2])
            if let last = signers.last, last.key.replica >= key.replica { throw ClusterError.checkpointSignersOutOfOrder }
            signers.append(Signer(key: key, signature: try s[3].bytes("checkpoint signature", count: 64)))
        }
        self.signers = signers
    }

    /// Combines signatures over one statement. Each must be valid under the key `mainKey`
    /// gives for its signer; signatures over another statement and repeats of a replica are refused.
    public static func combine(_ signatures: [CheckpointSignature], cluster: [UInt8], quorum: Int,
                               mainKey: (KeyName) throws -> [UInt8]?) throws -> CheckpointCertificate {
        guard let statement = signatures.first?.statement else { throw ClusterError.belowQuorum(required: quorum, actual: 0) }
        var byReplica: [ReplicaID: Signer] = [:]
        for s in signatures {
            guard s.statement == statement else { throw ClusterError.checkpointStatementMismatch(boundary: statement.boundary) }
            guard byReplica[s.signer.replica] == nil else { throw ClusterError.checkpointSignersOutOfOrder }
            guard let key = try mainKey(s.signer) else { throw ClusterError.unknownSignerKey(s.signer) }
            guard s.isValid(cluster: cluster, mainKey: key) else { throw ClusterError.badCheckpointSignature(s.signer.replica) }
            byReplica[s.signer.replica] = Signer(key: s.signer, signature: s.signature)
        }
        guard byReplica.count >= quorum else { throw ClusterError.belowQuorum(required: quorum, actual: byReplica.count) }
        return CheckpointCertificate(statement: statement, signers: byReplica.values.sorted { $0.key.replica < $1.key.replica })
    }

    init(statement: CheckpointStatement, signers: [Signer]) {
        self.statement = statement
        self.signers = signers
    }

    /// Verifies the signatures: at least `quorum` distinct replicas below `replicaCount`, each
    /// key resolved by the caller's key log as the replica's main key in keyset(B) (nil: unknown;
    /// the resolver throws for a key not active at B).
    public func verify(cluster: [UInt8], replicaCount n: Int, quorum: Int, mainKey: (KeyName) throws -> [UInt8]?) throws {
        guard signers.count >= quorum else { throw ClusterError.belowQuorum(required: quorum, actual: signers.count) }
        for s in signers {
            guard s.key.replica.index < n else { throw ClusterError.replicaOutOfRange(UInt64(s.key.replica.rawValue)) }
        }
        let message = statement.message(cluster: cluster)
        for s in signers {
            guard let key = try mainKey(s.key) else { throw ClusterError.unknownSignerKey(s.key) }
            guard Ed25519Verifier.isValid(signature: s.signature, message: message, key: key) else {
                throw ClusterError.badCheckpointSignature(s.key.replica)
            }
        }
    }
}
