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
    /// The sequence that scheduled its newest accepted record (or replacement); nil before any.
    public let lastRotatedAt: UInt64?
    /// Accepted commands naming it that are not complete for it yet, ascending.
    public let pendingCommands: [UInt64]

    public init(replica: ReplicaID, newestCertified: KeyName, active: KeyName, lastRotatedAt: UInt64? = nil, pendingCommands: [UInt64] = []) {
        self.replica = replica
        self.newestCertified = newestCertified
        self.active = active
        self.lastRotatedAt = lastRotatedAt
        self.pendingCommands = pendingCommands
    }
}

/// One client node's keys as this replica's key log sees them.
public struct ClientKeyStatus: Equatable, Sendable {
    public let client: ClientID
    /// Its newest accepted key name (epoch 0 from add-client).
    public let newest: ClientKeyName
    /// Its key in the client keyset for the latest sequence this replica knows; nil before the
    /// add-client is decided there, or after remove-client.
    public let active: ClientKeyName?
    public let removed: Bool
    /// Accepted commands naming it that are not complete for it yet, ascending.
    public let pendingCommands: [UInt64]
    /// The sequence that scheduled its newest accepted record (or its add-client); nil before any.
    public let lastRotatedAt: UInt64?

    public init(client: ClientID, newest: ClientKeyName, active: ClientKeyName?, removed: Bool, pendingCommands: [UInt64], lastRotatedAt: UInt64?) {
        self.client = client
        self.newest = newest
        self.active = active
        self.removed = removed
        self.pendingCommands = pendingCommands
        self.lastRotatedAt = lastRotatedAt
    }
}

/// Where an operator command stands at this replica.
public enum CommandState: Equatable, Sendable, CustomStringConvertible {
    /// Relayed; `approvals` came back in the latest round (own included).
    case relaying(approvals: Int, quorum: Int)
    /// Some replica approved another command under this number and fewer than Q approved this
    /// one: it will not be certified; the operator reissues under a new number.
    case contested
    /// Certified; waits for the ledger to schedule it.
    case certified
    /// Accepted in the log; rotations not yet complete.
    case executed
    /// In the log, void, with the reason.
    case void(reason: String)
    /// Accepted, and every target has done its part.
    case complete

    /// The name of the state in the HTTP API.
    public var name: String {
        switch self {
        case .relaying: "relaying"
        case .contested: "contested"
        case .certified: "certified"
        case .executed: "executed"
        case .void: "void"
        case .complete: "complete"
        }
    }

    public var description: String {
        switch self {
        case .relaying(let approvals, let quorum): "relaying (\(approvals) of \(quorum) approvals)"
        case .void(let reason): "void: \(reason)"
        default: name
        }
    }
}

/// One operator command as this replica knows it.
public struct CommandStatus: Equatable, Sendable {
    public let number: UInt64
    /// "rotate-replica-keys", "add-client", …
    public let action: String
    /// SHA-256 of the SignedCommand bytes.
    public let digest: [UInt8]
    public let state: CommandState
    /// Targets that have not yet done their part (executed commands only).
    public let targetsRemaining: [NodeRef]
    /// The sequence the ledger scheduled it at; nil before.
    public let sequence: UInt64?

    public init(number: UInt64, action: String, digest: [UInt8], state: CommandState, targetsRemaining: [NodeRef], sequence: UInt64?) {
        self.number = number
        self.action = action
        self.digest = digest
        self.state = state
        self.targetsRemaining = targetsRemaining
        self.sequence = sequence
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
    /// Every client node ever added, by id.
    public let clients: [ClientKeyStatus]
    /// Every operator command this replica knows, by number.
    public let commands: [CommandStatus]

    public init(replica: ReplicaID, phase: ReplicaPhase, replicas: [ReplicaKeyStatus], logLength: UInt64, logHead: [UInt8],
                latestSequence: UInt64, latestCheckpoint: UInt64, latestStableBoundary: UInt64?, restoreFloor: UInt64?,
                pendingCandidate: KeyName?, checkpointMismatches: Int, clients: [ClientKeyStatus] = [], commands: [CommandStatus] = []) {
        self.clients = clients
        self.commands = commands
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

/// A certified item that the ledger has not scheduled yet: this replica's own record, or a
/// command or client record it relayed.
public struct CertifiedItem: Equatable, Sendable {
    public let kind: ScheduledKind
    /// "(r, gG, eE)", "(client K, eE)" or "command C".
    public let subject: String
    public let item: [UInt8]
    public let certificate: [UInt8]
    /// The key name of a replica record; nil for other kinds.
    public let name: KeyName?

    public init(kind: ScheduledKind, subject: String, item: [UInt8], certificate: [UInt8], name: KeyName? = nil) {
        self.kind = kind
        self.subject = subject
        self.item = item
        self.certificate = certificate
        self.name = name
    }

    /// The item bytes under their former name.
    public var record: [UInt8] { item }
}

/// What a schedule notice became in the key log.
public struct LogEntrySummary: Equatable, Sendable {
    public let index: UInt64
    public let sequence: UInt64
    public let kind: ScheduledKind
    /// A replica record's key name; nil for other kinds and when the record could not be decoded (a void entry).
    public let name: KeyName?
    /// What the entry is about: a key name, "(client K, eE)", "command C", or "sequence S" when undecodable.
    public let subject: String
    public let accepted: Bool
    /// Why the entry is void; empty when accepted.
    public let reason: String
    public let head: [UInt8]

    public init(index: UInt64, sequence: UInt64, kind: ScheduledKind = .replicaRecord, name: KeyName?, subject: String? = nil,
                accepted: Bool, reason: String, head: [UInt8]) {
        self.index = index
        self.sequence = sequence
        self.kind = kind
        self.name = name
        self.subject = subject ?? name.map { "\($0)" } ?? "sequence \(sequence)"
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
