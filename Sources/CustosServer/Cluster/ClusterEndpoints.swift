import CustosAPI
import CustosCluster
import CustosKeystore
import Foundation
import Synchronization

/// What the node's routes ask of this replica, in the API's terms. `ReplicaEndpoints` answers
/// from the `ReplicaNode` engine; the routes know nothing else of it.
protocol ClusterEndpoints: Sendable {
    func status() async throws -> ClusterStatusResponse
    func certified() async throws -> ClusterCertifiedResponse
    func schedule(sequence: UInt64, record: [UInt8], certificate: [UInt8]) async throws -> ClusterLogEntry
    func checkpoint(boundary: UInt64, ledgerDigest: [UInt8]) async throws -> ClusterCheckpointSignature
    /// nil while no stable certificate is formed for `boundary`.
    func stableCheckpoint(boundary: UInt64) async throws -> ClusterStableCheckpoint?
    func share(_ message: ConsensusMessage) async throws -> ClusterShare
    func combine(_ message: ConsensusMessage, shares: [(signer: KeyName, share: [UInt8])]) async throws -> [UInt8]
    /// The replicas whose keys signed; throws when the certificate is not valid at the sequence.
    func verify(_ message: ConsensusMessage, certificate: [UInt8]) async throws -> [ReplicaID]
    func log(after: UInt64, limit: Int) async throws -> ClusterLogResponse
    func export() async throws -> ClusterLogExport
    /// For readiness: recovering, bootstrapping or operational.
    func phase() async -> String
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
    case invalid(String)
    case notFound(String)
    /// The engine refused under the protocol; `code` is one word naming the rule.
    case refused(code: String, detail: String)

    var auditCode: String {
        switch self {
        case .notInCluster: "not-in-cluster"
        case .invalid: "invalid-argument"
        case .notFound: "not-found"
        case .refused(let code, _): code
        }
    }

    var description: String {
        switch self {
        case .notInCluster: "this data directory has not joined a replica network (custos cluster join)"
        case .invalid(let detail), .notFound(let detail), .refused(_, let detail): detail
        }
    }

    var problem: Problem {
        let status = switch self {
        case .notInCluster: 409
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
        default: "cluster-refused"
        }
        return .refused(code: code, detail: error.description)
    }
}

extension Problem: AuditCodedError {
    public var auditCode: String { code }
}
