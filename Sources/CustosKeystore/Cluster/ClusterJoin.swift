import CustosCluster
import CustosCrypto
import CustosStore
import Foundation

public struct JoinResult: Sendable {
    public let configuration: ClusterConfiguration
    public let replica: ReplicaID
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
    public func clusterJoin(bundle bytes: [UInt8], passphrase: SecretBytes?, by principal: Principal) async throws -> JoinResult {
        try await audited(.clusterJoin, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageTenants, tenant: nil)
            let bundle = try ClusterBundle(parsing: bytes)
            if let member = try await store.clusterMembership() {
                throw KeystoreError.invalidArgument("this data directory has already joined cluster \(Hex.encode(member.clusterID)) as replica \(member.replica)")
            }
            let keys = try await bundle.open(enrolmentKey: { try await self.enrolmentPrivateKey() }, passphrase: passphrase)
            guard let descriptor = bundle.configuration.replica(bundle.replica), keys.matches(descriptor) else {
                throw KeystoreError.invalidArgument("the bundle's keys are not the configuration's bootstrap keys of replica \(bundle.replica.rawValue)")
            }
            let name = KeyName.bootstrap(bundle.replica)
            let rows = try await clusterKeyRows(name, keys: keys.keys)
            let keySet = ClusterKeySetRecord(name: ClusterKeys.ref(name), record: nil, consensusKeyID: rows[0].0.id, mainKeyID: rows[1].0.id,
                                             tlsKeyID: rows[2].0.id, createdAt: clock())
            let configuration = bundle.configuration
            let membership = ClusterMembershipRecord(clusterID: configuration.clusterID, replica: bundle.replica.index,
                                                     configuration: configuration.signedBytes, joinedAt: clock())
            let audit = clusterKeyEvents(rows, operation: .import, name: name) + [
                event(.clusterJoin, by: principal, tenant: ClusterKeys.tenant, details: [
                    "cluster_id": Hex.encode(configuration.clusterID), "genesis_hash": Hex.encode(configuration.genesisHash),
                    "replica": String(bundle.replica.rawValue), "replicas": String(configuration.n), "protection": bundle.sealed.protection,
                ]),
            ]
            try await store.joinCluster(membership, keys: rows, keySet: keySet, audit: audit)
            logger.info("joined cluster", metadata: ["cluster": "\(Hex.encode(configuration.clusterID))", "replica": "\(bundle.replica.rawValue)"])
            return JoinResult(configuration: configuration, replica: bundle.replica)
        }
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
