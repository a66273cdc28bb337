import CustosCluster
import CustosCrypto
import CustosPKI
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// A client node's data directory: `custos cluster client init` (keys (k, 0), membership,
/// descriptor) and the `ClientVault` over the keystore.
@Suite("Keystore client vault")
struct KeystoreClientVaultTests {
    static let client = ClientID(3)
    static let e0 = ClientKeyName(client: client, epoch: 0)
    static let e1 = ClientKeyName(client: client, epoch: 1)

    /// An operator directory that ran genesis (one replica, passphrase bundle) and a client
    /// directory initialised as client 3 of it.
    static func withClient(scheme: SignatureScheme = .ed25519,
                           _ body: (_ client: Fixture, _ vault: KeystoreClientVault, ClientInitResult, GenesisResult) async throws -> Void) async throws {
        let operatorDirectory = try await Fixture.make(tenant: nil)
        let clientDirectory = try await Fixture.make(tenant: nil)
        do {
            let genesis = try await genesis(operatorDirectory)
            let configuration = Array(try Data(contentsOf: URL(fileURLWithPath: genesis.configurationPath)))
            let result = try await clientDirectory.service.clusterClientInit(client: client, configuration: configuration,
                                                                             genesisHash: genesis.configuration.genesisHash, signingScheme: scheme, by: .local)
            try await body(clientDirectory, KeystoreClientVault(keys: clientDirectory.service), result, genesis)
        } catch {
            for fixture in [operatorDirectory, clientDirectory] { await fixture.cleanUp() }
            throw error
        }
        for fixture in [operatorDirectory, clientDirectory] { await fixture.cleanUp() }
    }

    static func genesis(_ fixture: Fixture, replicas: Int = 1) async throws -> GenesisResult {
        let out = fixture.directory + "/bundles"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        return try await fixture.service.clusterGenesis(
            replicas: (0..<replicas).map { GenesisReplica(address: "127.0.0.1:\(9540 + $0)", enrolmentKey: nil) }, checkpointInterval: 8,
            outputDirectory: out, passphrase: ClusterGenesisTests.passphrase, passphraseCost: ClusterGenesisTests.cheap, by: .local)
    }

    static func pin(_ signer: any KeySigner) -> [UInt8] {
        PublicKeyPin(subjectPublicKeyInfo: signer.publicKey.derRepresentation!).digest
    }

    /// A record stand-in: the candidate's public parts, and its binding signature over [1].
    static func create(_ vault: KeystoreClientVault, renewing: ClientKeyKinds) async throws -> [UInt8] {
        try await vault.createCandidate(e1, renewing: renewing, carryingFrom: e0) { keys in
            keys.signingKey.rawRepresentation + keys.tlsPin + keys.apiTLSPin + (try keys.signBinding([1]))
        }
    }

    @Test(arguments: [SignatureScheme.ed25519, .ecdsaP256SHA256])
    func initCreatesTheEpochZeroKeysTheMembershipAndAVerifyingDescriptor(scheme: SignatureScheme) async throws {
        try await Self.withClient(scheme: scheme) { fixture, vault, result, genesis async throws in
            let descriptor = result.descriptor
            #expect(descriptor.client == Self.client)
            #expect(descriptor.keySet.signingKey.scheme == scheme)
            try descriptor.verify(cluster: genesis.configuration.clusterID)
            #expect(throws: (any Error).self) { try descriptor.verify(cluster: [UInt8](repeating: 0, count: 16)) }

            let membership = try #require(try await vault.membership())
            #expect(membership.client == 3 && membership.clusterID == genesis.configuration.clusterID)
            #expect(membership.configuration == genesis.configuration.signedBytes)
            #expect(try await vault.holdsKeys(Self.e0))

            // The vault signs with the descriptor's signing key, 64 bytes (P-256 raw r‖s).
            let signature = try await vault.signWithSigningKey(Self.e0, [7, 7])
            #expect(signature.count == 64)
            #expect(descriptor.keySet.signingKey.isValidSignature(signature, for: [7, 7]))
            // The TLS keys are the descriptor's pins, served from the keystore.
            #expect(Self.pin(try await vault.tlsSigner(Self.e0)) == descriptor.keySet.tlsPin)
            #expect(Self.pin(try await vault.tlsSigner(Self.e0, api: true)) == descriptor.keySet.apiTLSPin)
            let aliases = try await fixture.service.listKeys(tenant: ClusterKeys.tenant, by: .local).keys.map(\.alias.rawValue).sorted()
            #expect(aliases == ["client-3/e0/api-tls", "client-3/e0/signing", "client-3/e0/tls"])
            #expect(try await fixture.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.client-init")).count == 1)
        }
    }

