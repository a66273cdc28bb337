import CustosStore
import Foundation
import Testing

/// The replica network's rows at the store level: a decision and its audit record are one
/// transaction, so a decision whose audit record cannot be written is not made.
@Suite("Cluster store")
struct ClusterStoreTests {
    struct RecordingSealer: AuditSealer {
        func seal(_ bytes: [UInt8]) -> [UInt8] { Array(bytes.suffix(32)) + [UInt8](repeating: 0, count: max(0, 32 - bytes.count)) }
    }

    static func event() -> AuditEvent {
        AuditEvent(time: Date(), actor: "cluster", tenantID: nil, operation: .clusterShare, outcome: .success, details: [:])
    }

    @Test func aDecisionWithoutItsAuditRecordIsNotMade() async throws {
        try await SQLiteStoreTests.withStore { store, _ async throws in
            // No audit sealer attached: the audit append fails inside the decision's transaction.
            await #expect(throws: StoreError.auditNotAttached) {
                _ = try await store.decideConsensusShare(view: 0, sequence: 5, phase: 1, digest: [1], floor: 0, viewChangePhase: 3) { _ in [Self.event()] }
            }
            #expect(try await store.consensusShareDigest(view: 0, sequence: 5, phase: 1) == nil)
            #expect(try await store.consensusFloors() == ClusterFloorsRecord(lowWatermark: 0, viewFloor: 0, highestSigned: nil))
            await #expect(throws: StoreError.auditNotAttached) {
                _ = try await store.decideClusterApproval(ClusterKeyRef(replica: 0, generation: 0, epoch: 1), digest: [1]) { _ in [Self.event()] }
            }
            await #expect(throws: StoreError.auditNotAttached) {
                _ = try await store.decideClusterCheckpoint(boundary: 8, digest: [1]) { _ in [Self.event()] }
            }

            // With the sealer, the same decisions are made, each with one audit record.
            await store.setAuditSealer(RecordingSealer())
            #expect(try await store.decideConsensusShare(view: 0, sequence: 5, phase: 1, digest: [1], floor: 0, viewChangePhase: 3) { _ in [Self.event()] } == .recorded)
            #expect(try await store.decideClusterApproval(ClusterKeyRef(replica: 0, generation: 0, epoch: 1), digest: [1]) { _ in [Self.event()] } == .recorded)
            #expect(try await store.decideClusterCheckpoint(boundary: 8, digest: [1]) { _ in [Self.event()] } == .recorded)
            #expect(try await store.auditRecords(AuditQuery(limit: 10)).count == 3)
        }
    }

    @Test func theAuditRecordIsBuiltFromTheOutcome() async throws {
        try await SQLiteStoreTests.withStore { store, _ async throws in
            await store.setAuditSealer(RecordingSealer())
            let outcomes = OutcomeLog()
            for digest in [[1], [1], [2]] as [[UInt8]] {
                _ = try await store.decideClusterCheckpoint(boundary: 8, digest: digest) { outcome in
                    outcomes.append(outcome)
                    return [Self.event()]
                }
            }
            #expect(outcomes.values == [.recorded, .alreadyRecorded, .conflicts(existingDigest: [1])])
        }
    }

    @Test func aMembershipIsRecordedOnce() async throws {
        try await SQLiteStoreTests.withStore { store, _ async throws in
            await store.setAuditSealer(RecordingSealer())
            #expect(try await store.clusterMembership() == nil)
            let (key, version) = SQLiteStoreTests.key("replica-0/g0/e0/main")
            let keySet = ClusterKeySetRecord(name: ClusterKeyRef(replica: 0, generation: 0, epoch: 0), record: nil,
                                             consensusKeyID: key.id, mainKeyID: key.id, tlsKeyID: key.id, createdAt: Date())
            let membership = ClusterMembershipRecord(clusterID: [UInt8](repeating: 1, count: 16), replica: 0, configuration: [9], joinedAt: Date())
            try await store.joinCluster(membership, keys: [(key, version)], keySet: keySet, audit: [Self.event()])
            #expect(try await store.clusterMembership()?.configuration == [9])
            #expect(try await store.clusterKeySet(keySet.name)?.mainKeyID == key.id)
            let (other, otherVersion) = SQLiteStoreTests.key("replica-1/g0/e0/main")
            await #expect(throws: StoreError.clusterAlreadyJoined) {
                try await store.joinCluster(membership, keys: [(other, otherVersion)], keySet: keySet, audit: [Self.event()])
            }
            #expect(try await store.key(tenantID: "t", alias: "replica-1/g0/e0/main") == nil)
        }
    }
}

final class OutcomeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [ClusterDecisionOutcome] = []
    func append(_ outcome: ClusterDecisionOutcome) { lock.withLock { stored.append(outcome) } }
    var values: [ClusterDecisionOutcome] { lock.withLock { stored } }
}
