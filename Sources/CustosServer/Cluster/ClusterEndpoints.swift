import CustosAPI
import CustosCluster
import CustosKeystore
import Foundation
import Synchronization

/// What the node's routes ask of this data directory's member of the replica network, in the
/// API's terms. `ReplicaEndpoints` answers from the `ReplicaNode` engine, `ClientEndpoints` from
/// the `ClientNode`; the routes know nothing else of them. What one role does not serve is
/// refused by the defaults below (409, naming the role).
protocol ClusterEndpoints: Sendable {
    /// "replica" or "client".
    var role: String { get }
    func status() async throws -> ClusterNodeStatus
    func certified() async throws -> ClusterCertifiedResponse
    func schedule(sequence: UInt64, kind: String, item: [UInt8], certificate: [UInt8]) async throws -> ClusterLogEntry
    func checkpoint(boundary: UInt64, ledgerDigest: [UInt8]) async throws -> ClusterCheckpointSignature
    /// nil while no stable certificate is formed for `boundary`.
    func stableCheckpoint(boundary: UInt64) async throws -> ClusterStableCheckpoint?
    func share(_ message: ConsensusMessage) async throws -> ClusterShare
    func combine(_ message: ConsensusMessage, shares: [(signer: KeyName, share: [UInt8])]) async throws -> [UInt8]
    /// The replicas whose keys signed; throws when the certificate is not valid at the sequence.
    func verify(_ message: ConsensusMessage, certificate: [UInt8]) async throws -> [ReplicaID]
    /// Entries with index ≥ `after`, at most `limit`; with a `wait`, answers as soon as there is
    /// one, or with none once `wait` has passed.
    func log(after: UInt64, limit: Int, wait: Duration?) async throws -> ClusterLogResponse
    func export() async throws -> ClusterLogExport
    /// For readiness: recovering, bootstrapping or operational (a client: starting, following…).
    func phase() async -> String
    /// Checks an operator command as an approver, stores it and starts relaying it.
    func submitCommand(_ bytes: [UInt8]) async throws -> ClusterCommandStatus
    func commands() async throws -> ClusterCommandsResponse
    func clients() async throws -> ClusterClientsResponse
    /// Signs with the client node's active signing key.
    func clientSign(_ message: [UInt8]) async throws -> ClusterClientSignature
}

extension ClusterEndpoints {
    var role: String { "replica" }

    private var wrongRole: ClusterRouteError { .wrongRole(role) }

    func certified() async throws -> ClusterCertifiedResponse { throw wrongRole }
    func schedule(sequence: UInt64, kind: String, item: [UInt8], certificate: [UInt8]) async throws -> ClusterLogEntry { throw wrongRole }
    func checkpoint(boundary: UInt64, ledgerDigest: [UInt8]) async throws -> ClusterCheckpointSignature { throw wrongRole }
    func stableCheckpoint(boundary: UInt64) async throws -> ClusterStableCheckpoint? { throw wrongRole }
    func share(_ message: ConsensusMessage) async throws -> ClusterShare { throw wrongRole }
    func combine(_ message: ConsensusMessage, shares: [(signer: KeyName, share: [UInt8])]) async throws -> [UInt8] { throw wrongRole }
    func verify(_ message: ConsensusMessage, certificate: [UInt8]) async throws -> [ReplicaID] { throw wrongRole }
    func submitCommand(_ bytes: [UInt8]) async throws -> ClusterCommandStatus { throw wrongRole }
    func commands() async throws -> ClusterCommandsResponse { throw wrongRole }
    func clients() async throws -> ClusterClientsResponse { throw wrongRole }
    func clientSign(_ message: [UInt8]) async throws -> ClusterClientSignature { throw wrongRole }
}

/// The replica the routes talk to: none until the cluster service has started one (or ever,
/// on a data directory that has not joined a cluster).
final class ClusterHandle: Sendable {
    private let state = Mutex<(any ClusterEndpoints)?>(nil)

