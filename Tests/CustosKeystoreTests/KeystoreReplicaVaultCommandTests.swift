import BLS12381
import CustosCluster
import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// The `ReplicaVault` methods of operator commands and client nodes on the keystore's vault:
/// carrying keys over to a new key name, the durable command and client-record decisions,
/// and relayed items; each survives closing and reopening the data directory.
@Suite("Keystore replica vault: commands")
struct KeystoreReplicaVaultCommandTests {
    typealias Base = KeystoreReplicaVaultTests
    static let e1 = KeyName(replica: ReplicaID(1), generation: 0, epoch: 1)
    static let e2 = KeyName(replica: ReplicaID(1), generation: 0, epoch: 2)

    /// Public parts in record order: consensus (48) ‖ main (32) ‖ TLS pin (32).
    static func create(_ vault: KeystoreReplicaVault, _ name: KeyName, renewing: ReplicaKeyKinds, from previous: KeyName?) async throws -> [UInt8] {
        try await vault.createCandidate(name, renewing: renewing, carryingFrom: previous) { keys in
            keys.consensusPublicKey.compressedRepresentation + keys.mainPublicKey + keys.tlsPin
        }
    }

    @Test func kindsNotRenewedAreCarriedOverWithTheSamePublicKeys() async throws {
        try await Base.withVault { fixture, vault async throws in
            let first = try await Base.create(vault, Self.e1)
            let second = try await Self.create(vault, Self.e2, renewing: .consensus, from: Self.e1)
            #expect(second[0..<48] != first[0..<48], "the consensus key is renewed")
            #expect(second[48...] == first[48...], "the main key and the TLS pin are carried over")

            // The carried main key signs under the new name, verifying under the old public key.
            let main = try SigningPublicKey(rawRepresentation: Array(first[48..<80]), scheme: .ed25519)
            #expect(try main.isValidSignature(try await vault.signMain(Self.e2, [1]), for: [1]))
            // The renewed consensus key is the record's, not the old one.
            let consensus = try BLS12381.PublicKey(compressedRepresentation: Array(second[0..<48]))
            let share = try await vault.signConsensus(Self.e2, [2], domain: SignatureTag.consensusShareDST)
            #expect(consensus.isValidSignature(share, for: [2], domain: SignatureTag.consensusShareDST))

            let imports = try await fixture.service.store.auditRecords(AuditQuery(limit: 100, operation: "import"))
            #expect(imports.count == 2)
            #expect(imports.allSatisfy { $0.detailValues["carried_from"] == Self.e1.description })
            let proposals = try await fixture.service.store.auditRecords(AuditQuery(limit: 100, operation: "cluster.propose"))
            #expect(proposals.last?.detailValues["renewed"] == "consensus")
        }
    }

    @Test func destroyingThePreviousNameShredsOnlyItsCopyOfACarriedKey() async throws {
        try await Base.withVault { fixture, vault async throws in
            _ = try await Base.create(vault, Self.e1)
            _ = try await Self.create(vault, Self.e2, renewing: [.tls], from: Self.e1)
            let oldMain = try await fixture.service.key(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(Self.e1, .main), by: .local)
            let newMain = try await fixture.service.key(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(Self.e2, .main), by: .local)
            #expect(oldMain.id != newMain.id, "a carried key is its own keystore key under the new name")

            try await vault.destroyKeys(Self.e1, reason: "stable checkpoint past e2's activation")
            #expect(try await !vault.holdsKeys(Self.e1))
            await #expect(throws: ClusterVaultError.keyUnavailable(Self.e1)) { _ = try await vault.signMain(Self.e1, [1]) }
            #expect(try await vault.holdsKeys(Self.e2))
            _ = try await vault.signMain(Self.e2, [1])
            _ = try await vault.signConsensus(Self.e2, [1], domain: SignatureTag.consensusShareDST)
            #expect(try await fixture.service.key(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(Self.e2, .main), by: .local).status == .enabled)

            // After a restart the carried key still signs.
            let reopened = KeystoreReplicaVault(keys: try await fixture.reopened().service)
            _ = try await reopened.signMain(Self.e2, [3])
        }
    }

