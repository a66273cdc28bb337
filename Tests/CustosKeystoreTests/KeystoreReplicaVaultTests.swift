import BLS12381
import CustosCluster
import CustosCrypto
import CustosPKI
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// The contract of `ReplicaVault` (CustosCluster/Ports/ReplicaVault.swift), method by method,
/// on the keystore's vault: conflicts, floors, the view floor, idempotence, and that every
/// decision survives closing and reopening the data directory (a crash between calls).
@Suite("Keystore replica vault")
struct KeystoreReplicaVaultTests {
    static let name = KeyName(replica: ReplicaID(1), generation: 0, epoch: 1)
    static let event = ClusterAuditEvent(operation: "cluster.share", outcome: "ok", subject: "test", detail: "test")

    static func withVault(_ body: (Fixture, KeystoreReplicaVault) async throws -> Void) async throws {
        let fixture = try await Fixture.make(tenant: nil)
        do {
            try await body(fixture, KeystoreReplicaVault(keys: fixture.service))
        } catch {
            await fixture.cleanUp()
            throw error
        }
        await fixture.cleanUp()
    }

    /// A candidate whose "record" is the concatenation of its public parts, so the test can
    /// read them back from the stored bytes.
    static func create(_ vault: KeystoreReplicaVault, _ name: KeyName = name) async throws -> [UInt8] {
        try await vault.createCandidate(name) { keys in
            keys.consensusPublicKey.compressedRepresentation + keys.mainPublicKey + keys.tlsPin
        }
    }

    static func auditCount(_ fixture: Fixture, _ operation: String, outcome: String? = nil) async throws -> Int {
        try await fixture.service.store.auditRecords(AuditQuery(limit: 10_000, operation: operation))
            .filter { outcome == nil || $0.outcome == outcome }.count
    }

    // MARK: Keys

    @Test func candidateKeysAreStoredWithTheirRecordAndSignAsTheRecordSays() async throws {
        try await Self.withVault { fixture, vault async throws in
            let record = try await Self.create(vault)
            #expect(record.count == 48 + 32 + 32)
            #expect(try await vault.candidate(Self.name) == record)
            #expect(try await vault.holdsKeys(Self.name))

            let message = Array("approve".utf8)
            let consensus = try BLS12381.PublicKey(compressedRepresentation: Array(record[0..<48]))
            let share = try await vault.signConsensus(Self.name, message, domain: SignatureTag.consensusShareDST)
            #expect(consensus.isValidSignature(share, for: message, domain: SignatureTag.consensusShareDST))
            #expect(!consensus.isValidSignature(share, for: message, domain: SignatureTag.keyLogApprovalDST))

            let main = try SigningPublicKey(rawRepresentation: Array(record[48..<80]), scheme: .ed25519)
            #expect(try main.isValidSignature(try await vault.signMain(Self.name, message), for: message))

            // The keys are keystore keys: wrapped, listed under tenant `cluster`, with the TLS
            // key's pin the one in the record.
            let tls = try await fixture.service.publicKey(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(Self.name, .tls), by: .local)
            guard case .signing(let tlsKey) = tls else { Issue.record("the TLS key is not a signing key"); return }
            #expect(PublicKeyPin(subjectPublicKeyInfo: tlsKey.derRepresentation!).digest == Array(record[80...]))
            #expect(try await Self.auditCount(fixture, "cluster.propose") == 1)
            #expect(try await Self.auditCount(fixture, "generate") == 3)
        }
    }

    @Test func aSecondCreateReturnsTheStoredBytesWithoutBuilding() async throws {
        try await Self.withVault { fixture, vault async throws in
            let first = try await Self.create(vault)
            let second = try await vault.createCandidate(Self.name) { _ in
                Issue.record("build was called for a name that has a candidate")
                return [0]
            }
            #expect(second == first)
            let keys = try await fixture.service.listKeys(tenant: ClusterKeys.tenant, by: .local).keys
            #expect(keys.count == 3)
        }
    }

