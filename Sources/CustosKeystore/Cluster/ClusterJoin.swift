import CustosCluster
import CustosCrypto
import CustosStore
import Foundation

public struct JoinResult: Sendable {
    public let configuration: ClusterConfiguration
    public let replica: ReplicaID
    public let generation: UInt64
}

extension KeyService {
    /// `custos cluster enrol`: this data directory's X25519 enrolment key (alias
    /// `cluster-enrolment`), created on first use; its public key goes to the operator.
    public func clusterEnrol(by principal: Principal) async throws -> KeyAgreementPublicKey {
        try await audited(.clusterEnrol, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageKeys, tenant: ClusterKeys.tenant)
            try await ensureClusterTenant()
            let created = try await store.key(tenantID: ClusterKeys.tenant.rawValue, alias: ClusterKeys.enrolmentAlias.rawValue) == nil
            if created {
                _ = try await generateKey(KeySpec(tenant: ClusterKeys.tenant, alias: ClusterKeys.enrolmentAlias, algorithm: .keyAgreement(.x25519),
                                                  category: .encryption), by: principal)
            }
            guard case .keyAgreement(let key) = try await publicKey(tenant: ClusterKeys.tenant, alias: ClusterKeys.enrolmentAlias, by: principal),
                  key.algorithm == .x25519 else {
                throw KeystoreError.wrongKeyKind(alias: ClusterKeys.enrolmentAlias.rawValue, algorithm: "other", operation: "receive a cluster bundle (x25519)")
            }
            try await recordSuccess(event(.clusterEnrol, by: principal, tenant: ClusterKeys.tenant,
                                          details: ["public_key": Hex.encode(key.rawRepresentation), "created": String(created)]))
            return key
        }
    }

    /// `custos cluster join`: verifies the bundle's configuration (operator signature and
    /// rules), opens the sealed keys (for this replica and cluster only), checks that they are
    /// the configuration's bootstrap keys of the replica, and imports them wrapped, with the
    /// membership, in one transaction. A refused bundle changes nothing.
    /// `expectedGenesisHash`, given out of band by the operator (genesis prints it), pins the
    /// cluster: a bundle signed by anyone else's operator key — sealed to this directory's public
    /// enrolment key, which anyone can do — is refused instead of joined.
    /// A replacement bundle (generation g ≥ 1) is joined as (r, g, 0): its replace-replica
    /// command must be signed by the configuration's operator key, or by `operatorKey` (the
    /// operator's current key, given out of band, after a rotate-operator-key), and name exactly
    /// the bundle's keys. The replica then catches up on the key log from its peers.
    public func clusterJoin(bundle bytes: [UInt8], passphrase: SecretBytes?, expectedGenesisHash: [UInt8]? = nil, operatorKey: OperatorKey? = nil,
                            by principal: Principal) async throws -> JoinResult {
        try await audited(.clusterJoin, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageTenants, tenant: nil)
            let bundle = try ClusterBundle(parsing: bytes)
            if let expectedGenesisHash, expectedGenesisHash != bundle.configuration.genesisHash {
                throw KeystoreError.invalidArgument(
                    "the bundle's genesis hash \(Hex.encode(bundle.configuration.genesisHash)) is not the expected \(Hex.encode(expectedGenesisHash)): it comes from another genesis")
            }
            if let member = try await store.clusterMembership() {
                throw KeystoreError.invalidArgument("this data directory has already joined cluster \(Hex.encode(member.clusterID)) as replica \(member.replica)")
            }
            let replacement = try Self.replacement(in: bundle, operatorKey: operatorKey)
            let keys = try await bundle.open(enrolmentKey: { try await self.enrolmentPrivateKey() }, passphrase: passphrase)
            if let (_, descriptor) = replacement {
                guard keys.matches(descriptor) else {
                    throw KeystoreError.invalidArgument("the bundle's keys are not the keys its replace-replica command names")
                }
            } else {
                guard let descriptor = bundle.configuration.replica(bundle.replica), keys.matches(descriptor) else {
                    throw KeystoreError.invalidArgument("the bundle's keys are not the configuration's bootstrap keys of replica \(bundle.replica.rawValue)")
                }
            }
            let name = KeyName(replica: bundle.replica, generation: bundle.generation, epoch: 0)
            let rows = try await clusterKeyRows(name, keys: keys.keys)
            let keySet = ClusterKeySetRecord(name: ClusterKeys.ref(name), record: nil, consensusKeyID: rows[0].0.id, mainKeyID: rows[1].0.id,
                                             tlsKeyID: rows[2].0.id, createdAt: clock())
            let configuration = bundle.configuration
            let membership = ClusterMembershipRecord(clusterID: configuration.clusterID, replica: bundle.replica.index,
                                                     configuration: configuration.signedBytes, joinedAt: clock(), generation: bundle.generation)
            var details = [
                "cluster_id": Hex.encode(configuration.clusterID), "genesis_hash": Hex.encode(configuration.genesisHash),
                "replica": String(bundle.replica.rawValue), "replicas": String(configuration.n), "protection": bundle.sealed.protection,
            ]
            if let (command, _) = replacement {
                details["generation"] = String(bundle.generation)
                details["command"] = String(command.number)
            }
            let audit = clusterKeyEvents(rows, operation: .import, name: name) + [
                event(.clusterJoin, by: principal, tenant: ClusterKeys.tenant, details: details),
            ]
            try await store.joinCluster(membership, keys: rows, keySet: keySet, audit: audit)
            logger.info("joined cluster", metadata: ["cluster": "\(Hex.encode(configuration.clusterID))", "replica": "\(bundle.replica.rawValue)"])
            return JoinResult(configuration: configuration, replica: bundle.replica, generation: bundle.generation)
        }
    }

    /// The replace-replica command of a replacement bundle and the keys it names, checked:
    /// this cluster, this replica, signed by the operator key. Nil for a genesis bundle.
    static func replacement(in bundle: ClusterBundle, operatorKey: OperatorKey?) throws -> (OperatorCommand, ReplicaDescriptor)? {
        guard bundle.generation > 0 else { return nil }
        guard let command = bundle.command, command.clusterID == bundle.configuration.clusterID else {
            throw KeystoreError.invalidArgument("the bundle's command is for another cluster")
        }
        guard case .replaceReplica(let descriptor) = command.action, descriptor.id == bundle.replica else {
            throw KeystoreError.invalidArgument("the bundle's command is not replace-replica for replica \(bundle.replica.rawValue)")
        }
        do {
            try command.verify(operatorKey: operatorKey ?? bundle.configuration.operatorKey)
        } catch {
            throw KeystoreError.invalidArgument(operatorKey == nil
                ? "the bundle's command is not signed by the configuration's operator key (after a rotate-operator-key, give the current one with --operator-key)"
                : "the bundle's command is not signed by the given operator key")
        }
        return (command, descriptor)
    }

    private func enrolmentPrivateKey() async throws -> KeyAgreementPrivateKey {
        do {
            return try await usableKey(tenant: ClusterKeys.tenant, alias: ClusterKeys.enrolmentAlias, as: { key -> KeyAgreementPrivateKey? in
                if case .keyAgreement(let agreement) = key { agreement } else { nil }
            }, toDo: "open a cluster bundle").2
        } catch KeystoreError.keyNotFound, KeystoreError.store(.tenantNotFound) {
            throw KeystoreError.invalidArgument("this bundle is sealed to an enrolment key, and this data directory has none: run `custos cluster enrol` here first")
        }
    }
}