    @Test func aCarryOverThatCannotBeMadeStoresNothing() async throws {
        try await Base.withVault { fixture, vault async throws in
            _ = try await Base.create(vault, Self.e1)
            // No previous name, an empty or unknown kind set, another replica's or a later name.
            await #expect(throws: KeystoreError.self) { _ = try await Self.create(vault, Self.e2, renewing: .main, from: nil) }
            await #expect(throws: KeystoreError.self) { _ = try await Self.create(vault, Self.e2, renewing: ReplicaKeyKinds(rawValue: 0), from: Self.e1) }
            await #expect(throws: KeystoreError.self) { _ = try await Self.create(vault, Self.e2, renewing: ReplicaKeyKinds(rawValue: 8), from: Self.e1) }
            await #expect(throws: KeystoreError.self) {
                _ = try await Self.create(vault, Self.e2, renewing: .main, from: KeyName(replica: ReplicaID(2), generation: 0, epoch: 1))
            }
            await #expect(throws: KeystoreError.self) {
                _ = try await Self.create(vault, Self.e2, renewing: .main, from: KeyName(replica: ReplicaID(1), generation: 0, epoch: 3))
            }
            // The previous name's keys are gone: nothing to carry.
            try await vault.destroyKeys(Self.e1, reason: "test")
            await #expect(throws: ClusterVaultError.keyUnavailable(Self.e1)) { _ = try await Self.create(vault, Self.e2, renewing: .main, from: Self.e1) }
            #expect(try await vault.candidate(Self.e2) == nil)
            #expect(try await fixture.service.store.key(tenantID: "cluster", alias: ClusterKeys.alias(Self.e2, .main).rawValue) == nil)
            // Renewing all needs no previous name (the old createCandidate).
            #expect(try await Self.create(vault, Self.e2, renewing: .all, from: nil).count == 112)
        }
    }

    @Test func oneCommandPerNumberAndOneClientRecordPerKeyNameDurably() async throws {
        try await Base.withVault { fixture, vault async throws in
            let event = ClusterAuditEvent(operation: "cluster.command-approve", outcome: "ok", subject: "command 4", detail: "")
            let digest = [UInt8](repeating: 1, count: 32), other = [UInt8](repeating: 2, count: 32)
            #expect(try await vault.decideCommandApproval(4, digest: digest, audit: event) == .recorded)
            #expect(try await vault.decideCommandApproval(4, digest: digest, audit: event) == .alreadyRecorded)
            #expect(try await vault.decideCommandApproval(4, digest: other, audit: event) == .conflicts(existingDigest: digest))
            #expect(try await vault.decideCommandApproval(5, digest: other, audit: event) == .recorded)
            #expect(try await Base.auditCount(fixture, "cluster.command-approve", outcome: "failure") == 1)
            #expect(try await Base.auditCount(fixture, "cluster.command-approve", outcome: "success") == 3)

            let clientEvent = ClusterAuditEvent(operation: "cluster.client-approve", outcome: "ok", subject: "(client 2, e1)", detail: "")
            let name = ClientKeyName(client: ClientID(2), epoch: 1)
            #expect(try await vault.decideClientApproval(name, digest: digest, audit: clientEvent) == .recorded)
            #expect(try await vault.decideClientApproval(name, digest: other, audit: clientEvent) == .conflicts(existingDigest: digest))
            #expect(try await vault.decideClientApproval(name.next, digest: other, audit: clientEvent) == .recorded)
            #expect(try await Base.auditCount(fixture, "cluster.client-approve", outcome: "failure") == 1)

            let reopened = KeystoreReplicaVault(keys: try await fixture.reopened().service)
            #expect(try await reopened.decideCommandApproval(4, digest: other, audit: event) == .conflicts(existingDigest: digest))
            #expect(try await reopened.decideClientApproval(name, digest: digest, audit: clientEvent) == .alreadyRecorded)
        }
    }

    @Test func relayedItemsAreKeptOnceUntilDropped() async throws {
        try await Base.withVault { fixture, vault async throws in
            let command: [UInt8] = [0x82, 0x41, 0x01, 0x40], record: [UInt8] = [0x82, 0x41, 0x02, 0x40]
            try await vault.saveRelayed(kind: .command, item: command)
            try await vault.saveRelayed(kind: .clientRecord, item: record)
            try await vault.saveRelayed(kind: .command, item: command)
            let relayed = try await vault.relayed()
            #expect(relayed.map(\.kind) == [.command, .clientRecord])
            #expect(relayed.map(\.item) == [command, record])
            #expect(relayed[0].digest == SHA256Digest.of(command))
            #expect(relayed.allSatisfy { $0.certificate == nil && $0.receivedAt != nil })

            try await vault.saveRelayedCertificate(kind: .command, digest: SHA256Digest.of(command), certificate: [9])
            await #expect(throws: KeystoreError.self) {
                try await vault.saveRelayedCertificate(kind: .command, digest: SHA256Digest.of([1]), certificate: [9])
            }
            let reopened = KeystoreReplicaVault(keys: try await fixture.reopened().service)
            #expect(try await reopened.relayed().first?.certificate == [9])
            try await reopened.dropRelayed(digest: SHA256Digest.of(command))
            #expect(try await reopened.relayed().map(\.kind) == [.clientRecord])
        }
    }
}
