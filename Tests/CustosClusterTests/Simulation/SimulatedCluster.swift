import BLS12381
import CustosCluster
import CustosCrypto
import Foundation

/// N replicas in one process: a signed configuration from seeded keys, one in-memory vault and
/// audit sink per replica, the simulated network and clock, and nodes that can crash, restart
/// (with their vault, or from a restored snapshot) and be replaced by byzantine behaviour on
/// the network.
final class SimulatedCluster: @unchecked Sendable {
    let configuration: ClusterConfiguration
    let clock = ManualClock()
    let network: SimulatedNetwork
    let vaults: [InMemoryVault]
    let audits: [RecordingAuditSink]
    let bootstrapConsensus: [BLS12381.PrivateKey]
    let bootstrapMain: [SigningPrivateKey]
    /// The operator's private key (the configuration's operator key until a rotate-operator-key).
    var operatorKey: SigningPrivateKey
    /// The live nodes; nil for a crashed replica. Touched only from the test's task.
    private(set) var nodes: [ReplicaNode?]
    let peerTimeout: Duration = .seconds(2)

    var n: Int { configuration.n }
    var f: Int { configuration.f }
    var quorum: Int { configuration.quorum }
    var interval: UInt64 { configuration.checkpointInterval }
    var ids: [ReplicaID] { (0..<n).map { ReplicaID($0) } }

    init(n: Int, interval: UInt64 = 16, seed: UInt64) async throws {
        var random = SeededRandom(seed: seed)
        let operatorKey = random.ed25519Key()
        var consensus: [BLS12381.PrivateKey] = []
        var main: [SigningPrivateKey] = []
        var descriptors: [ReplicaDescriptor] = []
        for i in 0..<n {
            let c = random.blsKey()
            let m = random.ed25519Key()
            consensus.append(c)
            main.append(m)
            descriptors.append(ReplicaDescriptor(id: ReplicaID(i), address: "127.0.0.1:\(7000 + i)", mainKey: m.publicKey.rawRepresentation!,
                                                 consensusKey: c.publicKey, proofOfPossession: c.proofOfPossession(),
                                                 tlsPin: random.bytes(32)))
        }
        let body = ConfigurationBody(clusterID: random.bytes(16), checkpointInterval: interval,
                                     operatorKey: try OperatorKey(scheme: .ed25519, rawRepresentation: operatorKey.publicKey.rawRepresentation!),
                                     replicas: descriptors, createdAt: 1_800_000_000)
        configuration = try await ClusterConfiguration.sign(body: body) { try operatorKey.signature(for: $0).bytes }
        bootstrapConsensus = consensus
        bootstrapMain = main
        self.operatorKey = operatorKey
        network = SimulatedNetwork(clock: clock)
        var vaults: [InMemoryVault] = []
        for i in 0..<n {
            let vault = InMemoryVault(seed: seed &* 1_000 &+ UInt64(i) &+ 1)
            await vault.installKeys(.bootstrap(ReplicaID(i)), consensus: consensus[i], main: main[i], tlsPin: descriptors[i].tlsPin)
            vaults.append(vault)
        }
        self.vaults = vaults
        audits = (0..<n).map { _ in RecordingAuditSink() }
        nodes = Array(repeating: nil, count: n)
    }

    func node(_ r: Int) -> ReplicaNode { nodes[r]! }
    var live: [ReplicaNode] { nodes.compactMap { $0 } }

    /// Starts replica r on its vault (a fresh engine: nothing but the vault survives) and joins it
    /// to the network. `start` may leave it recovering when too few peers answer.
    @discardableResult
    func boot(_ r: Int, vault: (any ReplicaVault)? = nil) async throws -> ReplicaNode {
        let node = ReplicaNode(configuration: configuration, replica: ReplicaID(r), vault: vault ?? vaults[r],
                               transport: network.transport(for: ReplicaID(r)), clock: clock, audit: audits[r], peerTimeout: peerTimeout)
        nodes[r] = node
        network.attach(ReplicaID(r)) { request, from in try await node.handlePeer(request, from: from) }
        try await node.start()
        return node
    }

    /// Boots every replica in `replicas`, then lets each catch up so that all set their floors.
    func bootAll(except down: Set<Int> = []) async throws {
        for r in 0..<n where !down.contains(r) { try await boot(r) }
        for node in live { try await node.catchUp() }
    }

    func crash(_ r: Int) {
        network.detach(ReplicaID(r))
        nodes[r] = nil
    }

    // MARK: Operator commands

    /// Unix seconds on the simulated clock.
    var now: UInt64 { UInt64(clock.now().timeIntervalSince1970) }

    /// A command signed by `signer` (the operator key unless given) for this cluster (or
    /// `clusterID`), valid for an hour from now unless `expiresAt` says otherwise.
    func command(_ number: UInt64, _ action: OperatorCommand.Action, expiresAt: UInt64? = nil, signer: SigningPrivateKey? = nil,
                 clusterID: [UInt8]? = nil) async throws -> OperatorCommand {
        let key = signer ?? operatorKey
        return try await OperatorCommand.sign(cluster: clusterID ?? configuration.clusterID, number: number, expiresAt: expiresAt ?? now + 3600,
                                              action: action) { try key.signature(for: $0).bytes }
    }

    /// Signs `action` under `number` with the operator key and submits it to replica r.
    @discardableResult
    func submit(_ number: UInt64, _ action: OperatorCommand.Action, to r: Int = 0) async throws -> CommandState {
        try await node(r).submitCommand(try await command(number, action).bytes)
    }
}
