import Foundation

/// Sends one peer request (the CBOR bytes of docs/cluster.md, "Peer requests") to a replica and
/// returns its response bytes. The server's implementation is mutual TLS 1.3 with pinned
/// certificates; the simulation's is an in-process network with scripted faults.
public protocol PeerTransport: Sendable {
    func send(_ request: [UInt8], to peer: ReplicaID) async throws -> [UInt8]
}

/// Time, injected so that the simulation is deterministic.
public protocol ClusterClock: Sendable {
    func now() -> Date
    func sleep(for duration: Duration) async throws
}

public struct SystemClusterClock: ClusterClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// One audited decision of the replica engine. `operation` is one of the `cluster.*` names of
/// docs/cluster.md; `outcome` is "ok" or "refused"; `detail` names the subject and, for a
/// refusal, the reason (never a secret).
public struct ClusterAuditEvent: Equatable, Sendable {
    public let operation: String
    public let outcome: String
    public let subject: String
    public let detail: String

    public init(operation: String, outcome: String, subject: String, detail: String) {
        self.operation = operation
        self.outcome = outcome
        self.subject = subject
        self.detail = detail
    }
}

/// Where the engine's audit records go when no vault transaction carries them (refusals,
/// certificates formed, log entries, key destruction).
public protocol ClusterAuditSink: Sendable {
    func record(_ event: ClusterAuditEvent) async
}
