import CustosCluster
import CustosPKI
import Foundation
import Synchronization

/// Who the replicas are on the wire: each replica's address and the TLS pins it may present
/// (its pin in the configuration and those of its accepted records; old and new are both listed
/// from scheduling to activation). The listener maps a client certificate to a replica here, and
/// the client accepts a server only by the pins listed for the replica it called. The cluster
/// service replaces the table whenever the key log grows.
final class PeerDirectory: Sendable {
    struct Peer: Sendable, Equatable {
        var address: String
        var pins: Set<PublicKeyPin>
    }

    private let state: Mutex<[ReplicaID: Peer]>

    init(_ peers: [ReplicaID: Peer] = [:]) {
        state = Mutex(peers)
    }

    func update(_ peers: [ReplicaID: Peer]) {
        state.withLock { $0 = peers }
    }

    func peer(_ replica: ReplicaID) -> Peer? {
        state.withLock { $0[replica] }
    }

    /// The replica a certificate with this pin belongs to. The configuration refuses two
    /// replicas with one pin, and a record carries a fresh key, so at most one matches.
    func replica(presenting pin: PublicKeyPin) -> ReplicaID? {
        state.withLock { peers in peers.first { $0.value.pins.contains(pin) }?.key }
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
