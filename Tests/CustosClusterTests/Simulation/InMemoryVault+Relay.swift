import CustosCluster
import Crypto

/// The durable decisions on commands and client records, and the relay set, of the
/// simulation's vault (kept across a simulated crash like the rest of its state). Declared
/// `async throws` like the protocol so that a call on the concrete vault finds these, not the
/// protocol's refusing defaults.
extension InMemoryVault {
    func decideCommandApproval(_ number: UInt64, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        decide(\.commandApprovals, number, digest: digest, audit: audit)
    }

    func decideClientApproval(_ name: ClientKeyName, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        decide(\.clientApprovals, name, digest: digest, audit: audit)
    }

    /// One digest per subject, recorded with its audit event in the same step.
    private func decide<Subject: Hashable>(_ decisions: WritableKeyPath<State, [Subject: [UInt8]]>, _ subject: Subject, digest: [UInt8],
                                           audit: ClusterAuditEvent) -> Decision {
        if let existing = state[keyPath: decisions][subject] {
            return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
        }
        state[keyPath: decisions][subject] = digest
        state.audit.append(audit)
        return .recorded
    }

    func saveRelayed(kind: ScheduledKind, item: [UInt8]) async throws {
        let digest = Array(SHA256.hash(data: item))
        guard !state.relayed.contains(where: { $0.digest == digest }) else { return }
        state.relayed.append(RelayedItem(kind: kind, item: item, digest: digest, certificate: nil, receivedAt: nil))
    }

    func saveRelayedCertificate(kind: ScheduledKind, digest: [UInt8], certificate: [UInt8]) async throws {
        guard let i = state.relayed.firstIndex(where: { $0.digest == digest && $0.kind == kind }) else {
            throw ClusterError.malformed("no relayed item with that digest")
        }
        let item = state.relayed[i]
        state.relayed[i] = RelayedItem(kind: item.kind, item: item.item, digest: item.digest, certificate: certificate, receivedAt: item.receivedAt)
    }

    func relayed() async throws -> [RelayedItem] { state.relayed }

    func dropRelayed(digest: [UInt8]) async throws { state.relayed.removeAll { $0.digest == digest } }
}
