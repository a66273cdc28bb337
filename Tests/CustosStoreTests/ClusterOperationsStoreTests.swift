@testable import CustosStore
import Foundation
import Testing

/// Operator commands and client nodes at the store level (schema 7): the migration from 6,
/// the one-digest-per-number and per-(client, epoch) decisions, relayed items, client
/// membership and key sets, and the operator's state.
@Suite("Cluster store: commands and clients")
struct ClusterOperationsStoreTests {
    typealias Sealer = ClusterStoreTests.RecordingSealer
    static func event() -> AuditEvent { ClusterStoreTests.event() }
    static let cluster = [UInt8](repeating: 7, count: 16)

    @Test func migratingFromSchema6KeepsTheMembershipAsGenerationZero() async throws {
        let path = SQLiteStoreTests.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let old = try await SQLiteStore.open(path: path, migratingThrough: 6)
        try await old.execute("""
            INSERT INTO cluster_membership (id, cluster_id, replica, configuration, joined_at) VALUES (1, \(bind: Data(Self.cluster)), 2, \(bind: Data([9, 9])), 1000)
            """)
        try await old.execute("INSERT INTO cluster_approvals (replica, generation, epoch, digest) VALUES (2, 0, 1, \(bind: Data([5])))")
        await #expect(throws: StoreError.self) { _ = try await old.clusterRelayed() }
        try await old.close()

        let store = try await SQLiteStore.open(path: path)
        defer { Task { try? await store.close() } }
        let versions = try await store.rows("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(column: "version", as: Int.self) }
        #expect(versions == Array(1...SQLiteStore.schemaVersion))
        #expect(SQLiteStore.schemaVersion >= 7)
        let membership = try #require(try await store.clusterMembership())
        #expect(membership == ClusterMembershipRecord(clusterID: Self.cluster, replica: 2, configuration: [9, 9],
                                                      joinedAt: Date(timeIntervalSince1970: 1000), generation: 0))
        // The part-1 decisions are still there; the new tables are empty and usable.
        await store.setAuditSealer(Sealer())
        #expect(try await store.decideClusterApproval(ClusterKeyRef(replica: 2, generation: 0, epoch: 1), digest: [6]) { _ in [Self.event()] }
                == .conflicts(existingDigest: [5]))
        #expect(try await store.clusterRelayed().isEmpty)
        #expect(try await store.clusterClientMembership() == nil)
        #expect(try await store.clusterOperatorStates().isEmpty)
        #expect(try await store.decideClusterCommandApproval(number: 1, digest: [1]) { _ in [Self.event()] } == .recorded)
        try await store.close()
    }

    @Test func oneCommandDigestPerNumberDurablyAndWithItsAuditRecord() async throws {
        try await SQLiteStoreTests.withStore { store, path async throws in
            // Without an audit sealer the decision is not made.
            await #expect(throws: StoreError.auditNotAttached) {
                _ = try await store.decideClusterCommandApproval(number: 3, digest: [1]) { _ in [Self.event()] }
            }
            await store.setAuditSealer(Sealer())
            let outcomes = OutcomeLog()
            for digest in [[1], [1], [2]] as [[UInt8]] {
                _ = try await store.decideClusterCommandApproval(number: 3, digest: digest) { outcome in
                    outcomes.append(outcome)
                    return [Self.event()]
                }
            }
            #expect(outcomes.values == [.recorded, .alreadyRecorded, .conflicts(existingDigest: [1])])
            #expect(try await store.decideClusterCommandApproval(number: 4, digest: [2]) { _ in [Self.event()] } == .recorded)
            #expect(try await store.auditRecords(AuditQuery(limit: 10)).count == 4)
            await #expect(throws: StoreError.outOfRange("command number")) {
                _ = try await store.decideClusterCommandApproval(number: .max, digest: [2]) { _ in [Self.event()] }
            }

            // Durable: a reopened store remembers the number's digest.
            let again = try await SQLiteStore.open(path: path)
            await again.setAuditSealer(Sealer())
            #expect(try await again.decideClusterCommandApproval(number: 3, digest: [2]) { _ in [Self.event()] } == .conflicts(existingDigest: [1]))
            try await again.close()
        }
    }

    @Test func oneClientRecordDigestPerClientKeyName() async throws {
        try await SQLiteStoreTests.withStore { store, _ async throws in
            await store.setAuditSealer(Sealer())
            let name = ClusterClientKeyRef(client: 4, epoch: 1)
            #expect(try await store.decideClusterClientApproval(name, digest: [1]) { _ in [Self.event()] } == .recorded)
            #expect(try await store.decideClusterClientApproval(name, digest: [1]) { _ in [Self.event()] } == .alreadyRecorded)
            #expect(try await store.decideClusterClientApproval(name, digest: [2]) { _ in [Self.event()] } == .conflicts(existingDigest: [1]))
            // Another epoch, another client: separate decisions.
            #expect(try await store.decideClusterClientApproval(ClusterClientKeyRef(client: 4, epoch: 2), digest: [2]) { _ in [Self.event()] } == .recorded)
            #expect(try await store.decideClusterClientApproval(ClusterClientKeyRef(client: 5, epoch: 1), digest: [2]) { _ in [Self.event()] } == .recorded)
        }
    }

    @Test func relayedItemsAreKeptOnceAndCertifiedInPlace() async throws {
        try await SQLiteStoreTests.withStore { store, _ async throws in
            let first = ClusterRelayedRecord(kind: 2, digest: [1, 1], item: [0xa1], certificate: nil, receivedAt: Date(timeIntervalSince1970: 10))
            let second = ClusterRelayedRecord(kind: 1, digest: [2, 2], item: [0xb2], certificate: nil, receivedAt: Date(timeIntervalSince1970: 20))
            try await store.saveClusterRelayed(first)
            try await store.saveClusterRelayed(second)
            // Saving again (even with other bytes claimed under the digest) keeps the first copy.
            try await store.saveClusterRelayed(ClusterRelayedRecord(kind: 2, digest: [1, 1], item: [0xff], certificate: nil, receivedAt: Date()))
            #expect(try await store.clusterRelayed() == [first, second])

            try await store.saveClusterRelayedCertificate(kind: 2, digest: [1, 1], certificate: [0xc0])
            try await store.saveClusterRelayedCertificate(kind: 2, digest: [1, 1], certificate: [0xc1])
            #expect(try await store.clusterRelayed().first?.certificate == [0xc1])
            // A certificate for an item never relayed (or under another kind) is refused.
            await #expect(throws: StoreError.self) { try await store.saveClusterRelayedCertificate(kind: 1, digest: [1, 1], certificate: [0xc0]) }
            await #expect(throws: StoreError.self) { try await store.saveClusterRelayedCertificate(kind: 2, digest: [9], certificate: [0xc0]) }

            try await store.dropClusterRelayed(digest: [1, 1])
            try await store.dropClusterRelayed(digest: [1, 1])
            #expect(try await store.clusterRelayed() == [second])
        }
    }

    @Test func aDirectoryIsOneReplicaOrOneClient() async throws {
        try await SQLiteStoreTests.withStore { store, _ async throws in
            await store.setAuditSealer(Sealer())
            let keys = ["client-3/e0/signing", "client-3/e0/tls", "client-3/e0/api-tls"].map { SQLiteStoreTests.key($0) }
            let keySet = ClusterClientKeySetRecord(name: ClusterClientKeyRef(client: 3, epoch: 0), record: nil, signingKeyID: keys[0].0.id,
                                                   tlsKeyID: keys[1].0.id, apiTLSKeyID: keys[2].0.id, createdAt: Date())
            let membership = ClusterClientMembershipRecord(clusterID: Self.cluster, client: 3, configuration: [8], joinedAt: Date())
            try await store.joinClusterAsClient(membership, keys: keys, keySet: keySet, audit: [Self.event()])
            #expect(try await store.clusterClientMembership()?.client == 3)
            #expect(try await store.clusterClientKeySet(keySet.name)?.apiTLSKeyID == keys[2].0.id)

            // A second client membership, or a replica membership, changes nothing.
            let other = SQLiteStoreTests.key("client-4/e0/signing")
            await #expect(throws: StoreError.clusterAlreadyJoined) {
                try await store.joinClusterAsClient(membership, keys: [other], keySet: keySet, audit: [Self.event()])
            }
            let replicaKeySet = ClusterKeySetRecord(name: ClusterKeyRef(replica: 0, generation: 0, epoch: 0), record: nil,
                                                    consensusKeyID: other.0.id, mainKeyID: other.0.id, tlsKeyID: other.0.id, createdAt: Date())
            await #expect(throws: StoreError.clusterAlreadyJoined) {
                try await store.joinCluster(ClusterMembershipRecord(clusterID: Self.cluster, replica: 0, configuration: [8], joinedAt: Date()),
                                            keys: [other], keySet: replicaKeySet, audit: [Self.event()])
            }
            #expect(try await store.key(tenantID: "t", alias: "client-4/e0/signing") == nil)
            #expect(try await store.clusterMembership() == nil)
        }
    }

    @Test func aClientKeySetIsStoredOnceWithItsKeys() async throws {
        try await SQLiteStoreTests.withStore { store, _ async throws in
            await store.setAuditSealer(Sealer())
            let name = ClusterClientKeyRef(client: 1, epoch: 1)
            let keys = ["signing", "tls", "api-tls"].map { SQLiteStoreTests.key("client-1/e1/\($0)") }
            let keySet = ClusterClientKeySetRecord(name: name, record: [1, 2, 3], signingKeyID: keys[0].0.id, tlsKeyID: keys[1].0.id,
                                                   apiTLSKeyID: keys[2].0.id, createdAt: Date())
            #expect(try await store.insertClusterClientKeySet(keySet, keys: keys, audit: [Self.event()]).record == [1, 2, 3])
            // A second candidate for the name: the stored one wins, its keys are not written.
            let later = ["signing", "tls", "api-tls"].map { SQLiteStoreTests.key("client-1/e1/\($0)-again") }
            var other = keySet
            other.record = [4]
            #expect(try await store.insertClusterClientKeySet(other, keys: later, audit: [Self.event()]).record == [1, 2, 3])
            #expect(try await store.key(tenantID: "t", alias: "client-1/e1/signing-again") == nil)
            // A failing key row (duplicate alias) rolls the whole key set back.
            let clash = [SQLiteStoreTests.key("client-1/e2/signing"), SQLiteStoreTests.key("client-1/e1/tls"), SQLiteStoreTests.key("client-1/e2/api-tls")]
            let failing = ClusterClientKeySetRecord(name: ClusterClientKeyRef(client: 1, epoch: 2), record: [5], signingKeyID: clash[0].0.id,
                                                    tlsKeyID: clash[1].0.id, apiTLSKeyID: clash[2].0.id, createdAt: Date())
            await #expect(throws: StoreError.self) { _ = try await store.insertClusterClientKeySet(failing, keys: clash, audit: [Self.event()]) }
            #expect(try await store.clusterClientKeySet(failing.name) == nil)
            #expect(try await store.key(tenantID: "t", alias: "client-1/e2/signing") == nil)
            #expect(try await store.clusterClientKeySets().map(\.name) == [name])
        }
    }

    @Test func theOperatorsStateMovesWithEachSignedCommand() async throws {
        try await SQLiteStoreTests.withStore { store, path async throws in
            let state = ClusterOperatorRecord(clusterID: Self.cluster, configuration: [1], nextCommand: 1, keyAlias: "cluster-operator",
                                              createdAt: Date(timeIntervalSince1970: 5))
            // No audit sealer: nothing is recorded.
            await #expect(throws: StoreError.auditNotAttached) { try await store.saveClusterOperatorState(state, audit: [Self.event()]) }
            #expect(try await store.clusterOperatorStates().isEmpty)
            await store.setAuditSealer(Sealer())
            try await store.saveClusterOperatorState(state, audit: [Self.event()])

            var after = state
            after.nextCommand = 8
            after.pendingKeyAlias = "cluster-operator-c7"
            after.pendingCommand = 7
            let command = ClusterOperatorCommandRecord(clusterID: Self.cluster, number: 7, action: "rotate-operator-key", command: [0xaa],
                                                       signedAt: Date(timeIntervalSince1970: 6))
            try await store.recordClusterOperatorCommand(command, state: after, audit: [Self.event()])
            let replace = ClusterOperatorCommandRecord(clusterID: Self.cluster, number: 8, action: "replace-replica", command: [0xbb], replica: 2,
                                                       generation: 1, signedAt: Date(timeIntervalSince1970: 7))
            after.nextCommand = 9
            try await store.recordClusterOperatorCommand(replace, state: after, audit: [Self.event()])

            let again = try await SQLiteStore.open(path: path)
            #expect(try await again.clusterOperatorStates() == [after])
            #expect(try await again.clusterOperatorCommands(clusterID: Self.cluster) == [command, replace])
            #expect(try await again.clusterOperatorCommands(clusterID: [0]).isEmpty)
            try await again.close()
        }
    }
}
