import CustosCluster
import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// The operator's side of commands (docs/cluster.md, "Operating"): the state genesis keeps,
/// signing and numbering, refusals that change nothing, the operator key's rotation and
/// promotion, and replace-replica bundles joined as a new generation.
@Suite("Operator commands")
struct OperatorCommandsTests {
    static func withOperator(replicas: Int = 4, _ body: (Fixture, GenesisResult) async throws -> Void) async throws {
        let fixture = try await Fixture.make(tenant: nil)
        do {
            let genesis = try await KeystoreClientVaultTests.genesis(fixture, replicas: replicas)
            try await body(fixture, genesis)
        } catch {
            await fixture.cleanUp()
            throw error
        }
        await fixture.cleanUp()
    }

    static func sign(_ fixture: Fixture, _ request: OperatorCommandRequest, number: UInt64? = nil, validity: UInt64 = 3600) async throws -> OperatorCommand {
        try await fixture.service.signClusterCommand(request, number: number, validity: validity, by: .local).command
    }

    static let rotateAll = OperatorCommandRequest.rotateReplicaKeys(targets: nil, kinds: .all)

    @Test func genesisKeepsTheConfigurationAndWritesItForClients() async throws {
        try await Self.withOperator { fixture, genesis async throws in
            let (state, configuration) = try await fixture.service.clusterOperatorState()
            #expect(configuration.signedBytes == genesis.configuration.signedBytes)
            #expect(state.nextCommand == 1 && state.keyAlias == "cluster-operator" && state.pendingKeyAlias == nil)
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: genesis.configurationPath))) == genesis.configuration.signedBytes)
            #expect(genesis.configurationPath.hasSuffix("/configuration.cbor"))
        }
    }

    @Test func commandsAreNumberedSignedByTheOperatorKeyAndAudited() async throws {
        try await Self.withOperator { fixture, genesis async throws in
            let operatorKey = genesis.configuration.operatorKey
            let first = try await Self.sign(fixture, Self.rotateAll)
            let second = try await Self.sign(fixture, .rotateClientKeys(targets: [ClientID(0), ClientID(2)], kinds: [.signing, .apiTLS]), validity: 7 * 86400)
            let jumped = try await Self.sign(fixture, .removeClient(ClientID(1)), number: 10)
            let reissued = try await Self.sign(fixture, .rotateReplicaKeys(targets: [ReplicaID(2)], kinds: .tls), number: 5)
            #expect([first, second, jumped, reissued].map(\.number) == [1, 2, 10, 5])
            #expect(try await fixture.service.clusterOperatorState().0.nextCommand == 11)
            for command in [first, second, jumped, reissued] {
                try command.verify(operatorKey: operatorKey)
                #expect(command.clusterID == genesis.configuration.clusterID)
                #expect(try OperatorCommand(bytes: command.bytes) == command)
            }
            #expect(second.action == .rotateClientKeys(targets: [ClientID(0), ClientID(2)], kinds: [.signing, .apiTLS]))
            let now = UInt64(Date().timeIntervalSince1970)
            #expect((now + 3590...now + 3610).contains(first.expiresAt))
            #expect((now + 7 * 86400 - 10...now + 7 * 86400 + 10).contains(second.expiresAt))
            try first.checkExpiry(now: now)

            let audit = try await fixture.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.command-sign"))
            #expect(audit.count == 4)
            #expect(audit.first?.detailValues["digest"] == Hex.encode(first.digest))
            #expect(audit.first?.detailValues["targets"] == "all kinds consensus,main,tls")
            #expect(try await fixture.service.signedOperatorCommands(clusterID: genesis.configuration.clusterID).map(\.number) == [1, 2, 10, 5])
            #expect(try await fixture.service.operatorKeyThatSigned(first) == "the configuration's operator key")
        }
    }

    @Test func refusedRequestsUseNoNumberAndRecordNothing() async throws {
        try await Self.withOperator { fixture, _ async throws in
            let refusals: [(OperatorCommandRequest, UInt64?, UInt64)] = [
                (Self.rotateAll, nil, 0),                                                               // no validity
                (Self.rotateAll, nil, OperatorCommand.maximumValidity + 1),                              // beyond 31 days
                (Self.rotateAll, 0, 3600),                                                              // number 0
                (.rotateReplicaKeys(targets: [ReplicaID(4)], kinds: .all), nil, 3600),                  // N = 4
                (.rotateReplicaKeys(targets: [ReplicaID(2), ReplicaID(1)], kinds: .all), nil, 3600),    // not ascending
                (.rotateReplicaKeys(targets: [], kinds: .all), nil, 3600),                              // empty
                (.rotateClientKeys(targets: [ClientID(1), ClientID(1)], kinds: .all), nil, 3600),       // twice
                (.rotateOperatorKey(scheme: .ecdsaP256SHA256), nil, 3600),                              // not an operator scheme
            ]
            for (request, number, validity) in refusals {
                await #expect(throws: KeystoreError.self) { _ = try await Self.sign(fixture, request, number: number, validity: validity) }
            }
            #expect(try await fixture.service.clusterOperatorState().0.nextCommand == 1)
            let audit = try await fixture.service.store.auditRecords(AuditQuery(limit: 20, operation: "cluster.command-sign"))
            #expect(audit.count == refusals.count && audit.allSatisfy { $0.outcome == "failure" })

            // A directory that ran no genesis signs nothing.
            let stranger = try await Fixture.make(tenant: nil)
            defer { Task { await stranger.cleanUp() } }
            await #expect(throws: KeystoreError.self) { _ = try await Self.sign(stranger, Self.rotateAll) }
        }
    }

    @Test func aClientDescriptorOfAnotherClusterIsRefused() async throws {
        try await KeystoreClientVaultTests.withClient { _, _, result, _ async throws in
            // Another operator's cluster: the client's descriptor binds the first cluster's id.
            try await Self.withOperator { fixture, _ async throws in
                await #expect(throws: KeystoreError.self) { _ = try await Self.sign(fixture, .addClient(result.descriptor)) }
            }
        }
    }

    @Test func aClientIsAddedWithItsDescriptor() async throws {
        let operatorDirectory = try await Fixture.make(tenant: nil)
        let clientDirectory = try await Fixture.make(tenant: nil)
        defer { Task { for fixture in [operatorDirectory, clientDirectory] { await fixture.cleanUp() } } }
        let genesis = try await KeystoreClientVaultTests.genesis(operatorDirectory)
        let result = try await clientDirectory.service.clusterClientInit(client: ClientID(7), configuration: genesis.configuration.signedBytes,
                                                                         genesisHash: genesis.configuration.genesisHash, by: .local)
        let command = try await Self.sign(operatorDirectory, .addClient(result.descriptor))
        guard case .addClient(let descriptor) = command.action else { Issue.record("not add-client"); return }
        #expect(descriptor == result.descriptor)
        try descriptor.verify(cluster: genesis.configuration.clusterID)
    }

    @Test func theOperatorKeyRotatesThroughAPendingKeyAndPromotion() async throws {
        try await Self.withOperator { fixture, genesis async throws in
            let cluster = genesis.configuration.clusterID
            let command = try await Self.sign(fixture, .rotateOperatorKey(scheme: .ecdsaP384SHA384))
            guard case .rotateOperatorKey(let newKey, let proof) = command.action else { Issue.record("not rotate-operator-key"); return }
            #expect(newKey.scheme == .ecdsaP384SHA384)
            #expect(newKey.isValidSignature(proof, for: OperatorCommand.operatorKeyBindingMessage(cluster: cluster, number: command.number, key: newKey)))
            try command.verify(operatorKey: genesis.configuration.operatorKey)
            let (pending, _) = try await fixture.service.clusterOperatorState()
            #expect(pending.pendingCommand == command.number && pending.pendingKeyAlias == "cluster-operator/\(Hex.encode(cluster))/c1")

            // While a key is pending, a second rotation is refused; other commands still use the old key.
            await #expect(throws: KeystoreError.self) { _ = try await Self.sign(fixture, .rotateOperatorKey(scheme: .ed25519)) }
            try await Self.sign(fixture, Self.rotateAll).verify(operatorKey: genesis.configuration.operatorKey)

            let promoted = try await fixture.service.promoteOperatorKey(by: .local)
            #expect(promoted.keyAlias == pending.pendingKeyAlias && promoted.pendingKeyAlias == nil)
            let old = try await fixture.service.key(tenant: ClusterKeys.tenant, alias: ClusterKeys.operatorAlias, by: .local)
            #expect(old.status == .destroyed)
            let after = try await Self.sign(fixture, Self.rotateAll)
            try after.verify(operatorKey: newKey)
            #expect(throws: (any Error).self) { try after.verify(operatorKey: genesis.configuration.operatorKey) }
            #expect(try await fixture.service.operatorKeyThatSigned(after) == "the current operator key")
            #expect(try await fixture.service.store.auditRecords(AuditQuery(limit: 10, operation: "cluster.operator-promote")).count == 1)
            await #expect(throws: KeystoreError.self) { _ = try await fixture.service.promoteOperatorKey(by: .local) }
        }
    }

    @Test func aDiscardedPendingKeyIsDestroyedAndTheOldKeyStillSigns() async throws {
        try await Self.withOperator { fixture, genesis async throws in
            _ = try await Self.sign(fixture, .rotateOperatorKey(scheme: .ed25519))
            let pending = try #require(try await fixture.service.clusterOperatorState().0.pendingKeyAlias)
            let cleared = try await fixture.service.discardPendingOperatorKey(by: .local)
            #expect(cleared.pendingKeyAlias == nil && cleared.keyAlias == "cluster-operator")
            #expect(try await fixture.service.key(tenant: ClusterKeys.tenant, alias: KeyAlias(validating: pending), by: .local).status == .destroyed)
            try await Self.sign(fixture, Self.rotateAll).verify(operatorKey: genesis.configuration.operatorKey)
            await #expect(throws: KeystoreError.self) { _ = try await fixture.service.discardPendingOperatorKey(by: .local) }
        }
    }

    @Test func aReplacementBundleJoinsAsTheNextGeneration() async throws {
        try await Self.withOperator { fixture, genesis async throws in
            let path = fixture.directory + "/replica-2.g1.bundle.json"
            let recipient = ReplacementRecipient.passphrase(ClusterGenesisTests.passphrase, ClusterGenesisTests.cheap)
            let signed = try await fixture.service.signClusterCommand(
                .replaceReplica(ReplicaID(2), address: "127.0.0.1:9999", generation: nil, recipient: recipient, bundlePath: path), by: .local)
            #expect(signed.generation == 1 && signed.bundlePath == path)
            guard case .replaceReplica(let descriptor) = signed.command.action else { Issue.record("not replace-replica"); return }
            #expect(descriptor.id == ReplicaID(2) && descriptor.address == "127.0.0.1:9999")
            #expect(descriptor.tlsPin != genesis.configuration.replica(ReplicaID(2))?.tlsPin)
            // The operator keeps no copy of the new private keys.
            let aliases = try await fixture.service.listKeys(tenant: ClusterKeys.tenant, by: .local).keys
            #expect(aliases.filter { $0.status != .destroyed }.map(\.alias.rawValue) == ["cluster-operator"])

            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            let bundle = try ClusterBundle(parsing: bytes)
            #expect(bundle.generation == 1 && bundle.command == signed.command)

            let machine = try await Fixture.make(tenant: nil)
            defer { Task { await machine.cleanUp() } }
            // The generation in the file is bound to the sealed keys: changed, they do not open.
            let moved = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\"generation\" : 1", with: "\"generation\" : 2").utf8)
            #expect(moved != bytes)
            await #expect(throws: KeystoreError.self) {
                _ = try await machine.service.clusterJoin(bundle: moved, passphrase: ClusterGenesisTests.passphrase, by: .local)
            }
            #expect(try await machine.service.store.clusterMembership() == nil)

            let joined = try await machine.service.clusterJoin(bundle: bytes, passphrase: ClusterGenesisTests.passphrase,
                                                               expectedGenesisHash: genesis.configuration.genesisHash, by: .local)
            #expect(joined.replica == ReplicaID(2) && joined.generation == 1)
            let membership = try #require(try await machine.service.store.clusterMembership())
            #expect(membership.generation == 1 && membership.replica == 2)
            let vault = KeystoreReplicaVault(keys: machine.service)
            let name = KeyName(replica: ReplicaID(2), generation: 1, epoch: 0)
            #expect(try await vault.holdsKeys(name))
            let main = try SigningPublicKey(rawRepresentation: descriptor.mainKey, scheme: .ed25519)
            #expect(try main.isValidSignature(try await vault.signMain(name, [1]), for: [1]))

            // The next replacement of replica 2 is generation 2, at the address given last.
            let next = try await fixture.service.signClusterCommand(
                .replaceReplica(ReplicaID(2), address: nil, generation: nil, recipient: recipient, bundlePath: path + ".2"), by: .local)
            #expect(next.generation == 2)
            guard case .replaceReplica(let nextDescriptor) = next.command.action else { Issue.record("not replace-replica"); return }
            #expect(nextDescriptor.address == "127.0.0.1:9999")
        }
    }

    @Test func aReplacementCommandNotSignedByTheOperatorKeyIsRefused() async throws {
        try await Self.withOperator { fixture, genesis async throws in
            let path = fixture.directory + "/replica-1.g1.bundle.json"
            let recipient = ReplacementRecipient.passphrase(ClusterGenesisTests.passphrase, ClusterGenesisTests.cheap)
            _ = try await fixture.service.signClusterCommand(.replaceReplica(ReplicaID(1), address: nil, generation: nil, recipient: recipient, bundlePath: path),
                                                             by: .local)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            let machine = try await Fixture.make(tenant: nil)
            defer { Task { await machine.cleanUp() } }
            // Given the wrong current operator key, the command does not verify.
            let stranger = try OperatorKey(scheme: .ed25519, rawRepresentation: try SigningPrivateKey(generating: .ed25519).publicKey.rawRepresentation!)
            await #expect(throws: KeystoreError.self) {
                _ = try await machine.service.clusterJoin(bundle: bytes, passphrase: ClusterGenesisTests.passphrase, operatorKey: stranger, by: .local)
            }
            #expect(try await machine.service.store.clusterMembership() == nil)
            // An existing bundle path is refused before anything is signed.
            await #expect(throws: KeystoreError.self) {
                _ = try await fixture.service.signClusterCommand(.replaceReplica(ReplicaID(1), address: nil, generation: nil, recipient: recipient,
                                                                                 bundlePath: path), by: .local)
            }
            #expect(try await fixture.service.clusterOperatorState().0.nextCommand == 2)
            _ = genesis
        }
    }
}
