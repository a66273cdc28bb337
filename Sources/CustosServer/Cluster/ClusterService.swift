import CustosCluster
import CustosCrypto
import CustosKeystore
import CustosPKI
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import CustosJSON

/// Runs this data directory's replica when it has joined a cluster: builds the `ReplicaNode`
/// over the keystore vault, the pinned peer client and the system clock, starts it, serves the
/// peer listener, and then works in rounds until shutdown: proposes this replica's record until
/// it is certified (each round bounded; failures back off up to `maximumBackoff`), collects the
/// peers' checkpoint signatures after each checkpoint notice, catches up while recovering or
/// behind, and keeps the peer pins and this replica's TLS identity in step with the key log.
actor ClusterService: Service {
    let keys: KeyService
    let options: ServerConfiguration.Cluster
    let handle: ClusterHandle
    let logger: Logger
    static let maximumBackoff: Duration = .seconds(5)
    /// Attempts to form a stable checkpoint for one boundary before leaving it to later notices.
    static let checkpointAttempts = 20

    private var pendingBoundaries: [UInt64: Int] = [:]
    private var signals: AsyncStream<UInt64>.Continuation?
    /// Pins of every key name the log has accepted, with the configuration's bootstrap pins.
    private var pins: PeerPinTable?
    private var identity: KeyName?
    /// Peers' checkpoint signatures over another ledger digest than this replica's: a sign of
    /// non-determinism in the ledger (docs/cluster.md, "Signed checkpoints").
    private let mismatches = Metrics.Counter(label: "custos_cluster_checkpoint_mismatches_total")
    private var mismatchesCounted = 0
    /// Key records accepted in the log (replicas' and clients'), and operator commands by state.
    private let rotations = Metrics.Counter(label: "custos_cluster_rotations_total")
    private var rotationsCounted = 0
    private var commandStates: Set<String> = []

    init(keys: KeyService, options: ServerConfiguration.Cluster, handle: ClusterHandle, logger: Logger) {
        self.keys = keys
        self.options = options
        self.handle = handle
        self.logger = logger
    }

    func run() async throws {
        let vault = KeystoreReplicaVault(keys: keys)
        guard let membership = try await vault.membership() else {
            // Not a member: nothing to run, and nothing to stop.
            try? await gracefulShutdown()
            return
        }
        let configuration = try ClusterConfiguration(signedBytes: membership.configuration)
        let replica = ReplicaID(membership.replica)
        let directory = PeerDirectory()
        let tls = PeerTLS(directory: directory)
        pins = PeerPinTable(configuration: configuration)
        var client = PinnedPeerClient(tls: tls)
        client.timeout = options.peerTimeout
        let node = ReplicaNode(configuration: configuration, replica: replica, vault: vault, transport: client, clock: SystemClusterClock(),
                               audit: KeystoreClusterAuditSink(keys: keys), peerTimeout: options.peerTimeout)
        directory.update(pins?.replicaPeers([:]) ?? [:])
        try await installIdentity(tls: tls, vault: vault, candidates: [.bootstrap(replica)], replica: replica)
        let listen = try PeerAddress(parsing: options.peerListen ?? configuration.replicas[replica.index].address)
        // The engine refuses a client the requests that are the replicas' alone.
        let listener = PeerListener(host: listen.host, port: listen.port, tls: tls, handler: { request, from in
            try await node.handlePeer(request, from: from)
        }, logger: logger)

        let (boundaries, continuation) = AsyncStream.makeStream(of: UInt64.self)
        signals = continuation
        let address = "\(listen.host):\(listen.port)"
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The listener is bound before anything else runs: a peer port that is taken or
            // not bindable stops the server at start, naming the address, rather than leaving
            // a replica that its peers cannot reach while the error waits unobserved.
            let (bound, boundContinuation) = AsyncThrowingStream.makeStream(of: Void.self)
            group.addTask {
                do {
                    try await listener.application(onRunning: { _ in boundContinuation.yield() }).run()
                    boundContinuation.finish()
                } catch {
                    boundContinuation.finish(throwing: error)
                    throw error
                }
            }
            do {
                var iterator = bound.makeAsyncIterator()
                guard try await iterator.next() != nil else { throw PeerListenFailure(address: address, reason: "it stopped before listening") }
            } catch let failure as PeerListenFailure {
                throw failure
            } catch {
                throw PeerListenFailure(address: address, reason: "\(error)")
            }
            // The engine answers peers as soon as it has started; until then `handlePeer` refuses.
            await start(node)
            await refresh(node: node, vault: vault, tls: tls, directory: directory)
            handle.set(ReplicaEndpoints(node: node, vault: vault, checkpointSigned: { continuation.yield($0) },
                                        startFailure: { [weak self] in await self?.startError }))
            logger.info("replica running", metadata: ["replica": "\(replica.rawValue)", "peer_listen": "\(address)"])
            group.addTask { await self.collectSignals(boundaries) }
            try? await cancelWhenGracefulShutdown {
                await self.rounds(node: node, vault: vault, tls: tls, directory: directory)
            }
            continuation.finish()
            group.cancelAll()
        }
    }

    private func collectSignals(_ boundaries: AsyncStream<UInt64>) async {
        for await boundary in boundaries { pendingBoundaries[boundary] = pendingBoundaries[boundary] ?? 0 }
    }

    /// One round after another until cancelled: each step is bounded by the engine's peer timeout.
    private func rounds(node: ReplicaNode, vault: KeystoreReplicaVault, tls: PeerTLS, directory: PeerDirectory) async {
        var backoff = options.roundInterval
        while !Task.isCancelled {
            let ok = await round(node: node, vault: vault, tls: tls, directory: directory)
            backoff = ok ? options.roundInterval : min(backoff * 2, Self.maximumBackoff)
            do { try await Task.sleep(for: backoff) } catch { return }
        }
    }

    private var started = false
    /// The refusal of the last start attempt, shown in the status until the replica starts.
    private var startError: String?

    /// Replays the log from the vault and asks the peers for the restore floor; a failure (the
    /// vault unreadable for a moment) is tried again at the next round.
    private func start(_ node: ReplicaNode) async {
        do {
            try await node.start()
            started = true
            startError = nil
        } catch {
            // The log may be loaded and only the first catch-up have failed: then it has started
            // (any answer but notStarted from a call that requires it says so).
            do {
                _ = try await node.certifiedAwaitingSchedule()
                started = true
            } catch ClusterError.notStarted {
                started = false
            } catch {
                started = true
            }
            startError = started ? nil : TerminalText.escaped(String(describing: error))
            if started {
                logger.warning("replica started; its first catch-up failed and is tried again in rounds", metadata: ["error": "\(error)"])
            } else {
                logger.error("replica start failed; tried again next round", metadata: ["error": "\(error)"])
            }
        }
    }

    /// True when nothing failed.
    private func round(node: ReplicaNode, vault: KeystoreReplicaVault, tls: PeerTLS, directory: PeerDirectory) async -> Bool {
        if !started {
            await start(node)
            guard started else { return false }
        }
        var ok = true
        var status = await node.status()
        if status.phase == .recovering || status.restoreFloor == nil {
            do { try await node.catchUp() } catch { ok = false; logger.debug("catch-up failed", metadata: ["error": "\(error)"]) }
            status = await node.status()
        }
        // Propose (or re-send the stored candidate) until certified; the ledger schedules it.
        // Key exchange needs no restore floor: that gates consensus shares only.
        do {
            let progress = try await node.advanceKeyExchange()
            if case .collecting = progress { ok = false }
        } catch {
            ok = false
            logger.debug("key exchange round failed", metadata: ["error": "\(error)"])
        }
        // A checkpoint notice may have made this replica's new TLS key active: present it before
        // collecting (which may destroy the old one).
        await refresh(node: node, vault: vault, tls: tls, directory: directory)
        for (boundary, attempts) in pendingBoundaries.sorted(by: { $0.key < $1.key }) {
            do {
                if try await node.collectCheckpoint(boundary: boundary) != nil || attempts + 1 >= Self.checkpointAttempts {
                    pendingBoundaries[boundary] = nil
                } else {
                    pendingBoundaries[boundary] = attempts + 1
                    ok = false
                }
            } catch {
                pendingBoundaries[boundary] = attempts + 1 >= Self.checkpointAttempts ? nil : attempts + 1
                ok = false
            }
        }
        await refresh(node: node, vault: vault, tls: tls, directory: directory)
        return ok
    }

    /// Peer pins from the log and this replica's TLS identity from its current key.
    private func refresh(node: ReplicaNode, vault: KeystoreReplicaVault, tls: PeerTLS, directory: PeerDirectory) async {
        let status = await node.status()
        if status.checkpointMismatches > mismatchesCounted {
            mismatches.increment(by: Int64(status.checkpointMismatches - mismatchesCounted))
            mismatchesCounted = status.checkpointMismatches
        }
        if var table = pins, status.logLength > table.length,
           let entries = try? await node.logEntries(after: table.length, limit: Int(status.logLength - table.length)) {
            table.read(entries)
            pins = table
            if table.rotations > rotationsCounted {
                rotations.increment(by: Int64(table.rotations - rotationsCounted))
                rotationsCounted = table.rotations
            }
        }
        recordCommandStates(status.commands)
        recordPhase(status.phase)
        if let table = pins {
            // Old and new keys are both listed from scheduling to activation; removed clients not at all.
            directory.update(table.replicaPeers(Dictionary(uniqueKeysWithValues: status.replicas.map { ($0.replica, [$0.active, $0.newestCertified]) })))
            let clients = status.clients.filter { !$0.removed }.map { ($0.client, [$0.active, $0.newest].compactMap { $0 }) }
            directory.update(clients: table.clientPeers(Dictionary(uniqueKeysWithValues: clients)))
        }
        if let own = status.replicas.first(where: { $0.replica == node.replica }) {
            // A recovering replica is behind its peers: they may have activated its newest
            // certified key and retired the one it still computes as active (its stable
            // checkpoint lags), and would refuse its handshakes until it caught up — which it
            // cannot do without them. The newest certified key is listed by every peer whose
            // log holds its schedule entry.
            let candidates = status.phase == .recovering ? [own.newestCertified, own.active] : [own.active, own.newestCertified]
            try? await installIdentity(tls: tls, vault: vault, candidates: candidates, replica: node.replica)
        }
    }

    /// `custos_cluster_commands{state}`: commands this replica knows in each state (a state no
    /// command is in any more reads 0).
    private func recordCommandStates(_ commands: [CommandStatus]) {
        var counts: [String: Int] = [:]
        for command in commands { counts[command.state.name, default: 0] += 1 }
        commandStates.formUnion(counts.keys)
        for state in commandStates {
            Metrics.Gauge(label: "custos_cluster_commands", dimensions: [("state", state)]).record(counts[state] ?? 0)
        }
    }

    /// `custos_cluster_replica_phase{phase}`: 1 for this replica's phase, 0 for the others.
    private func recordPhase(_ phase: ReplicaPhase) {
        for candidate in [ReplicaPhase.recovering, .bootstrapping, .operational] {
            Metrics.Gauge(label: "custos_cluster_replica_phase", dimensions: [("phase", candidate.rawValue)]).record(candidate == phase ? 1 : 0)
        }
    }

    /// Presents the first of `candidates` whose TLS key this replica holds; unchanged when it
    /// is already the one presented.
    private func installIdentity(tls: PeerTLS, vault: KeystoreReplicaVault, candidates: [KeyName], replica: ReplicaID) async throws {
        for name in candidates {
            if name == identity { return }
            guard let signer = try? await vault.tlsSigner(name) else { continue }
            try tls.install(try await PeerTLSIdentity.selfSigned(signer, name: "custos replica \(replica.rawValue) \(name)"))
            identity = name
            logger.info("peer TLS key in use", metadata: ["key": "\(name)"])
            return
        }
    }
}

/// The peer listener could not be bound (the address is taken, or not this host's).
struct PeerListenFailure: Error, CustomStringConvertible {
    let address: String
    let reason: String
    var description: String { "cannot listen for peers on \(address) (cluster.peer_listen): \(TerminalText.escaped(reason))" }
}
