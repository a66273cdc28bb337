import CustosCluster
import CustosStore
import Foundation

// The durable decisions on operator commands and client records, and the items this replica
// relays for approval. Each decision is one SQLite transaction with its audit record.
extension KeystoreReplicaVault {
    public func decideCommandApproval(_ number: UInt64, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        let outcome = try await mappingErrors {
            try await store.decideClusterCommandApproval(number: number, digest: digest, audit: keys.clusterDecisionAudit(audit))
        }
        return try Decision(outcome)
    }

    public func decideClientApproval(_ name: ClientKeyName, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        let outcome = try await mappingErrors {
            try await store.decideClusterClientApproval(ClusterKeys.ref(name), digest: digest, audit: keys.clusterDecisionAudit(audit))
        }
        return try Decision(outcome)
    }

    public func saveRelayed(kind: ScheduledKind, item: [UInt8]) async throws {
        try await mappingErrors {
            try await store.saveClusterRelayed(ClusterRelayedRecord(kind: kind.rawValue, digest: SHA256Digest.of(item), item: item,
                                                                    certificate: nil, receivedAt: keys.clock()))
        }
    }

    public func saveRelayedCertificate(kind: ScheduledKind, digest: [UInt8], certificate: [UInt8]) async throws {
        try await mappingErrors { try await store.saveClusterRelayedCertificate(kind: kind.rawValue, digest: digest, certificate: certificate) }
    }

    public func relayed() async throws -> [RelayedItem] {
        try await mappingErrors {
            try await store.clusterRelayed().map { row in
                guard let kind = ScheduledKind(rawValue: row.kind) else {
                    throw KeystoreError.corruptRecord("a relayed item of unknown kind \(row.kind)")
                }
                return RelayedItem(kind: kind, item: row.item, digest: row.digest, certificate: row.certificate,
                                   receivedAt: UInt64(max(0, row.receivedAt.timeIntervalSince1970)))
            }
        }
    }

    public func dropRelayed(digest: [UInt8]) async throws {
        try await mappingErrors { try await store.dropClusterRelayed(digest: digest) }
    }
}

extension KeyService {
    /// The audit record of a decision as its outcome turned out: a refusal is recorded as one.
    func clusterDecisionAudit(_ event: ClusterAuditEvent) -> ClusterDecisionAudit {
        let time = clock()
        return { outcome in
            let refusal: String? = switch outcome {
            case .recorded, .alreadyRecorded: nil
            case .conflicts: "conflicts with the digest decided before"
            case .belowFloor(let floor): "at or below the floor \(floor)"
            case .viewLeft(let viewFloor): "below the view floor \(viewFloor)"
            }
            return [AuditEvent(event, time: time, refusal: refusal)]
        }
    }
}
