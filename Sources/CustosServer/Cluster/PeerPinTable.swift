import CustosCluster
import CustosPKI
import Foundation

/// The TLS pins and addresses the key log gives each node, read from its accepted entries in
/// order: replica records and replace-replica commands (a new generation, its bootstrap pin and
/// address), add-client commands (a client's epoch-0 pins) and client records. Which of a node's
/// names are current (active, newest certified) is the engine's to say; this table only maps names
/// to pins. A pin once in the log stays its node's (the log refuses it to any other), so looking a
/// pin up by name never confuses two nodes.
struct PeerPinTable: Sendable {
    private(set) var replicaPins: [KeyName: PublicKeyPin] = [:]
    private(set) var addresses: [ReplicaID: String] = [:]
    private(set) var clientTLSPins: [ClientKeyName: PublicKeyPin] = [:]
    private(set) var clientAPIPins: [ClientKeyName: PublicKeyPin] = [:]
    private var generations: [ReplicaID: UInt64] = [:]
    /// Entries read so far.
    private(set) var length: UInt64 = 0
    /// Accepted records that renewed a node's keys (epoch ≥ 1), replicas' and clients'.
    private(set) var rotations = 0

    init(configuration: ClusterConfiguration) {
        for descriptor in configuration.replicas {
            replicaPins[.bootstrap(descriptor.id)] = PublicKeyPin(digest: descriptor.tlsPin)
            addresses[descriptor.id] = descriptor.address
        }
    }

    /// Reads `entries`, which must continue the log from `length` (others are skipped).
    mutating func read(_ entries: [StoredLogEntry]) {
        for stored in entries where stored.index == length {
            length += 1
            guard let entry = try? LogEntry(bytes: stored.bytes), entry.status == .accepted else { continue }
            switch entry.kind {
            case .replicaRecord:
                if let record = try? KeyExchangeRecord(bytes: entry.item) {
                    replicaPins[record.name] = PublicKeyPin(digest: record.tlsPin)
                    if record.name.epoch >= 1 { rotations += 1 }
                }
            case .clientRecord:
                if let record = try? ClientKeyRecord(bytes: entry.item) {
                    add(record.name, record.keySet)
                    rotations += 1
                }
            case .command:
                guard let command = try? OperatorCommand(bytes: entry.item) else { continue }
                switch command.action {
                case .addClient(let descriptor):
                    add(descriptor.keys.name, descriptor.keySet)
                case .replaceReplica(let descriptor):
                    let generation = (generations[descriptor.id] ?? 0) + 1
                    generations[descriptor.id] = generation
                    replicaPins[KeyName(replica: descriptor.id, generation: generation, epoch: 0)] = PublicKeyPin(digest: descriptor.tlsPin)
                    addresses[descriptor.id] = descriptor.address
                default:
                    break
                }
            }
        }
    }

    private mutating func add(_ name: ClientKeyName, _ keys: ClientKeySet) {
        clientTLSPins[name] = PublicKeyPin(digest: keys.tlsPin)
        clientAPIPins[name] = PublicKeyPin(digest: keys.apiTLSPin)
    }

    /// Each replica's newest address and the pins of `names` (its active and newest certified keys).
    func replicaPeers(_ names: [ReplicaID: [KeyName]]) -> [ReplicaID: PeerDirectory.Peer] {
        var peers: [ReplicaID: PeerDirectory.Peer] = [:]
        for (replica, address) in addresses {
            let keys = names[replica] ?? [.bootstrap(replica)]
            peers[replica] = .init(address: address, pins: Set(keys.compactMap { replicaPins[$0] }))
        }
        return peers
    }

    /// The TLS pins (never the API TLS pins) of `names`, per client.
    func clientPeers(_ names: [ClientID: [ClientKeyName]]) -> [ClientID: Set<PublicKeyPin>] {
        names.mapValues { Set($0.compactMap { clientTLSPins[$0] }) }.filter { !$0.value.isEmpty }
    }
}
