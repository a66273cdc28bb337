import BLS12381
import CustosCluster
import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// Enrolment, genesis, bundles and join (docs/cluster.md, "Configuration and genesis", "Bundles").
@Suite("Cluster genesis and join")
struct ClusterGenesisTests {
    static let passphrase = SecretBytes(utf8: "bundle passphrase 1")
    static let cheap = PassphraseRoot.Cost(logN: 10)

    /// An operator and four replica data directories; replicas 0 and 1 enrol, 2 and 3 get
    /// passphrase bundles.
    static func withNetwork(_ body: (Fixture, [Fixture], GenesisResult) async throws -> Void) async throws {
        let operatorDirectory = try await Fixture.make(tenant: nil)
        var replicas: [Fixture] = []
        do {
            for _ in 0..<4 { replicas.append(try await Fixture.make(tenant: nil)) }
            var named: [GenesisReplica] = []
            for (index, replica) in replicas.enumerated() {
                let key = index < 2 ? try await replica.service.clusterEnrol(by: .local) : nil
                named.append(GenesisReplica(address: "127.0.0.1:\(9440 + index)", enrolmentKey: key))
            }
            let out = operatorDirectory.directory + "/bundles"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
            let result = try await operatorDirectory.service.clusterGenesis(replicas: named, checkpointInterval: 8, outputDirectory: out,
                                                                            passphrase: passphrase, passphraseCost: cheap, by: .local)
            try await body(operatorDirectory, replicas, result)
        } catch {
            for fixture in [operatorDirectory] + replicas { await fixture.cleanUp() }
            throw error
        }
        for fixture in [operatorDirectory] + replicas { await fixture.cleanUp() }
    }

