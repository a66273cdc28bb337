import BLS12381
import Foundation

/// One replica's engine (docs/cluster.md): proposes and approves key-exchange records, keeps
/// the key log from the ledger's schedule and checkpoint notices, signs checkpoints and
/// consensus shares, and catches up from peers. Everything that must survive a crash goes
/// through the `ReplicaVault` before the signature depending on it leaves; the rest is rebuilt
/// by `start()`.
public actor ReplicaNode {
    public nonisolated let configuration: ClusterConfiguration
    public nonisolated let replica: ReplicaID
    let vault: any ReplicaVault
    let clock: any ClusterClock
    let audit: any ClusterAuditSink
    let peers: PeerFanOut

    /// The key log as replayed from the vault and extended by notices and catch-up.
    var log: KeyLog
    var started = false
    /// Sequences at or below it are refused; nil while recovering (fewer than Q answers).
    var restoreFloor: UInt64?
    var latestStableBoundary: UInt64?
    /// The highest ledger sequence handed in by a notice.
    var latestSequence: UInt64 = 0
    /// This replica's checkpoint signatures, by boundary (answers to peer request 4).
    var ownCheckpoints: [UInt64: CheckpointSignature] = [:]
    var checkpointMismatches = 0
    /// Started with an empty log and none of its bootstrap keys: a replacement replica whose
    /// keys the log (to be fetched) names; it answers no approval until the log shows them.
    var awaitingReplacementLog = false
    /// Mutations of the log and of the stable checkpoint run one at a time across awaits.
    let gate = SerialGate()
    /// Per relayed item (by digest), the approvals of its latest round and whether a peer
    /// answered that it approved another command under the same number.
    var relayProgress: [[UInt8]: (approvals: Int, contested: Bool)] = [:]
    /// SHA-256 of the items of the log's first `scheduledDigestsIndexed` entries.
    var scheduledDigests: Set<[UInt8]> = []
    var scheduledDigestsIndexed = 0
    /// Long-polls on the log (request 9), by id.
    var logWaiters: [UInt64: LogWaiter] = [:]
    var nextLogWaiter: UInt64 = 0
    /// Commands whose completion has been audited.
    var reportedComplete: Set<UInt64> = []

    /// How long one peer call may take, and how many run at once.
    public static let defaultPeerTimeout: Duration = .seconds(5)
    public static let defaultPeerConcurrency = 16
    /// Bounds of one catch-up pass.
    static let catchUpPageSize: UInt64 = 64
    static let catchUpMaximumPages = 64

    public init(configuration: ClusterConfiguration, replica: ReplicaID, vault: any ReplicaVault, transport: any PeerTransport,
                clock: any ClusterClock, audit: any ClusterAuditSink,
                peerTimeout: Duration = ReplicaNode.defaultPeerTimeout, peerConcurrency: Int = ReplicaNode.defaultPeerConcurrency) {
        self.configuration = configuration
        self.replica = replica
        self.vault = vault
        self.clock = clock
        self.audit = audit
        peers = PeerFanOut(transport: transport, clock: clock, timeout: peerTimeout, maximumConcurrent: peerConcurrency)
        log = KeyLog(configuration: configuration)
    }

    nonisolated var cluster: [UInt8] { configuration.clusterID }
    nonisolated var interval: UInt64 { configuration.checkpointInterval }
    nonisolated var quorum: Int { configuration.quorum }
    nonisolated var otherReplicas: [ReplicaID] {
        (0..<configuration.n).map { ReplicaID($0) }.filter { $0 != replica }
    }

    // MARK: Start

    /// Replays the key log from the vault, then asks peers for what this replica lacks and for
    /// their stable checkpoints to set the restore floor. Peers that cannot be reached leave
    /// the replica `recovering`; `catchUp()` tries again.
    public func start() async throws {
        guard replica.index < configuration.n else { throw ClusterError.replicaOutOfRange(UInt64(replica.rawValue)) }
        try await gate.exclusively {
            let stored = try await StoredLogEntry.readAll { try await vault.logEntries(after: $0, limit: $1) }
            var replayed = try KeyLog(configuration: configuration, replaying: stored)
            latestSequence = replayed.lastSequence
            if let stable = try await vault.latestStableCheckpoint() {
                // A stable checkpoint says the ledger passed its boundary; the log must reproduce it.
                let certificate = try CheckpointCertificate(bytes: stable.certificate)
                if stable.boundary >= replayed.lastSequence { try replayed.checkpoint(boundary: stable.boundary) }
                try replayed.verify(certificate)
                latestStableBoundary = stable.boundary
                latestSequence = max(latestSequence, stable.boundary)
            }
            // Checked before the replayed log is adopted: a directory that fails it shows an empty log.
            do {
                try await requireOwnKeys(in: replayed)
            } catch ClusterError.ownKeysMissing where replayed.length == 0 {
                // A replacement joins with the keys of a new generation that only the log names:
                // it fetches the log before it can show it holds them.
                awaitingReplacementLog = true
            }
            log = replayed
            reportedComplete = Set(replayed.commands.filter(\.complete).map(\.number))
            started = true
        }
        try await catchUp()
        if awaitingReplacementLog {
            do {
                try await requireOwnKeys(in: log)
                awaitingReplacementLog = false
            } catch {
                started = false
                log = KeyLog(configuration: configuration)
                throw error
            }
        }
    }

    /// A directory whose membership row names another replica (edited, or copied from another
    /// directory) would sign nothing of its own but answer peers under a borrowed identity: it
    /// must hold the private keys of this replica's bootstrap, active or newest certified name.
    private func requireOwnKeys(in replayed: KeyLog) async throws {
        var names: [KeyName] = [.bootstrap(replica)]
        if let newest = replayed.newestKeys(of: replica)?.name { names.append(newest) }
        if let active = (try? replayed.keyset(at: max(latestSequence, replayed.lastSequence)))?(replica)?.name { names.append(active) }
        for name in names where try await vault.holdsKeys(name) { return }
        throw ClusterError.ownKeysMissing(replica)
    }

    func requireStarted() throws {
        guard started else { throw ClusterError.notStarted }
    }

    // MARK: Status

    public func status() async -> ReplicaStatus {
        let keyset = try? presentKeyset()
        let clientKeyset = try? presentClientKeyset()
        var pending: [NodeRef: [UInt64]] = [:]
        for progress in log.commands where !progress.complete {
            for target in progress.targetsRemaining { pending[target, default: []].append(progress.number) }
        }
        var operational = 0
        let keys: [ReplicaKeyStatus] = configuration.replicas.map { descriptor in
            let newest = log.newestKeys(of: descriptor.id)?.name ?? .bootstrap(descriptor.id)
            let active = keyset?(descriptor.id)?.name ?? .bootstrap(descriptor.id)
            if active.epoch >= 1 { operational += 1 }
            return ReplicaKeyStatus(replica: descriptor.id, newestCertified: newest, active: active,
                                    lastRotatedAt: log.lastRotation(of: .replica(descriptor.id))?.sequence,
                                    pendingCommands: pending[.replica(descriptor.id)] ?? [])
        }
        // Every client ever added, removed ones included.
        let added = log.commands.compactMap { progress -> ClientID? in
            if case .addClient(let descriptor) = progress.action { return descriptor.client } else { return nil }
        }
        let clients: [ClientKeyStatus] = added.compactMap { client in
            guard let newest = log.newestClientKeys(of: client)?.name else { return nil }
            return ClientKeyStatus(client: client, newest: newest, active: clientKeyset?(client)?.name, removed: log.isRemoved(client),
                                   pendingCommands: pending[.client(client)] ?? [],
                                   lastRotatedAt: log.lastRotation(of: .client(client))?.sequence)
        }
        let phase: ReplicaPhase = restoreFloor == nil ? .recovering : operational >= quorum ? .operational : .bootstrapping
        let candidate = try? await pendingCandidateName()
        return ReplicaStatus(replica: replica, phase: phase, replicas: keys, logLength: log.length, logHead: log.head,
                             latestSequence: latestSequence, latestCheckpoint: log.checkpointNotice,
                             latestStableBoundary: latestStableBoundary, restoreFloor: restoreFloor,
                             pendingCandidate: candidate ?? nil, checkpointMismatches: checkpointMismatches,
                             clients: clients, commands: await commands())
    }

    /// A copy of the key log as this replica holds it (clients, commands and keys for status routes).
    public func keyLog() -> KeyLog { log }

    /// The sequence whose keyset is this replica's present: the one after the latest it knows
    /// (a key active from A + W + 1 is current as soon as the checkpoint at A + W is in).
    var currentSequence: UInt64 { max(latestSequence, log.checkpointNotice, log.lastSequence) + 1 }

    /// keyset(t) for this replica's present; when a schedule notice ran ahead of the next
    /// checkpoint notice, the keyset at the latest checkpoint (always decided).
    func presentKeyset() throws -> Keyset {
        do { return try log.keyset(at: currentSequence) } catch { return try log.keyset(at: log.checkpointNotice) }
    }

    /// The client keyset for this replica's present, with the same fallback.
    func presentClientKeyset() throws -> ClientKeyset {
        do { return try log.clientKeyset(at: currentSequence) } catch { return try log.clientKeyset(at: log.checkpointNotice) }
    }

    /// This replica's key in keyset(t) for its present.
    func currentOwnKey() throws -> KeyName {
        guard let own = try presentKeyset()(replica) else { throw ClusterError.replicaOutOfRange(UInt64(replica.rawValue)) }
        return own.name
    }

    // MARK: Audit

    func report(_ operation: String, _ outcome: String, subject: String, detail: String) async {
        await audit.record(ClusterAuditEvent(operation: operation, outcome: outcome, subject: subject, detail: detail))
    }

    /// Audits a refusal and returns the error to throw.
    func refuse(_ operation: String, subject: String, _ error: any Error) async -> any Error {
        let mapped = ReplicaNode.clusterError(error)
        await report(operation, "refused", subject: subject, detail: String(describing: mapped))
        return mapped
    }

    /// Vault errors become `ClusterError`s that name the key, never its material.
    static func clusterError(_ error: any Error) -> any Error {
        switch error {
        case let e as ClusterVaultError:
            switch e {
            case .keyUnavailable(let name): return ClusterError.keyUnavailable(name)
            case .logIndexOutOfOrder(let expected, let actual): return ClusterError.logIndexOutOfOrder(expected: expected, actual: actual)
            case .clientKeyUnavailable(let name): return ClusterError.clientKeyUnavailable(name)
            }
        default: return error
        }
    }
}

/// Runs actor-isolated critical sections one at a time even when they await: the actor alone
/// lets a second call in at every suspension point.
final class SerialGate: @unchecked Sendable {
    // Only touched from the owning actor's executor.
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func exclusively<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        while busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        return try await body()
    }
}
