import Foundation

/// One client node's engine (docs/cluster.md, "Client nodes"): follows the key log from the
/// replicas and verifies every entry with its own `KeyLog`, executes the rotation orders the
/// log holds for it (a candidate signed by its current signing key, submitted to a replica
/// that relays it for approval), signs with its active signing key, and destroys a key name's
/// private keys once a stable checkpoint past its successor's activation verifies.
///
/// The log is kept in two layers: entries covered by a verified stable checkpoint (stored in
/// the vault, rebuilt by `start()`), and the entries fetched after them, each verified but held
/// in memory only until a stable checkpoint fixes them: a peer may claim another sequence for
/// a real entry, which only the Q signatures over the log head reveal.
public actor ClientNode {
    public nonisolated let configuration: ClusterConfiguration
    public nonisolated let client: ClientID
    let vault: any ClientVault
    let clock: any ClusterClock
    let audit: any ClusterAuditSink
    let transport: any PeerTransport
    let peerTimeout: Duration
    let peers: PeerFanOut

    /// The log up to the latest verified stable checkpoint (with its notice): what the vault holds.
    var stableLog: KeyLog
    /// `stableLog` and the entries fetched after it.
    var log: KeyLog
    var latestStableBoundary: UInt64?
    var started = false
    /// The replica followed now; a failing or lying one is left for the next.
    var followed: ReplicaID
    /// Whether the last follow pass reached its replica.
    var following = false
    /// The replica the candidate in flight was last handed to, and for how many rounds it has
    /// answered without the record reaching the log.
    var relay: ReplicaID
    var relayRounds = 0
    var lastReported: (name: ClientKeyName, state: ClientSubmissionState)?
    /// Mutations of the log run one at a time across awaits.
    let gate = SerialGate()

    /// Entries asked for in one long-poll, and the longest wait a replica accepts.
    static let pageSize: UInt64 = 64
    static let maximumWait: Duration = .milliseconds(25_000)
    /// Rounds a relay may answer without the record reaching the log before the next replica is tried.
    static let relayPatience = 3

    public init(configuration: ClusterConfiguration, client: ClientID, vault: any ClientVault, transport: any PeerTransport,
                clock: any ClusterClock, audit: any ClusterAuditSink, peerTimeout: Duration = ReplicaNode.defaultPeerTimeout) {
        self.configuration = configuration
        self.client = client
        self.vault = vault
        self.clock = clock
        self.audit = audit
        self.transport = transport
        self.peerTimeout = peerTimeout
        peers = PeerFanOut(transport: transport, clock: clock, timeout: peerTimeout, maximumConcurrent: 1)
        stableLog = KeyLog(configuration: configuration)
        log = stableLog
        // Clients spread over the replicas from the start.
        followed = ReplicaID(Int(client.rawValue) % configuration.n)
        relay = followed
    }

    nonisolated var cluster: [UInt8] { configuration.clusterID }
    nonisolated var interval: UInt64 { configuration.checkpointInterval }

    // MARK: Start

    /// Replays the stored log and adopts the stored stable checkpoint; then finishes any key
    /// destruction a crash interrupted. Peers are first asked by `follow`.
    public func start() async throws {
        try await gate.exclusively {
            let stored = try await StoredLogEntry.readAll { try await vault.logEntries(after: $0, limit: $1) }
            var replayed = try KeyLog(configuration: configuration, replaying: stored)
            if let stable = try await vault.latestStableCheckpoint() {
                let certificate = try CheckpointCertificate(bytes: stable.certificate)
                if stable.boundary > replayed.checkpointNotice, stable.boundary >= replayed.lastSequence {
                    try replayed.checkpoint(boundary: stable.boundary)
                }
                guard case .matchesLog = try replayed.verify(certificate) else { throw ClusterError.logTruncated(boundary: stable.boundary) }
                latestStableBoundary = stable.boundary
            }
            stableLog = replayed
            log = replayed
            started = true
            if let boundary = latestStableBoundary { try await destroySupersededKeys(stableAt: boundary) }
        }
    }

    func requireStarted() throws {
        guard started else { throw ClusterError.notStarted }
    }

    // MARK: Keys

    /// The sequence whose keys are this client's present: the one after the latest it knows.
    var currentSequence: UInt64 { max(log.checkpointNotice, log.lastSequence, latestStableBoundary ?? 0) + 1 }

    /// clientKeyset(t) for the present; when an entry ran ahead of the next checkpoint, the
    /// client keyset at the latest checkpoint (always decided).
    func presentClientKeyset() throws -> ClientKeyset {
        do { return try log.clientKeyset(at: currentSequence) } catch { return try log.clientKeyset(at: log.checkpointNotice) }
    }

    /// This client's key name in clientKeyset(t) for the present.
    func activeName() -> ClientKeyName? { (try? presentClientKeyset())?(client)?.name }

    /// Signs `message` with the active signing key: the key replicas find for this client in
    /// clientKeyset(t) at the present. Refused when the client is not registered or removed.
    public func sign(_ message: [UInt8]) async throws -> (name: ClientKeyName, signature: [UInt8]) {
        try requireStarted()
        guard log.isKnownClient(client) else { throw ClusterError.unknownClient(client) }
        guard !log.isRemoved(client) else { throw ClusterError.clientRemoved(client) }
        guard let name = activeName() else { throw ClusterError.unknownClient(client) }
        return (name, try await vault.signWithSigningKey(name, message))
    }

    /// The key name whose TLS key (and API TLS key) the client presents now: the active one; the
    /// newest certified while catching up, as replicas do (its peers may have activated it and
    /// retired the older pin); epoch 0 before the log knows the client.
    public func currentTLSKey() -> ClientKeyName? {
        let newest = log.newestClientKeys(of: client)?.name
        guard let newest else { return ClientKeyName(client: client, epoch: 0) }
        if !following { return newest }
        return activeName() ?? newest
    }

    // MARK: Status

    public func status() async -> ClientStatus {
        let newest = log.newestClientKeys(of: client)?.name
        let removed = log.isRemoved(client)
        let phase: ClientPhase = removed ? .removed : newest == nil ? .unregistered : following ? .following : .catchingUp
        let orders = log.pendingOrders(of: .client(client))
        var candidate: ClientKeyName?
        if let next = newest?.next, (try? await vault.candidate(next)) ?? nil != nil { candidate = next }
        return ClientStatus(client: client, phase: phase, newest: newest, active: removed ? nil : activeName(),
                            tlsKey: currentTLSKey() ?? ClientKeyName(client: client, epoch: 0),
                            pendingCommand: orders?.highestCommand, pendingKinds: orders?.clientKinds ?? [],
                            candidate: candidate, followedReplica: followed, logLength: log.length, logHead: log.head,
                            stableLength: stableLog.length, latestStableBoundary: latestStableBoundary)
    }

    // MARK: Audit

    func report(_ operation: String, _ outcome: String, subject: String, detail: String) async {
        await audit.record(ClusterAuditEvent(operation: operation, outcome: outcome, subject: subject, detail: detail))
    }

    func describe(_ error: any Error) -> String {
        error is PeerFanOut.TimedOut ? "timed out" : String(describing: ReplicaNode.clusterError(error))
    }

    func next(after replica: ReplicaID) -> ReplicaID { ReplicaID((replica.index + 1) % configuration.n) }
}