    static func bundle(_ result: GenesisResult, _ replica: Int) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: result.bundlePaths[replica])))
    }

    @Test func enrolmentKeyIsMadeOnceAndReused() async throws {
        let fixture = try await Fixture.make(tenant: nil)
        defer { Task { await fixture.cleanUp() } }
        let first = try await fixture.service.clusterEnrol(by: .local)
        let second = try await fixture.service.clusterEnrol(by: .local)
        #expect(first == second)
        #expect(first.algorithm == .x25519)
        #expect(try await fixture.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.enrol")).count == 2)
    }

    @Test func genesisSignsTheConfigurationWritesBundlesAndDestroysTheOperatorsCopies() async throws {
        try await Self.withNetwork { operatorDirectory, _, result in
            let configuration = result.configuration
            #expect(configuration.n == 4 && configuration.quorum == 3 && configuration.checkpointInterval == 8)
            #expect(configuration.replicas.map(\.address) == (0..<4).map { "127.0.0.1:\(9440 + $0)" })
            #expect(configuration.operatorKey.scheme == .ed25519)

            let keys = try await operatorDirectory.service.listKeys(tenant: ClusterKeys.tenant, by: .local).keys
            let genesisKeys = keys.filter { $0.alias.rawValue.hasPrefix("genesis/") }
            #expect(genesisKeys.count == 12)
            #expect(genesisKeys.allSatisfy { $0.status == .destroyed })
            #expect(keys.contains { $0.alias == ClusterKeys.operatorAlias && $0.status == .enabled })
            let audit = try await operatorDirectory.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.genesis"))
            #expect(audit.count == 1)
            #expect(audit.first?.detailValues["genesis_hash"] == Hex.encode(configuration.genesisHash))

            let protections = try (0..<4).map { try ClusterBundle(parsing: Self.bundle(result, $0)).sealed.protection }
            #expect(protections == ["hpke-x25519", "hpke-x25519", "passphrase-scrypt", "passphrase-scrypt"])
        }
    }

    @Test func eachReplicaJoinsWithItsOwnBundleAndSignsWithItsBootstrapKeys() async throws {
        try await Self.withNetwork { _, replicas, result in
            for (index, replica) in replicas.enumerated() {
                let joined = try await replica.service.clusterJoin(bundle: try Self.bundle(result, index),
                                                                   passphrase: index < 2 ? nil : Self.passphrase, by: .local)
                #expect(joined.replica == ReplicaID(index))
                #expect(joined.configuration == result.configuration)
                let membership = try await replica.service.store.clusterMembership()
                #expect(membership?.replica == index)
                #expect(membership?.configuration == result.configuration.signedBytes)

                let vault = KeystoreReplicaVault(keys: replica.service)
                let name = KeyName.bootstrap(ReplicaID(index))
                #expect(try await vault.holdsKeys(name))
                let descriptor = result.configuration.replicas[index]
                let message = Array("bootstrap".utf8)
                let main = try SigningPublicKey(rawRepresentation: descriptor.mainKey, scheme: .ed25519)
                #expect(try main.isValidSignature(try await vault.signMain(name, message), for: message))
                let share = try await vault.signConsensus(name, message, domain: SignatureTag.consensusShareDST)
                #expect(descriptor.consensusKey.isValidSignature(share, for: message, domain: SignatureTag.consensusShareDST))
                #expect(try await replica.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.join")).count == 1)
            }
        }
    }

    /// Every refused join leaves the data directory as it was (the snapshot covers keys,
    /// versions and wrapping keys) and no membership.
    static func expectRefused(_ replica: Fixture, bundle: [UInt8], passphrase: SecretBytes?, _ reason: String) async throws {
        let before = try await replica.snapshot()
        do {
            _ = try await replica.service.clusterJoin(bundle: bundle, passphrase: passphrase, by: .local)
            Issue.record("a join was accepted: \(reason)")
        } catch let error as KeystoreError {
            #expect(error.description.contains(reason), "\(error.description)")
        }
        #expect(try await replica.snapshot() == before)
        #expect(try await replica.service.store.clusterMembership() == nil)
        let failures = try await replica.service.store.auditRecords(AuditQuery(limit: 100, operation: "cluster.join")).filter { $0.outcome == "failure" }
        #expect(!failures.isEmpty)
    }

    @Test func aBundleForAnotherReplicaIsRefusedAndImportsNothing() async throws {
        try await Self.withNetwork { _, replicas, result in
            // Replica 1's bundle on replica 0's directory: sealed to another enrolment key.
            try await Self.expectRefused(replicas[0], bundle: try Self.bundle(result, 1), passphrase: nil, "another data directory's enrolment key")
            // An enrolment-sealed bundle on a directory that never enrolled.
            try await Self.expectRefused(replicas[2], bundle: try Self.bundle(result, 0), passphrase: nil, "run `custos cluster enrol` here first")
            // Replica 3's passphrase bundle relabelled as replica 2's: the associated data differs.
            let relabelled = String(decoding: try Self.bundle(result, 3), as: UTF8.self).replacingOccurrences(of: "\"replica\" : 3", with: "\"replica\" : 2")
            #expect(relabelled.contains("\"replica\" : 2"))
            try await Self.expectRefused(replicas[2], bundle: Array(relabelled.utf8), passphrase: Self.passphrase, "for another replica")
        }
    }

    @Test func anAlteredBundleIsRefusedAndImportsNothing() async throws {
        try await Self.withNetwork { _, replicas, result in
            let original = try Self.bundle(result, 2)
            // One bit of the configuration flipped: its operator signature (or a rule) fails.
            var file = try JSONSerialization.jsonObject(with: Data(original)) as! [String: Any]
            var configuration = Array(Data(base64Encoded: file["configuration"] as! String)!)
            configuration[configuration.count / 2] ^= 0x01
            file["configuration"] = Data(configuration).base64EncodedString()
            try await Self.expectRefused(replicas[2], bundle: Array(try JSONSerialization.data(withJSONObject: file)), passphrase: Self.passphrase,
                                         "configuration is refused")
            // One bit of the sealed keys flipped: authentication fails.
            file = try JSONSerialization.jsonObject(with: Data(original)) as! [String: Any]
            var keys = file["keys"] as! [String: Any]
            var sealed = Array(Data(base64Encoded: keys["ciphertext"] as! String)!)
            sealed[20] ^= 0x80
            keys["ciphertext"] = Data(sealed).base64EncodedString()
            file["keys"] = keys
            try await Self.expectRefused(replicas[2], bundle: Array(try JSONSerialization.data(withJSONObject: file)), passphrase: Self.passphrase,
                                         "do not open")
            try await Self.expectRefused(replicas[2], bundle: Array("{\"format\":\"other\"}".utf8), passphrase: Self.passphrase, "bundle")
        }
    }

    @Test func aWrongOrMissingPassphraseIsRefused() async throws {
        try await Self.withNetwork { _, replicas, result in
            try await Self.expectRefused(replicas[3], bundle: try Self.bundle(result, 3), passphrase: SecretBytes(utf8: "not the passphrase"),
                                         "the passphrase is wrong")
            try await Self.expectRefused(replicas[3], bundle: try Self.bundle(result, 3), passphrase: nil, "sealed under a passphrase")
        }
    }

    @Test func aSecondJoinIsRefused() async throws {
        try await Self.withNetwork { _, replicas, result in
            _ = try await replicas[2].service.clusterJoin(bundle: try Self.bundle(result, 2), passphrase: Self.passphrase, by: .local)
            let before = try await replicas[2].snapshot()
            await #expect(throws: KeystoreError.self) {
                _ = try await replicas[2].service.clusterJoin(bundle: try Self.bundle(result, 2), passphrase: Self.passphrase, by: .local)
            }
            #expect(try await replicas[2].snapshot() == before)
        }
    }

    @Test func aP384OperatorKeySignsAConfigurationThatJoins() async throws {
        let operatorDirectory = try await Fixture.make(tenant: nil)
        let replica = try await Fixture.make(tenant: nil)
        defer { Task { await operatorDirectory.cleanUp(); await replica.cleanUp() } }
        let out = operatorDirectory.directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let enrolment = try await replica.service.clusterEnrol(by: .local)
        let result = try await operatorDirectory.service.clusterGenesis(
            replicas: [GenesisReplica(address: "[::1]:9443", enrolmentKey: enrolment)], checkpointInterval: 2, outputDirectory: out,
            passphrase: nil, operatorScheme: .ecdsaP384SHA384, by: .local)
        #expect(result.configuration.operatorKey.scheme == .ecdsaP384SHA384)
        #expect(result.configuration.operatorSignature.count == 96)
        let joined = try await replica.service.clusterJoin(bundle: try Self.bundle(result, 0), passphrase: nil, by: .local)
        #expect(joined.replica == ReplicaID(0) && joined.configuration.n == 1)
    }

    @Test func aBundleThatCannotBeSealedLeavesNoBundlesAndNoKeys() async throws {
        let fixture = try await Fixture.make(tenant: nil)
        defer { Task { await fixture.cleanUp() } }
        let out = fixture.directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        // The all-zero X25519 point has low order: key agreement with it fails, after replica 0's bundle is written.
        let lowOrder = try KeyAgreementPublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32), algorithm: .x25519)
        let good = KeyAgreementPublicKey(generatingPublicOf: .x25519)
        let error = await #expect(throws: KeystoreError.self) {
            _ = try await fixture.service.clusterGenesis(
                replicas: [GenesisReplica(address: "127.0.0.1:9000", enrolmentKey: good), GenesisReplica(address: "127.0.0.1:9001", enrolmentKey: lowOrder)],
                checkpointInterval: 4, outputDirectory: out, passphrase: nil, by: .local)
        }
        #expect(error?.description.contains("replica 1's bundle cannot be sealed") == true, "\(String(describing: error))")
        #expect(error?.description.contains("low order") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
        let keys = try await fixture.service.store.listKeys(tenantID: "cluster", filter: KeyFilter(), page: PageRequest()).keys
        let genesisKeys = keys.filter { $0.alias.hasPrefix("genesis/") }
        #expect(genesisKeys.count == 6)
        #expect(genesisKeys.allSatisfy { $0.status == .destroyed })
    }

    @Test func genesisRefusesBadArgumentsBeforeWritingAnything() async throws {
        let fixture = try await Fixture.make(tenant: nil)
        defer { Task { await fixture.cleanUp() } }
        let out = fixture.directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let replica = GenesisReplica(address: "127.0.0.1:9000", enrolmentKey: nil)
        await #expect(throws: KeystoreError.self) {  // no enrolment key and no passphrase
            _ = try await fixture.service.clusterGenesis(replicas: [replica], checkpointInterval: 4, outputDirectory: out, passphrase: nil, by: .local)
        }
        await #expect(throws: KeystoreError.self) {  // W = 0
            _ = try await fixture.service.clusterGenesis(replicas: [replica], checkpointInterval: 0, outputDirectory: out,
                                                         passphrase: Self.passphrase, passphraseCost: Self.cheap, by: .local)
        }
        await #expect(throws: KeystoreError.self) {  // two replicas at one address
            _ = try await fixture.service.clusterGenesis(replicas: [replica, replica], checkpointInterval: 4, outputDirectory: out,
                                                         passphrase: Self.passphrase, passphraseCost: Self.cheap, by: .local)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
        let keys = try await fixture.service.store.listKeys(tenantID: "cluster", filter: KeyFilter(), page: PageRequest()).keys
        #expect(!keys.contains { $0.alias.hasPrefix("genesis/") })
    }
}

extension KeyAgreementPublicKey {
    init(generatingPublicOf algorithm: KeyAgreementAlgorithm) {
        self = KeyAgreementPrivateKey(generating: algorithm).publicKey
    }
}
