import CustosCluster
import CustosPKI
import Foundation
import Synchronization

/// Who the nodes are on the wire: each replica's address and the TLS pins it may present (its
/// pin in the configuration and those of its accepted records; old and new are both listed from
/// scheduling to activation), and each registered, unremoved client's TLS pins (active and newest
/// certified). The listener maps a client certificate to a node here, and the peer client accepts
/// a server only by the pins listed for the replica it called. The service replaces the tables
/// whenever the key log grows.
final class PeerDirectory: Sendable {
    struct Peer: Sendable, Equatable {
        var address: String
        var pins: Set<PublicKeyPin>
    }

    private struct Tables {
        var replicas: [ReplicaID: Peer]
        var clients: [ClientID: Set<PublicKeyPin>]
    }

    private let state: Mutex<Tables>

    init(_ peers: [ReplicaID: Peer] = [:], clients: [ClientID: Set<PublicKeyPin>] = [:]) {
        state = Mutex(Tables(replicas: peers, clients: clients))
    }

    func update(_ peers: [ReplicaID: Peer]) {
        state.withLock { $0.replicas = peers }
    }

    func update(clients: [ClientID: Set<PublicKeyPin>]) {
        state.withLock { $0.clients = clients }
    }

    func peer(_ replica: ReplicaID) -> Peer? {
        state.withLock { $0.replicas[replica] }
    }

    /// The replica a certificate with this pin belongs to. The configuration refuses two
    /// replicas with one pin, and a record carries a fresh key, so at most one matches.
    func replica(presenting pin: PublicKeyPin) -> ReplicaID? {
        state.withLock { tables in tables.replicas.first { $0.value.pins.contains(pin) }?.key }
    }

    /// The node a certificate with this pin belongs to: a replica, or a registered client. The
    /// key log refuses a pin of one node to any other, so at most one matches.
    func node(presenting pin: PublicKeyPin) -> NodeRef? {
        state.withLock { tables in
            if let replica = tables.replicas.first(where: { $0.value.pins.contains(pin) })?.key { return .replica(replica) }
            return tables.clients.first { $0.value.contains(pin) }.map { .client($0.key) }
        }
    }
}

/// "host:port", or "[v6]:port".
struct PeerAddress: Equatable, Sendable {
    let host: String
    let port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init(parsing text: String) throws {
        let host: Substring, port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw PeerTransportError.badAddress }
            port = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw PeerTransportError.badAddress }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let number = Int(port), (1...65535).contains(number) else { throw PeerTransportError.badAddress }
        self.host = String(host)
        self.port = number
    }
}

/// Why a peer call failed. Never carries the peer's bytes unescaped.
enum PeerTransportError: Error, Equatable, CustomStringConvertible {
    case unknownPeer(ReplicaID)
    case badAddress
    case noIdentity
    case timedOut(ReplicaID)
    case responseTooLarge(ReplicaID, limit: Int)
    /// The peer answered with an error status and a short reason.
    case refused(ReplicaID, status: Int, reason: String)
    case connectionFailed(ReplicaID, String)

    var description: String {
        switch self {
        case .unknownPeer(let replica): "\(replica) is not in the peer directory"
        case .badAddress: "a peer address must be host:port"
        case .noIdentity: "this replica has no TLS identity for peer calls yet"
        case .timedOut(let replica): "\(replica) did not answer in time"
        case .responseTooLarge(let replica, let limit): "\(replica) sent a response over \(limit) bytes"
        case .refused(let replica, let status, let reason): "\(replica) refused the request (\(status)): \(reason)"
        case .connectionFailed(let replica, let why): "cannot reach \(replica): \(why)"
        }
    }
}
