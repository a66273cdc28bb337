/// Where a client node stands in its own verified copy of the key log.
public enum ClientPhase: String, Sendable, CustomStringConvertible {
    /// No add-client command for this id is in the log yet.
    case unregistered
    /// Registered; the last follow pass failed (or none ran since start): the log may be behind.
    case catchingUp
    /// Registered and the last follow pass reached a replica.
    case following
    /// A remove-client command for this id is in the log: the client signs nothing more.
    case removed

    public var description: String { rawValue }
}

public struct ClientStatus: Equatable, Sendable {
    public let client: ClientID
    public let phase: ClientPhase
    /// The newest key name with an accepted record (epoch 0 from add-client); nil before it.
    public let newest: ClientKeyName?
    /// This client's key in clientKeyset(t) for the present; nil when unregistered or removed.
    public let active: ClientKeyName?
    /// The key name whose TLS key the client presents to the replicas now.
    public let tlsKey: ClientKeyName
    /// The highest pending rotation order for this client and the union of its kinds.
    public let pendingCommand: UInt64?
    public let pendingKinds: ClientKeyKinds
    /// A candidate created and not yet accepted in the log.
    public let candidate: ClientKeyName?
    /// The replica followed now (long-poll and stable checkpoints).
    public let followedReplica: ReplicaID
    public let logLength: UInt64
    public let logHead: [UInt8]
    /// Entries covered by the latest verified stable checkpoint (stored by the vault); the
    /// rest are verified entry by entry but not yet fixed by Q signatures.
    public let stableLength: UInt64
    public let latestStableBoundary: UInt64?

    public init(client: ClientID, phase: ClientPhase, newest: ClientKeyName?, active: ClientKeyName?, tlsKey: ClientKeyName,
                pendingCommand: UInt64?, pendingKinds: ClientKeyKinds, candidate: ClientKeyName?, followedReplica: ReplicaID,
                logLength: UInt64, logHead: [UInt8], stableLength: UInt64, latestStableBoundary: UInt64?) {
        self.client = client
        self.phase = phase
        self.newest = newest
        self.active = active
        self.tlsKey = tlsKey
        self.pendingCommand = pendingCommand
        self.pendingKinds = pendingKinds
        self.candidate = candidate
        self.followedReplica = followedReplica
        self.logLength = logLength
        self.logHead = logHead
        self.stableLength = stableLength
        self.latestStableBoundary = latestStableBoundary
    }
}

/// The outcome of one `ClientNode.advance()`.
public enum ClientProgress: Equatable, Sendable {
    /// No pending order and no candidate in flight.
    case idle
    /// The log has no add-client command for this id.
    case unregistered
    case removed
    /// Orders are pending but the newest key is not active yet: one rotation at a time.
    case awaitingActivation(ClientKeyName)
    /// The candidate was handed to `relay`, which answered `state`.
    case submitted(name: ClientKeyName, relay: ReplicaID, state: ClientSubmissionState)
    /// No replica took the candidate this round (unreachable or refused); tried again next round.
    case unsubmitted(name: ClientKeyName)
}