    @Test func concurrentCreatesOfOneNameStoreOneCandidate() async throws {
        try await Self.withVault { fixture, vault async throws in
            let records = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<4 { group.addTask { try await Self.create(vault) } }
                return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
            }
            #expect(Set(records).count == 1)
            #expect(try await vault.candidate(Self.name) == records[0])
            #expect(try await fixture.service.listKeys(tenant: ClusterKeys.tenant, by: .local).keys.count == 3)
            #expect(try await Self.auditCount(fixture, "cluster.propose") == 1)
        }
    }

    struct BuildFailed: Error {}

    @Test func aFailedBuildStoresNothing() async throws {
        try await Self.withVault { fixture, vault async throws in
            await #expect(throws: BuildFailed.self) {
                _ = try await vault.createCandidate(Self.name) { _ in throw BuildFailed() }
            }
            #expect(try await vault.candidate(Self.name) == nil)
            #expect(try await !vault.holdsKeys(Self.name))
            #expect(try await fixture.service.store.key(tenantID: "cluster", alias: ClusterKeys.alias(Self.name, .main).rawValue) == nil)
        }
    }

    @Test func keysNeverHeldAreUnavailable() async throws {
        try await Self.withVault { _, vault async throws in
            await #expect(throws: ClusterVaultError.keyUnavailable(Self.name)) { _ = try await vault.signMain(Self.name, [1]) }
            await #expect(throws: ClusterVaultError.keyUnavailable(Self.name)) {
                _ = try await vault.signConsensus(Self.name, [1], domain: SignatureTag.consensusShareDST)
            }
            #expect(try await !vault.holdsKeys(Self.name))
        }
    }

    @Test func destroyShredsAllThreeKeysOnceAndLeavesOtherKeySetsUsable() async throws {
        try await Self.withVault { fixture, vault async throws in
            let other = KeyName(replica: ReplicaID(1), generation: 0, epoch: 2)
            _ = try await Self.create(vault)
            _ = try await Self.create(vault, other)
            try await vault.destroyKeys(Self.name, reason: "stable checkpoint past the activation of e2")
            #expect(try await !vault.holdsKeys(Self.name))
            await #expect(throws: ClusterVaultError.keyUnavailable(Self.name)) { _ = try await vault.signMain(Self.name, [1]) }
            await #expect(throws: ClusterVaultError.keyUnavailable(Self.name)) {
                _ = try await vault.signConsensus(Self.name, [1], domain: SignatureTag.consensusShareDST)
            }
            for kind in ClusterKeys.Kind.allCases {
                let info = try await fixture.service.key(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(Self.name, kind), by: .local)
                #expect(info.status == .destroyed)
            }
            // The candidate bytes (public) stay; the other key set was re-wrapped and still signs.
            #expect(try await vault.candidate(Self.name) != nil)
            #expect(try await vault.holdsKeys(other))
            _ = try await vault.signMain(other, [1])

            try await vault.destroyKeys(Self.name, reason: "again")
            try await vault.destroyKeys(KeyName(replica: ReplicaID(9), generation: 0, epoch: 0), reason: "never held")
            #expect(try await Self.auditCount(fixture, "cluster.keys-destroyed") == 1)
            #expect(try await Self.auditCount(fixture, "destroy") == 3)

            // After a restart the destroyed keys stay destroyed and the other set still opens.
            let reopened = KeystoreReplicaVault(keys: try await fixture.reopened().service)
            #expect(try await !reopened.holdsKeys(Self.name))
            _ = try await reopened.signMain(other, [2])
        }
    }

    // MARK: Decisions

    @Test func approvalIsDecidedOncePerKeyName() async throws {
        try await Self.withVault { fixture, vault async throws in
            let event = ClusterAuditEvent(operation: "cluster.approve", outcome: "ok", subject: "(1, g0, e1)", detail: "record")
            let digest = [UInt8](repeating: 1, count: 32), other = [UInt8](repeating: 2, count: 32)
            #expect(try await vault.decideApproval(Self.name, digest: digest, audit: event) == .recorded)
            #expect(try await vault.decideApproval(Self.name, digest: digest, audit: event) == .alreadyRecorded)
            #expect(try await vault.decideApproval(Self.name, digest: other, audit: event) == .conflicts(existingDigest: digest))
            #expect(try await vault.decideApproval(Self.name.next, digest: other, audit: event) == .recorded)
            #expect(try await Self.auditCount(fixture, "cluster.approve", outcome: "success") == 3)
            #expect(try await Self.auditCount(fixture, "cluster.approve", outcome: "failure") == 1)
        }
    }

    @Test func consensusShareWatermarkRefusesASecondDigestAndReturnsTheSameDecisionForTheSame() async throws {
        try await Self.withVault { fixture, vault async throws in
            let slot = ConsensusSlot(view: 0, sequence: 10, phase: .prepare)
            let digest = [UInt8](repeating: 3, count: 32), other = [UInt8](repeating: 4, count: 32)
            #expect(try await vault.decideConsensusShare(slot, digest: digest, floor: 0, audit: Self.event) == .recorded)
            #expect(try await vault.decideConsensusShare(slot, digest: digest, floor: 0, audit: Self.event) == .alreadyRecorded)
            #expect(try await vault.decideConsensusShare(slot, digest: other, floor: 0, audit: Self.event) == .conflicts(existingDigest: digest))
            // Another phase or view of the same sequence is another slot.
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 0, sequence: 10, phase: .commit), digest: other, floor: 0,
                                                         audit: Self.event) == .recorded)
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 1, sequence: 10, phase: .prepare), digest: other, floor: 0,
                                                         audit: Self.event) == .recorded)
            #expect(try await fixture.service.store.consensusShareDigest(view: 0, sequence: 10, phase: ConsensusPhase.prepare.rawValue) == digest)
            #expect(try await Self.auditCount(fixture, "cluster.share", outcome: "failure") == 1)
            #expect(try await Self.auditCount(fixture, "cluster.share", outcome: "success") == 4)
            #expect(try await vault.consensusFloors() == (0, 0, 10))
        }
    }

    @Test func sharesAtOrBelowTheFloorOrTheLowWatermarkAreRefused() async throws {
        try await Self.withVault { fixture, vault async throws in
            let digest = [UInt8](repeating: 5, count: 32)
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 0, sequence: 20, phase: .prepare), digest: digest, floor: 20,
                                                         audit: Self.event) == .belowFloor(floor: 20))
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 0, sequence: 21, phase: .prepare), digest: digest, floor: 20,
                                                         audit: Self.event) == .recorded)
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 0, sequence: 30, phase: .prepare), digest: digest, floor: 0,
                                                         audit: Self.event) == .recorded)
            try await vault.pruneConsensusShares(through: 25)
            #expect(try await fixture.service.store.consensusShareDigest(view: 0, sequence: 21, phase: ConsensusPhase.prepare.rawValue) == nil)
            #expect(try await fixture.service.store.consensusShareDigest(view: 0, sequence: 30, phase: ConsensusPhase.prepare.rawValue) == digest)
            // The pruned slot is refused even with another digest, whatever floor the caller passes.
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 0, sequence: 21, phase: .prepare), digest: [UInt8](repeating: 6, count: 32),
                                                         floor: 0, audit: Self.event) == .belowFloor(floor: 25))
            // Pruning never lowers the watermark.
            try await vault.pruneConsensusShares(through: 5)
            #expect(try await vault.consensusFloors() == (25, 0, 30))
        }
    }

    @Test func aViewChangeShareRaisesTheViewFloor() async throws {
        try await Self.withVault { _, vault async throws in
            let digest = [UInt8](repeating: 7, count: 32)
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 5, sequence: 40, phase: .viewChange), digest: digest, floor: 0,
                                                         audit: Self.event) == .recorded)
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 4, sequence: 41, phase: .commit), digest: digest, floor: 0,
                                                         audit: Self.event) == .viewLeft(viewFloor: 5))
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 4, sequence: 41, phase: .viewChange), digest: digest, floor: 0,
                                                         audit: Self.event) == .viewLeft(viewFloor: 5))
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 5, sequence: 41, phase: .prepare), digest: digest, floor: 0,
                                                         audit: Self.event) == .recorded)
            // Other phases never raise it.
            #expect(try await vault.decideConsensusShare(ConsensusSlot(view: 9, sequence: 42, phase: .commit), digest: digest, floor: 0,
                                                         audit: Self.event) == .recorded)
            #expect(try await vault.consensusFloors().viewFloor == 5)
        }
    }

    @Test func checkpointDigestIsDecidedOncePerBoundary() async throws {
        try await Self.withVault { fixture, vault async throws in
            let event = ClusterAuditEvent(operation: "cluster.checkpoint", outcome: "ok", subject: "boundary 8", detail: "")
            let digest = [UInt8](repeating: 8, count: 32), other = [UInt8](repeating: 9, count: 32)
            #expect(try await vault.decideCheckpoint(boundary: 8, digest: digest, audit: event) == .recorded)
            #expect(try await vault.decideCheckpoint(boundary: 8, digest: digest, audit: event) == .alreadyRecorded)
            #expect(try await vault.decideCheckpoint(boundary: 8, digest: other, audit: event) == .conflicts(existingDigest: digest))
            #expect(try await vault.decideCheckpoint(boundary: 16, digest: other, audit: event) == .recorded)
            #expect(try await Self.auditCount(fixture, "cluster.checkpoint", outcome: "failure") == 1)
        }
    }

    @Test func numbersAboveTheStoresRangeAreRefusedNotWrapped() async throws {
        try await Self.withVault { _, vault async throws in
            let huge = UInt64(Int64.max) + 1
            await #expect(throws: KeystoreError.store(.outOfRange("sequence"))) {
                _ = try await vault.decideConsensusShare(ConsensusSlot(view: 0, sequence: huge, phase: .prepare), digest: [1], floor: 0, audit: Self.event)
            }
            #expect(try await vault.consensusFloors() == (0, 0, nil))
        }
    }

    @Test func unknownClusterOperationsAreAuditedUnderTheirName() async throws {
        try await Self.withVault { fixture, vault async throws in
            let event = ClusterAuditEvent(operation: "cluster.something-new", outcome: "ok", subject: "s", detail: "d")
            _ = try await vault.decideCheckpoint(boundary: 4, digest: [1], audit: event)
            let records = try await fixture.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.event"))
            #expect(records.count == 1)
            #expect(records.first?.detailValues["event"] == "cluster.something-new")
        }
    }

    // MARK: Key log and certificates

    @Test func theLogAppendsOnlyTheNextIndex() async throws {
        try await Self.withVault { _, vault async throws in
            let entry = { (index: UInt64) in StoredLogEntry(index: index, sequence: 3 * index + 1, bytes: [UInt8(index)], head: [UInt8](repeating: UInt8(index), count: 32)) }
            await #expect(throws: ClusterVaultError.logIndexOutOfOrder(expected: 0, actual: 1)) { try await vault.appendLogEntry(entry(1)) }
            for index in 0..<5 { try await vault.appendLogEntry(entry(UInt64(index))) }
            await #expect(throws: ClusterVaultError.logIndexOutOfOrder(expected: 5, actual: 3)) { try await vault.appendLogEntry(entry(3)) }
            #expect(try await vault.logEntries(after: 0, limit: 100) == (0..<5).map { entry(UInt64($0)) })
            #expect(try await vault.logEntries(after: 3, limit: 1) == [entry(3)])
            #expect(try await vault.logEntries(after: 5, limit: 10).isEmpty)
            #expect(try await vault.logEntries(after: UInt64.max, limit: 10).isEmpty)
        }
    }

    @Test func certificatesAndStableCheckpoints() async throws {
        try await Self.withVault { _, vault async throws in
            #expect(try await vault.certificate(Self.name) == nil)
            try await vault.saveCertificate(Self.name, certificate: [1])
            try await vault.saveCertificate(Self.name, certificate: [2])  // re-certified
            #expect(try await vault.certificate(Self.name) == [2])

            #expect(try await vault.latestStableCheckpoint() == nil)
            for boundary in [8, 16, 24] as [UInt64] { try await vault.saveStableCheckpoint(boundary: boundary, certificate: [UInt8(boundary)]) }
            try await vault.saveStableCheckpoint(boundary: 16, certificate: [99])  // the first one stays
            let after8 = try await vault.stableCheckpoints(after: 8, limit: 10)
            #expect(after8.map(\.boundary) == [16, 24])
            #expect(after8.map(\.certificate) == [[16], [24]])
            #expect(try await vault.stableCheckpoints(after: 0, limit: 1).map(\.boundary) == [8])
            #expect(try await vault.latestStableCheckpoint()?.boundary == 24)
        }
    }

    // MARK: Crash between calls

    @Test func everyDecisionSurvivesClosingAndReopeningTheDataDirectory() async throws {
        try await Self.withVault { fixture, vault async throws in
            let digest = [UInt8](repeating: 1, count: 32), other = [UInt8](repeating: 2, count: 32)
            let record = try await Self.create(vault)
            _ = try await vault.decideApproval(Self.name, digest: digest, audit: Self.event)
            _ = try await vault.decideConsensusShare(ConsensusSlot(view: 3, sequence: 50, phase: .viewChange), digest: digest, floor: 0, audit: Self.event)
            _ = try await vault.decideConsensusShare(ConsensusSlot(view: 3, sequence: 60, phase: .commit), digest: digest, floor: 0, audit: Self.event)
            try await vault.pruneConsensusShares(through: 50)
            _ = try await vault.decideCheckpoint(boundary: 48, digest: digest, audit: Self.event)
            try await vault.appendLogEntry(StoredLogEntry(index: 0, sequence: 7, bytes: [7], head: digest))
            try await vault.saveCertificate(Self.name, certificate: [4])
            try await vault.saveStableCheckpoint(boundary: 48, certificate: [5])
            let message = Array("before".utf8)
            let signature = try await vault.signConsensus(Self.name, message, domain: SignatureTag.consensusShareDST)

            let reopened = KeystoreReplicaVault(keys: try await fixture.reopened().service)
            #expect(try await reopened.createCandidate(Self.name) { _ in [0] } == record)
            #expect(try await reopened.signConsensus(Self.name, message, domain: SignatureTag.consensusShareDST) == signature)
            #expect(try await reopened.decideApproval(Self.name, digest: other, audit: Self.event) == .conflicts(existingDigest: digest))
            #expect(try await reopened.decideConsensusShare(ConsensusSlot(view: 3, sequence: 60, phase: .commit), digest: other, floor: 0,
                                                            audit: Self.event) == .conflicts(existingDigest: digest))
            #expect(try await reopened.decideConsensusShare(ConsensusSlot(view: 2, sequence: 70, phase: .commit), digest: other, floor: 0,
                                                            audit: Self.event) == .viewLeft(viewFloor: 3))
            #expect(try await reopened.decideConsensusShare(ConsensusSlot(view: 3, sequence: 50, phase: .viewChange), digest: other, floor: 0,
                                                            audit: Self.event) == .belowFloor(floor: 50))
            #expect(try await reopened.decideCheckpoint(boundary: 48, digest: other, audit: Self.event) == .conflicts(existingDigest: digest))
            #expect(try await reopened.consensusFloors() == (50, 3, 60))
            #expect(try await reopened.logEntries(after: 0, limit: 10).map(\.sequence) == [7])
            #expect(try await reopened.certificate(Self.name) == [4])
            #expect(try await reopened.latestStableCheckpoint()?.certificate == [5])
        }
    }
}
