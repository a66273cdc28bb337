/// Where a replica stands (docs/cluster.md, "Restore floor" and "Scheduling").
public enum ReplicaPhase: String, Sendable, CustomStringConvertible {
    /// Fewer than Q replicas (itself included) have answered since start: no share is signed.
    case recovering
    /// Fewer than Q replicas have operational keys (epoch ≥ 1) active.
    case bootstrapping
    case operational

    public var description: String { rawValue }
}

/// One replica's keys as this replica's key log sees them.
public struct ReplicaKeyStatus: Equatable, Sendable {
    public let replica: ReplicaID
    /// The newest key name with an accepted record (the bootstrap name before any).
    public let newestCertified: KeyName
    /// Its key in keyset(t) for the latest sequence this replica knows.
    public let active: KeyName

    public init(replica: ReplicaID, newestCertified: KeyName, active: KeyName) {
        self.replica = replica
        self.newestCertified = newestCertified
        self.active = active
    }
}

public struct ReplicaStatus: Equatable, Sendable {
    public let replica: ReplicaID
    public let phase: ReplicaPhase
    public let replicas: [ReplicaKeyStatus]
    public let logLength: UInt64
    public let logHead: [UInt8]
    /// The highest ledger sequence handed in (schedule or checkpoint notice, or a stable checkpoint).
    public let latestSequence: UInt64
    /// The highest checkpoint boundary known to be passed by the ledger.
    public let latestCheckpoint: UInt64
    public let latestStableBoundary: UInt64?
    /// Sequences at or below it are refused; nil while recovering.
    public let restoreFloor: UInt64?
    /// This replica's own candidate not yet accepted in the log, if any.
    public let pendingCandidate: KeyName?
    /// Peers' checkpoint signatures over another ledger digest than this replica's.
    public let checkpointMismatches: Int

    public init(replica: ReplicaID, phase: ReplicaPhase, replicas: [ReplicaKeyStatus], logLength: UInt64, logHead: [UInt8],
                latestSequence: UInt64, latestCheckpoint: UInt64, latestStableBoundary: UInt64?, restoreFloor: UInt64?,
                pendingCandidate: KeyName?, checkpointMismatches: Int) {
        self.replica = replica
        self.phase = phase
        self.replicas = replicas
        self.logLength = logLength
        self.logHead = logHead
        self.latestSequence = latestSequence
        self.latestCheckpoint = latestCheckpoint
        self.latestStableBoundary = latestStableBoundary
        self.restoreFloor = restoreFloor
        self.pendingCandidate = pendingCandidate
        self.checkpointMismatches = checkpointMismatches
    }
}

/// The outcome of one key-exchange round.
public enum KeyExchangeProgress: Equatable, Sendable {
    /// Nothing to propose: this replica's operational keys are certified and scheduled.
    case idle
    /// Approvals gathered this round (own included) for the candidate; fewer than `quorum`.
    case collecting(name: KeyName, approvals: Int, quorum: Int)
    /// The candidate is certified; its certificate is saved and waits to be scheduled.
    case certified(name: KeyName)
}

/// An own certified record that the ledger has not scheduled yet.
public struct CertifiedRecord: Equatable, Sendable {
    public let name: KeyName
    public let record: [UInt8]
    public let certificate: [UInt8]

    public init(name: KeyName, record: [UInt8], certificate: [UInt8]) {
        self.name = name
        self.record = record
        self.certificate = certificate
    }
}

/// What a schedule notice became in the key log.
public struct LogEntrySummary: Equatable, Sendable {
    public let index: UInt64
    public let sequence: UInt64
    /// The record's key name; nil when the record could not be decoded (a void entry).
    public let name: KeyName?
    public let accepted: Bool
    /// Why the entry is void; empty when accepted.
    public let reason: String
    public let head: [UInt8]

    public init(index: UInt64, sequence: UInt64, name: KeyName?, accepted: Bool, reason: String, head: [UInt8]) {
        self.index = index
        self.sequence = sequence
        self.name = name
        self.accepted = accepted
        self.reason = reason
        self.head = head
    }
}

/// A share over M(consensus-share, cluster, [view, sequence, phase, digest]) by `signer`'s
/// consensus key in keyset(sequence).
public struct ConsensusShare: Equatable, Sendable {
    public let signer: KeyName
    /// 96-byte compressed BLS signature.
    public let share: [UInt8]

    public init(signer: KeyName, share: [UInt8]) {
        self.signer = signer
        self.share = share
    }
}
