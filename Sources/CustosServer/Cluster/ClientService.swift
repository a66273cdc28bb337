import CustosCluster
import CustosJSON
import CustosKeystore
import CustosPKI
import Foundation
import Logging
import ServiceLifecycle

/// Runs this data directory's client node when it was set up as one (`custos cluster client
/// init`): builds the `ClientNode` over the keystore client vault and a pinned peer client whose
/// certificate is the client's current TLS key, and then follows the key log until shutdown —
/// one long-poll after another (short while a rotation is in flight, so its candidate is handed
/// in again each round), each followed by the rotation orders the log holds for it. After each
/// pass the replicas' addresses and pins are read from the verified log, and the TLS key (and
/// the API TLS key, when the HTTPS listener serves with it) follows the engine's current name:
/// new connections get the new key at activation, connections in flight keep theirs.
actor ClientService: Service {
    let keys: KeyService
    let options: ServerConfiguration.Cluster
    let handle: ClusterHandle
    /// The API TLS key name the HTTPS listener serves with (`tls.key = "cluster:api-tls"`).
    let apiKey: ClientAPIKeyHolder
    /// Tells the HTTPS listener to load its key again (nil without `cluster:api-tls`).
    let reloadAPITLS: (@Sendable () async -> Void)?
    let logger: Logger

    /// The long-poll of a quiet pass; a pass with a rotation in flight waits `roundInterval`.
    static let followWait: Duration = .seconds(20)

    private var started = false
    private var startError: String?
    private var identity: ClientKeyName?
    private var pins: PeerPinTable?

    init(keys: KeyService, options: ServerConfiguration.Cluster, handle: ClusterHandle, apiKey: ClientAPIKeyHolder,
         reloadAPITLS: (@Sendable () async -> Void)?, logger: Logger) {
        self.keys = keys
        self.options = options
        self.handle = handle
        self.apiKey = apiKey
        self.reloadAPITLS = reloadAPITLS
        self.logger = logger
    }

    func run() async throws {
        let vault = KeystoreClientVault(keys: keys)
        guard let membership = try await vault.membership() else {
            try? await gracefulShutdown()
            return
        }
        let configuration = try ClusterConfiguration(signedBytes: membership.configuration)
        let client = ClientID(rawValue: membership.client)
        let directory = PeerDirectory()
        let tls = PeerTLS(directory: directory)
        pins = PeerPinTable(configuration: configuration)
        directory.update(pins?.replicaPeers([:]) ?? [:])
        var transport = PinnedPeerClient(tls: tls)
        transport.timeout = options.peerTimeout
        let node = ClientNode(configuration: configuration, client: client, vault: vault, transport: transport, clock: SystemClusterClock(),
                              audit: KeystoreClusterAuditSink(keys: keys), peerTimeout: options.peerTimeout)
        handle.set(ClientEndpoints(node: node, startFailure: { [weak self] in await self?.startError }))
        logger.info("client node running", metadata: ["client": "\(client.rawValue)"])
        try? await cancelWhenGracefulShutdown {
            await self.rounds(node: node, vault: vault, tls: tls, directory: directory)
        }
    }

    private func rounds(node: ClientNode, vault: KeystoreClientVault, tls: PeerTLS, directory: PeerDirectory) async {
        var backoff = options.roundInterval
        while !Task.isCancelled {
            let ok = await pass(node: node, vault: vault, tls: tls, directory: directory)
            backoff = ok ? options.roundInterval : min(backoff * 2, ClusterService.maximumBackoff)
            // A pass that long-polled has waited already.
            if !ok { do { try await Task.sleep(for: backoff) } catch { return } }
        }
    }

    /// One follow pass; true when it reached a replica.
    private func pass(node: ClientNode, vault: KeystoreClientVault, tls: PeerTLS, directory: PeerDirectory) async -> Bool {
        if !started {
            do {
                try await node.start()
                started = true
                startError = nil
            } catch {
                startError = TerminalText.escaped(String(describing: error))
                logger.error("client node start failed; tried again next round", metadata: ["error": "\(error)"])
                return false
            }
        }
        // The identity first: a peer accepts only the pins it lists for this client.
        await refresh(node: node, vault: vault, tls: tls, directory: directory)
        let status = await node.status()
        let busy = status.candidate != nil || status.pendingCommand != nil
        var ok = true
        do {
            try await node.follow(wait: busy ? options.roundInterval : Self.followWait)
        } catch {
            ok = false
            logger.debug("client follow pass failed", metadata: ["error": "\(error)"])
        }
        await refresh(node: node, vault: vault, tls: tls, directory: directory)
        let phase = await node.status().phase
        return ok && phase != .catchingUp
    }

    /// Replica addresses and pins from the verified log; this client's TLS identity (and API TLS
    /// key) from the engine's current key name.
    private func refresh(node: ClientNode, vault: KeystoreClientVault, tls: PeerTLS, directory: PeerDirectory) async {
        let log = await node.keyLog()
        if var table = pins, log.length > table.length {
            table.read(Array(log.entries.dropFirst(Int(table.length))))
            pins = table
        }
        if let table = pins {
            let present = max(log.checkpointNotice, log.lastSequence) + 1
            let keyset = try? log.keyset(at: present)
            var names: [ReplicaID: [KeyName]] = [:]
            for descriptor in log.configuration.replicas {
                names[descriptor.id] = [keyset?(descriptor.id)?.name, log.newestKeys(of: descriptor.id)?.name].compactMap { $0 }
            }
            directory.update(table.replicaPeers(names))
        }
        guard let name = await node.currentTLSKey(), name != identity else { return }
        do {
            let signer = try await vault.tlsSigner(name)
            try tls.install(try await PeerTLSIdentity.selfSigned(signer, name: "custos \(name.client) e\(name.epoch)"))
            identity = name
            logger.info("client TLS key in use", metadata: ["key": "\(name)"])
            if apiKey.set(name), let reloadAPITLS { await reloadAPITLS() }
        } catch {
            logger.warning("client TLS key not installed", metadata: ["key": "\(name)", "error": "\(error)"])
        }
    }
}