    @Test func initRefusesAnotherGenesisAnAlteredConfigurationAndASecondInit() async throws {
        try await Self.withClient { fixture, vault, _, genesis async throws in
            let other = try await Fixture.make(tenant: nil)
            defer { Task { await other.cleanUp() } }
            let configuration = genesis.configuration.signedBytes
            let hash = genesis.configuration.genesisHash
            // Another genesis hash, an altered byte, an unknown scheme: refused, nothing stored.
            await #expect(throws: KeystoreError.self) {
                _ = try await other.service.clusterClientInit(client: ClientID(1), configuration: configuration, genesisHash: [UInt8](repeating: 0, count: 32), by: .local)
            }
            var altered = configuration
            altered[altered.count - 1] ^= 1
            await #expect(throws: KeystoreError.self) {
                _ = try await other.service.clusterClientInit(client: ClientID(1), configuration: altered, genesisHash: hash, by: .local)
            }
            await #expect(throws: KeystoreError.self) {
                _ = try await other.service.clusterClientInit(client: ClientID(1), configuration: configuration, genesisHash: hash,
                                                              signingScheme: .ecdsaP384SHA384, by: .local)
            }
            #expect(try await other.service.store.clusterClientMembership() == nil)
            #expect(try await other.service.store.key(tenantID: "cluster", alias: "client-1/e0/signing") == nil)
            // The client directory cannot be initialised twice (nor as another client).
            await #expect(throws: KeystoreError.self) {
                _ = try await fixture.service.clusterClientInit(client: ClientID(4), configuration: configuration, genesisHash: hash, by: .local)
            }
            #expect(try await vault.membership()?.client == 3)
            #expect(try await fixture.service.store.key(tenantID: "cluster", alias: "client-4/e0/signing") == nil)
            let failures = try await other.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.client-init"))
            #expect(failures.count == 3 && failures.allSatisfy { $0.outcome == "failure" })
        }
    }

    @Test func aCandidateRenewsTheKindsNamedAndCarriesTheRest() async throws {
        try await Self.withClient { fixture, vault, result, _ async throws in
            let old = result.descriptor.keySet
            let record = try await Self.create(vault, renewing: .tls)
            let signingKey = Array(record[0..<32]), tlsPin = Array(record[32..<64]), apiPin = Array(record[64..<96])
            #expect(signingKey == old.signingKey.rawRepresentation)
            #expect(tlsPin != old.tlsPin)
            #expect(apiPin == old.apiTLSPin)
            // The binding signer is the (carried) signing key.
            #expect(old.signingKey.isValidSignature(Array(record[96...]), for: [1]))
            #expect(try await vault.candidate(Self.e1) == record)
            #expect(Self.pin(try await vault.tlsSigner(Self.e1)) == tlsPin)
            #expect(Self.pin(try await vault.tlsSigner(Self.e1, api: true)) == apiPin)

            // A second create returns the stored bytes without building.
            let again = try await vault.createCandidate(Self.e1, renewing: .all, carryingFrom: Self.e0) { _ in
                Issue.record("build was called for a name that has a candidate")
                return [0]
            }
            #expect(again == record)

            // Destroying e0 shreds its copies only; e1 (with its carried keys) still signs.
            try await vault.destroyKeys(Self.e0, reason: "stable checkpoint past e1's activation")
            #expect(try await !vault.holdsKeys(Self.e0))
            await #expect(throws: ClusterVaultError.clientKeyUnavailable(Self.e0)) { _ = try await vault.signWithSigningKey(Self.e0, [1]) }
            await #expect(throws: ClusterVaultError.clientKeyUnavailable(Self.e0)) { _ = try await vault.tlsSigner(Self.e0) }
            #expect(old.signingKey.isValidSignature(try await vault.signWithSigningKey(Self.e1, [2]), for: [2]))
            try await vault.destroyKeys(Self.e0, reason: "again")
            #expect(try await fixture.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.keys-destroyed")).count == 1)

            let reopened = KeystoreClientVault(keys: try await fixture.reopened().service)
            #expect(try await reopened.holdsKeys(Self.e1))
            #expect(try await !reopened.holdsKeys(Self.e0))
        }
    }

    @Test func renewingTheSigningKeyKeepsItsScheme() async throws {
        try await Self.withClient(scheme: .ecdsaP256SHA256) { _, vault, result, _ async throws in
            let record = try await vault.createCandidate(Self.e1, renewing: .all, carryingFrom: Self.e0) { keys in
                #expect(keys.signingKey.scheme == .ecdsaP256SHA256)
                #expect(keys.signingKey != result.descriptor.keySet.signingKey)
                #expect(keys.tlsPin != result.descriptor.keySet.tlsPin && keys.apiTLSPin != result.descriptor.keySet.apiTLSPin)
                return keys.signingKey.rawRepresentation
            }
            let key = try ClientSigningKey(scheme: .ecdsaP256SHA256, rawRepresentation: record)
            #expect(key.isValidSignature(try await vault.signWithSigningKey(Self.e1, [5]), for: [5]))
        }
    }

    struct BuildFailed: Error {}

    @Test func aCandidateThatCannotBeMadeStoresNothing() async throws {
        try await Self.withClient { fixture, vault, _, _ async throws in
            await #expect(throws: BuildFailed.self) {
                _ = try await vault.createCandidate(Self.e1, renewing: .all, carryingFrom: Self.e0) { _ in throw BuildFailed() }
            }
            await #expect(throws: KeystoreError.self) { _ = try await vault.createCandidate(Self.e1, renewing: .all, carryingFrom: nil) { _ in [1] } }
            await #expect(throws: KeystoreError.self) {
                _ = try await vault.createCandidate(Self.e1, renewing: ClientKeyKinds(rawValue: 0), carryingFrom: Self.e0) { _ in [1] }
            }
            await #expect(throws: KeystoreError.self) {
                _ = try await vault.createCandidate(Self.e1, renewing: .all, carryingFrom: ClientKeyName(client: ClientID(4), epoch: 0)) { _ in [1] }
            }
            #expect(try await vault.candidate(Self.e1) == nil)
            #expect(try await !vault.holdsKeys(Self.e1))
            #expect(try await fixture.service.store.key(tenantID: "cluster", alias: "client-3/e1/signing") == nil)
        }
    }

    @Test func theLogAndStableCheckpointsAreKept() async throws {
        try await Self.withClient { fixture, vault, _, _ async throws in
            let entry = { (index: UInt64) in StoredLogEntry(index: index, sequence: index + 4, bytes: [UInt8(index)], head: [UInt8](repeating: 1, count: 32)) }
            try await vault.appendLogEntry(entry(0))
            try await vault.appendLogEntry(entry(1))
            await #expect(throws: ClusterVaultError.logIndexOutOfOrder(expected: 2, actual: 4)) { try await vault.appendLogEntry(entry(4)) }
            try await vault.saveStableCheckpoint(boundary: 8, certificate: [8])
            let reopened = KeystoreClientVault(keys: try await fixture.reopened().service)
            #expect(try await reopened.logEntries(after: 1, limit: 10) == [entry(1)])
            #expect(try await reopened.latestStableCheckpoint()?.boundary == 8)
        }
    }
}
