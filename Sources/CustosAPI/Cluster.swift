import CustosMacros
import Foundation

// The replica network (docs/cluster.md): what the node asks of its Custos and hands it.
// Byte strings that are CBOR (records, certificates, log entries) are base64; 32-byte
// digests and heads are lower-case hex.

/// A key name (r, g, e).
@PublicMemberwiseInit
public struct ClusterKeyName: Codable, Sendable, Equatable {
    public var replica: Int
    public var generation: UInt64
    public var epoch: UInt64
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterReplicaKeys: Codable, Sendable, Equatable {
    public var replica: Int
    /// The newest key name with an accepted record (the bootstrap name before any).
    public var newestCertified: ClusterKeyName
    /// The key in keyset(t) for the latest sequence this replica knows.
    public var active: ClusterKeyName
    /// The sequence of the newest accepted record's schedule entry; absent before any.
    public var lastRotatedSequence: UInt64? = nil
    /// Rotate commands this replica has not answered yet.
    public var pendingCommands: [UInt64] = []
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterStatusResponse: Codable, Sendable, Equatable {
    /// Hex.
    public var clusterID: String
    public var replica: Int
    public var n: Int
    public var f: Int
    public var quorum: Int
    public var checkpointInterval: UInt64
    /// recovering, bootstrapping or operational.
    public var phase: String
    public var replicas: [ClusterReplicaKeys]
    public var logLength: UInt64
    public var logHead: String
    public var latestSequence: UInt64
    public var latestCheckpoint: UInt64
    public var latestStableBoundary: UInt64?
    /// Sequences at or below it are refused; absent while recovering.
    public var restoreFloor: UInt64?
    public var pendingCandidate: ClusterKeyName?
    public var checkpointMismatches: Int
    /// Why the replica did not start (its stored state refused), tried again each round; absent once started.
    public var startError: String? = nil
    /// The client nodes of the key log, removed ones included.
    public var clients: [ClusterClientStatus] = []
    /// The operator commands this replica relayed or found in its log.
    public var commands: [ClusterCommandStatus] = []
}

/// A certified item waiting for the ledger to schedule it: this replica's own record, a client's
/// record or an operator command this replica relayed.
@PublicMemberwiseInit
public struct ClusterCertifiedRecord: Codable, Sendable, Equatable {
    /// The replica key name of a replica record; absent for the other kinds.
    public var name: ClusterKeyName?
    /// The item bytes, base64 (the same as `item`; kept for nodes that read `record`).
    public var record: String
    /// Certificate bytes, base64.
    public var certificate: String
    /// replica-record, client-record or command.
    public var kind: String = "replica-record"
    /// The item bytes, base64.
    public var item: String? = nil
    /// What the item is about, for people: "(replica 1, g0, e2)", "(client 3, e1)", "command 7 rotate-client-keys".
    public var subject: String? = nil
}

@PublicMemberwiseInit
public struct ClusterCertifiedResponse: Codable, Sendable, Equatable {
    public var records: [ClusterCertifiedRecord]
}

/// A schedule notice: the ledger committed `item` (of `kind`) with `certificate` at `sequence`.
/// `record` is the older name of `item`, for a replica record; exactly one of them is given.
@PublicMemberwiseInit
public struct ClusterScheduleRequest: Codable, Sendable {
    public var sequence: UInt64
    public var record: String? = nil
    public var certificate: String
    /// replica-record (the default), client-record or command.
    public var kind: String? = nil
    public var item: String? = nil
}

/// One key-log entry.
@PublicMemberwiseInit
public struct ClusterLogEntry: Codable, Sendable, Equatable {
    public var index: UInt64
    public var sequence: UInt64
    /// The replica key name of a replica record.
    public var name: ClusterKeyName?
    /// accepted or void.
    public var status: String
    /// Why the entry is void; empty when accepted.
    public var reason: String
    /// The chain head after this entry, hex.
    public var head: String
    /// The LogEntry bytes (docs/cluster.md), base64; absent in a schedule answer.
    public var entry: String? = nil
    /// replica-record, client-record or command.
    public var kind: String? = nil
    /// The client key name of a client record.
    public var client: ClusterClientKeyName? = nil
    /// The command number of a command entry, or the command a record answers (absent: none).
    public var command: UInt64? = nil
    /// The action of a command entry (rotate-replica-keys, …).
    public var action: String? = nil
    /// What the entry is about, for people: "(replica 1, g0, e2)", "(client 3, e1)", "command 7 rotate-client-keys".
    public var subject: String? = nil
}

/// A client key name (k, e).
@PublicMemberwiseInit
public struct ClusterClientKeyName: Codable, Sendable, Equatable {
    public var client: UInt32
    public var epoch: UInt64
}

@PublicMemberwiseInit
public struct ClusterLogResponse: Codable, Sendable, Equatable {
    public var entries: [ClusterLogEntry]
    /// The number of entries before the next page, when there is one.
    public var next: UInt64?
}

/// A checkpoint notice: the ledger passed `boundary` with this state digest (hex, 32 bytes).
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterCheckpointRequest: Codable, Sendable {
    public var boundary: UInt64
    public var ledgerDigest: String
}

/// This replica's signature over the checkpoint statement.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterCheckpointSignature: Codable, Sendable, Equatable {
    public var boundary: UInt64
    public var ledgerDigest: String
    public var logLength: UInt64
    public var logHead: String
    public var signer: ClusterKeyName
    /// Ed25519, base64.
    public var signature: String
}

/// A stable-checkpoint certificate (CheckpointCertificate bytes, base64).
@PublicMemberwiseInit
public struct ClusterStableCheckpoint: Codable, Sendable, Equatable {
    public var boundary: UInt64
    public var certificate: String
}

/// The consensus message a share is asked for: Custos signs M(consensus-share, cluster,
/// [view, sequence, phase, digest]), never a bare digest.
@PublicMemberwiseInit
public struct ClusterShareRequest: Codable, Sendable {
    public var view: UInt64
    public var sequence: UInt64
    /// pre-prepare, prepare, commit or view-change.
    public var phase: String
    /// Hex, 32 bytes.
    public var digest: String
}

@PublicMemberwiseInit
public struct ClusterShare: Codable, Sendable, Equatable {
    public var signer: ClusterKeyName
    /// 96-byte BLS signature, base64.
    public var share: String
}

@PublicMemberwiseInit
public struct ClusterCombineRequest: Codable, Sendable {
    public var view: UInt64
    public var sequence: UInt64
    public var phase: String
    public var digest: String
    public var shares: [ClusterShare]
}

@PublicMemberwiseInit
public struct ClusterCertificateResponse: Codable, Sendable, Equatable {
    /// Certificate bytes (docs/cluster.md, "Quorum certificates"), base64.
    public var certificate: String
}

@PublicMemberwiseInit
public struct ClusterVerifyRequest: Codable, Sendable {
    public var view: UInt64
    public var sequence: UInt64
    public var phase: String
    public var digest: String
    public var certificate: String
}

@PublicMemberwiseInit
public struct ClusterVerifyResponse: Codable, Sendable, Equatable {
    public var valid: Bool
    /// The replicas whose keys signed, ascending.
    public var signers: [Int]
}

/// Everything needed to check a replica's key log offline from genesis: the LogExport of
/// docs/cluster.md ([SignedConfiguration, [LogEntry, …], [CheckpointCertificate, …]]).
@PublicMemberwiseInit
public struct ClusterLogExport: Codable, Sendable, Equatable {
    public static let formatName = "custos-cluster-log-v1"
    public var format: String
    /// LogExport CBOR bytes, base64.
    public var log: String
}

/// What `log verify` found: the entries replayed from genesis and the checkpoints whose
/// key-log head they reproduce.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterLogVerifyResponse: Codable, Sendable, Equatable {
    public var valid: Bool
    public var entries: UInt64
    public var accepted: UInt64
    public var head: String
    public var checkpointsVerified: Int
    public var latestStableBoundary: UInt64?
    /// Entries covered by the latest verified stable checkpoint; later ones are recomputed
    /// but not yet vouched for by Q replicas.
    public var verifiedEntries: UInt64
    /// Why the log does not verify; absent when it does.
    public var problem: String? = nil
}
