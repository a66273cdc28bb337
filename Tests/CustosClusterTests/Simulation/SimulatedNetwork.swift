import Foundation
import CustosCluster
import Synchronization

/// An in-process network between replicas, and from client nodes to replicas, with scripted
/// faults. Every replica that is up has a handler (its `ReplicaNode.handlePeer`); a crashed
/// replica has none and its callers get an immediate connection error, as from a closed port on
/// loopback. Link rules and rewriters apply to replica senders; a client reaches every replica
/// that is up and outside any partition, unless its own link rule drops the request, and a
/// client response rewriter plays a replica lying to clients.
final class SimulatedNetwork: Sendable {
    typealias Handler = @Sendable ([UInt8], NodeRef) async throws -> [UInt8]

    /// What happens to one request on one link.
    enum LinkAction: Sendable {
        case deliver
        /// Lost: the sender sees a connection error at once.
        case drop
        /// Never answered: the sender waits until its own timeout cancels the call.
        case hang
        /// Delivered after `duration` of virtual time.
        case delay(Duration)
    }

    enum Failure: Error, Equatable {
        case unreachable(ReplicaID)
        case dropped
    }

    private struct State {
        var handlers: [ReplicaID: Handler] = [:]
        var partition: [ReplicaID: Int] = [:]
        var linkRule: (@Sendable (ReplicaID, ReplicaID, [UInt8]) -> LinkAction)?
        var requestRewriter: (@Sendable (ReplicaID, ReplicaID, [UInt8]) -> [UInt8])?
        var responseRewriter: (@Sendable (ReplicaID, ReplicaID, [UInt8]) -> [UInt8])?
        /// A client's links: dropped requests, and a replica lying to clients (request, response).
        var clientLinkRule: (@Sendable (ClientID, ReplicaID, [UInt8]) -> ClientLinkAction)?
        var clientResponseRewriter: (@Sendable (ClientID, ReplicaID, [UInt8], [UInt8]) -> [UInt8])?
        var counters = Counters()
        var waiters: [(predicate: @Sendable (Counters) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
    }

    struct Counters: Sendable {
        /// Requests handed to a replica's handler.
        var delivered = 0
        /// Responses returned to their senders.
        var answered = 0
        /// Requests waiting on the clock (hanging or delayed).
        var parked = 0
    }

    private let state = Mutex(State())
    let clock: ManualClock

    init(clock: ManualClock) { self.clock = clock }

    func attach(_ replica: ReplicaID, handler: @escaping Handler) {
        state.withLock { $0.handlers[replica] = handler }
    }

    /// The replica crashed: nobody reaches it until it is attached again.
    func detach(_ replica: ReplicaID) {
        _ = state.withLock { $0.handlers.removeValue(forKey: replica) }
    }

    /// Splits the replicas into groups that reach only their own group; `nil` heals.
    func partition(_ groups: [[ReplicaID]]?) {
        state.withLock { s in
            s.partition = [:]
            for (i, group) in (groups ?? []).enumerated() { for r in group { s.partition[r] = i } }
        }
    }

    func setLinkRule(_ rule: (@Sendable (ReplicaID, ReplicaID, [UInt8]) -> LinkAction)?) {
        state.withLock { $0.linkRule = rule }
    }

    /// A byzantine man in the middle (or a byzantine sender): rewrites requests from → to.
    func setRequestRewriter(_ rewrite: (@Sendable (ReplicaID, ReplicaID, [UInt8]) -> [UInt8])?) {
        state.withLock { $0.requestRewriter = rewrite }
    }

    /// A byzantine responder: rewrites the response of `to` to `from`.
    func setResponseRewriter(_ rewrite: (@Sendable (ReplicaID, ReplicaID, [UInt8]) -> [UInt8])?) {
        state.withLock { $0.responseRewriter = rewrite }
    }

    enum ClientLinkAction: Sendable {
        case deliver
        /// Lost: the client sees a connection error at once.
        case drop
    }

    func setClientLinkRule(_ rule: (@Sendable (ClientID, ReplicaID, [UInt8]) -> ClientLinkAction)?) {
        state.withLock { $0.clientLinkRule = rule }
    }

    /// A replica byzantine towards clients: rewrites its response to (client, request).
    func setClientResponseRewriter(_ rewrite: (@Sendable (ClientID, ReplicaID, [UInt8], [UInt8]) -> [UInt8])?) {
        state.withLock { $0.clientResponseRewriter = rewrite }
    }

    var counters: Counters { state.withLock { $0.counters } }

    /// Returns once the counters satisfy `predicate`, so a test advances the clock only when
    /// the requests it means to time out or delay are parked: deterministic, without real sleeps.
    func waitUntil(_ predicate: @escaping @Sendable (Counters) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if predicate(s.counters) { return true }
                s.waiters.append((predicate, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func count(_ change: (inout Counters) -> Void) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            change(&s.counters)
            let counters = s.counters
            let ready = s.waiters.filter { $0.predicate(counters) }.map(\.continuation)
            s.waiters.removeAll { $0.predicate(counters) }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    func transport(for replica: ReplicaID) -> Transport { Transport(network: self, from: .replica(replica)) }
    /// What a client node's engine sends through: the client is identified as by its TLS pin.
    func transport(forClient client: ClientID) -> Transport { Transport(network: self, from: .client(client)) }

    struct Transport: PeerTransport {
        let network: SimulatedNetwork
        let from: NodeRef
        func send(_ request: [UInt8], to peer: ReplicaID) async throws -> [UInt8] {
            try await network.deliver(request, from: from, to: peer)
        }
    }

    private func deliver(_ request: [UInt8], from caller: NodeRef, to: ReplicaID) async throws -> [UInt8] {
        guard case .replica(let from) = caller else { return try await deliverFromClient(request, from: caller, to: to) }
        let (action, rewrite) = state.withLock { s in
            (s.linkRule?(from, to, request) ?? .deliver, s.requestRewriter)
        }
        switch action {
        case .deliver: break
        case .drop: throw Failure.dropped
        case .hang:
            count { $0.parked += 1 }
            defer { count { $0.parked -= 1 } }
            // A day of virtual time: only the caller's timeout (cancellation) ends it in practice.
            try await clock.sleep(for: .seconds(86_400))
            throw Failure.dropped
        case .delay(let duration):
            // Fixed before parking, so a clock advanced as soon as it is parked is not missed.
            let deadline = clock.now().addingTimeInterval(Double(duration.components.seconds))
            count { $0.parked += 1 }
            defer { count { $0.parked -= 1 } }
            let remaining = deadline.timeIntervalSince(clock.now())
            if remaining > 0 { try await clock.sleep(for: .nanoseconds(Int64(remaining * 1e9))) }
        }
        let handler: Handler = try state.withLock { s in
            guard s.handlers[from] != nil, let handler = s.handlers[to], s.partition[from] == s.partition[to] else {
                throw Failure.unreachable(to)
            }
            return handler
        }
        // Counted through `count` so that a test waiting on deliveries is woken.
        count { $0.delivered += 1 }
        let response = try await handler(rewrite?(from, to, request) ?? request, caller)
        let rewriteResponse = state.withLock { $0.responseRewriter }
        defer { count { $0.answered += 1 } }
        return rewriteResponse?(from, to, response) ?? response
    }

    private func deliverFromClient(_ request: [UInt8], from caller: NodeRef, to: ReplicaID) async throws -> [UInt8] {
        guard case .client(let client) = caller else { throw Failure.unreachable(to) }
        let handler: Handler = try state.withLock { s in
            if case .drop = s.clientLinkRule?(client, to, request) ?? .deliver { throw Failure.dropped }
            guard let handler = s.handlers[to], s.partition[to] == nil else { throw Failure.unreachable(to) }
            return handler
        }
        count { $0.delivered += 1 }
        let response = try await handler(request, caller)
        let rewrite = state.withLock { $0.clientResponseRewriter }
        defer { count { $0.answered += 1 } }
        return rewrite?(client, to, request, response) ?? response
    }
}