    init(_ endpoints: (any ClusterEndpoints)? = nil) {
        state.withLock { $0 = endpoints }
    }

    func set(_ endpoints: any ClusterEndpoints) { state.withLock { $0 = endpoints } }

    var current: (any ClusterEndpoints)? { state.withLock { $0 } }

    func require() throws -> any ClusterEndpoints {
        guard let current else { throw ClusterRouteError.notInCluster }
        return current
    }
}

/// A refusal of a cluster route, with its HTTP status and a stable code. Details name the rule
/// broken, never a secret.
enum ClusterRouteError: Error, Equatable, AuditCodedError, CustomStringConvertible {
    case notInCluster
    /// A route of the other role: a replica's on a client node, or a client node's on a replica.
    case wrongRole(String)
    case invalid(String)
    case notFound(String)
    /// The engine refused under the protocol; `code` is one word naming the rule.
    case refused(code: String, detail: String)

    var auditCode: String {
        switch self {
        case .notInCluster: "not-in-cluster"
        case .wrongRole(let role): role == "client" ? "not-a-replica" : "not-a-client"
        case .invalid: "invalid-argument"
        case .notFound: "not-found"
        case .refused(let code, _): code
        }
    }

    var description: String {
        switch self {
        case .notInCluster: "this data directory has not joined a replica network (custos cluster join)"
        case .wrongRole(let role):
            role == "client" ? "this data directory is a client node of the replica network: a replica answers this"
                : "this data directory is a replica: a client node answers this (custos cluster client init)"
        case .invalid(let detail), .notFound(let detail), .refused(_, let detail): detail
        }
    }

    var problem: Problem {
        let status = switch self {
        case .notInCluster, .wrongRole: 409
        case .invalid: 400
        case .notFound: 404
        case .refused: 422
        }
        return Problem(status: status, code: auditCode, title: Problem.title(status), detail: description)
    }
}

extension ClusterRouteError {
    /// The engine's refusal under a stable code naming the rule (docs/cluster.md); the detail
    /// is the engine's description, which names the subject and never a secret.
    static func engine(_ error: ClusterError) -> ClusterRouteError {
        let code = switch error {
        case .shareConflict: "share-conflict"
        case .belowFloor: "below-floor"
        case .viewLeft: "view-left"
        case .recovering, .notStarted: "recovering"
        case .keysetUndecided: "keyset-undecided"
        case .checkpointConflict: "checkpoint-conflict"
        case .checkpointNotOnBoundary, .checkpointOutOfOrder, .scheduleOutOfOrder: "notice-out-of-order"
        case .keyUnavailable: "key-unavailable"
        case .encoding, .malformed, .oversized, .unsupportedVersion: "malformed"
        case .belowQuorum, .signerBitsLength, .signerPaddingBit, .signerKeyCountMismatch, .unknownSignerKey, .signerKeyNotActive,
             .badAggregateSignature, .badShare, .duplicateApproval:
            "bad-certificate"
        case .clusterMismatch: "wrong-cluster"
        case .badCommandSignature: "bad-operator-signature"
        case .commandReplay: "command-replay"
        case .commandContested: "command-contested"
        case .commandExpired: "command-expired"
        case .commandExpiryTooFar: "command-expiry-too-far"
        case .unknownTarget, .unknownClient, .clientOutOfRange: "unknown-target"
        case .clientRemoved: "client-removed"
        case .clientIDTaken: "client-id-taken"
        case .invalidCommand: "invalid-command"
        case .clientMismatch: "client-mismatch"
        case .notAReplica: "not-a-replica"
        case .unknownCommand: "unknown-command"
        case .kindsNotRenewed: "kinds-not-renewed"
        case .pinTaken: "foreign-tls-pin"
        case .clientKeyUnavailable: "key-unavailable"
        default: "cluster-refused"
        }
        return .refused(code: code, detail: error.description)
    }
}

extension Problem: AuditCodedError {
    public var auditCode: String { code }
}
