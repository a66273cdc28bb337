import CustosCluster
import CustosCrypto
import CustosStore
import Foundation

/// One replica as the operator names it at genesis: its address and, unless its bundle is
/// sealed under the passphrase, the enrolment key it printed.
public struct GenesisReplica: Sendable {
    public var address: String
    public var enrolmentKey: KeyAgreementPublicKey?

    public init(address: String, enrolmentKey: KeyAgreementPublicKey?) {
        self.address = address
        self.enrolmentKey = enrolmentKey
    }
}

public struct GenesisResult: Sendable {
    public let configuration: ClusterConfiguration
    /// One bundle per replica, in replica order.
    public let bundlePaths: [String]
    /// The public SignedConfiguration (`configuration.cbor`), for client nodes.
    public let configurationPath: String
}

extension KeyService {
    /// The bundle file of replica `r` in the output directory.
    public static func bundleFileName(_ replica: Int) -> String { "replica-\(replica).bundle.json" }
    /// The public SignedConfiguration genesis writes beside the bundles.
    public static let configurationFileName = "configuration.cbor"

    /// `custos cluster genesis` (docs/cluster.md, "Configuration and genesis"): creates or
    /// reuses the operator key, generates each replica's bootstrap key set into the keystore,
    /// signs the configuration, writes one sealed bundle per replica (atomically) and then
    /// destroys the operator's copies of the bootstrap private keys, all audited.
    public func clusterGenesis(replicas: [GenesisReplica], checkpointInterval: UInt64, outputDirectory: String, passphrase: SecretBytes?,
                               passphraseCost: PassphraseRoot.Cost = .standard, operatorScheme: SignatureScheme = .ed25519,
                               by principal: Principal) async throws -> GenesisResult {
        try await audited(.clusterGenesis, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageTenants, tenant: nil)
            guard (1...256).contains(replicas.count) else {
                throw KeystoreError.invalidArgument("a cluster has 1 to 256 replicas, not \(replicas.count)")
            }
            guard checkpointInterval >= 1 else { throw KeystoreError.invalidArgument("the checkpoint interval must be at least 1") }
            guard [.ed25519, .ecdsaP384SHA384].contains(operatorScheme) else {
                throw KeystoreError.invalidArgument("the operator key must be ed25519 or ecdsa-p384-sha384")
            }
            if let passphrase, passphrase.count < 8 { throw KeystoreError.invalidArgument("the bundle passphrase must be at least 8 bytes long") }
            let recipients = try replicas.enumerated().map { index, replica -> BundleRecipient in
                if let key = replica.enrolmentKey {
                    guard key.algorithm == .x25519 else { throw KeystoreError.invalidArgument("replica \(index)'s enrolment key is not X25519") }
                    return .enrolmentKey(key)
                }
                guard let passphrase else {
                    throw KeystoreError.invalidArgument("replica \(index) has no enrolment key and no passphrase file was given: its bundle cannot be sealed")
                }
                return .passphrase(passphrase, passphraseCost)
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: outputDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw KeystoreError.invalidArgument("the output directory \(outputDirectory) does not exist")
            }
            let paths = replicas.indices.map { outputDirectory + "/" + Self.bundleFileName($0) }
            let configurationPath = outputDirectory + "/" + Self.configurationFileName
            if let taken = (paths + [configurationPath]).first(where: { FileManager.default.fileExists(atPath: $0) }) {
                throw KeystoreError.invalidArgument("\(taken) exists already; genesis writes new bundles only")
            }

            let (operatorKey, operatorSigner) = try await operatorKey(scheme: operatorScheme, by: principal)
            let keySets = try replicas.indices.map { _ in try BootstrapKeySet.generate() }
            let body = ConfigurationBody(
                clusterID: SecretBytes(randomCount: 16).copyBytes(), checkpointInterval: checkpointInterval, operatorKey: operatorKey,
                replicas: try zip(replicas, keySets).enumerated().map { index, pair in try pair.1.descriptor(id: ReplicaID(index), address: pair.0.address) },
                createdAt: UInt64(max(0, clock().timeIntervalSince1970)))
            let configuration: ClusterConfiguration
            do {
                configuration = try await ClusterConfiguration.sign(body: body) { message in
                    try await operatorSigner.sign(message, format: operatorScheme == .ecdsaP384SHA384 ? .raw : nil).bytes
                }
            } catch let error as ClusterError {
                throw KeystoreError.invalidArgument("the configuration is refused: \(error)")
            }
            let clusterID = configuration.clusterID

            // The operator's copies, wrapped like every key, exist only until the bundles are written.
            var rows: [(KeyRecord, KeyVersionRecord)] = []
            for (index, keySet) in keySets.enumerated() {
                let aliases = ClusterKeys.Kind.allCases.map { ClusterKeys.genesisAlias(cluster: clusterID, replica: index, $0) }
                rows += try await clusterKeyRows(aliases: aliases, keys: keySet.keys)
            }
            try await store.insertKeys(rows, audit: rows.map { key, version in
                event(.generate, by: principal, tenant: ClusterKeys.tenant, keyID: key.id, version: 1,
                      details: ["alias": key.alias, "scheme": key.scheme, "fingerprint": version.fingerprint ?? ""])
            })

            var stored: [StoredKey] = []
            for (key, _) in rows { stored.append(try StoredKey(key)) }
            var written: [String] = []
            do {
                for (index, (keySet, recipient)) in zip(keySets, recipients).enumerated() {
                    let bundle: ClusterBundle
                    do {
                        bundle = try ClusterBundle.seal(keySet, configuration: configuration, replica: ReplicaID(index), to: recipient)
                    } catch let error as CustosCryptoError {
                        throw KeystoreError.invalidArgument("replica \(index)'s bundle cannot be sealed: \(error)")
                    }
                    try AtomicFile.write(bundle.encoded, to: paths[index])
                    written.append(paths[index])
                }
                try AtomicFile.write(configuration.signedBytes, to: configurationPath)
                written.append(configurationPath)
                // The operator's directory keeps the configuration: commands are signed against it.
                try await store.saveClusterOperatorState(ClusterOperatorRecord(
                    clusterID: configuration.clusterID, configuration: configuration.signedBytes, nextCommand: 1,
                    keyAlias: ClusterKeys.operatorAlias.rawValue, createdAt: clock()), audit: [])
            } catch {
                // No half-written genesis: the bundles written go, and so do the keys.
                for path in written { try? AtomicFile.remove(path) }
                try? await shred(stored) { _ in
                    [event(.clusterGenesis, by: principal, tenant: ClusterKeys.tenant, outcome: .failure,
                           details: ["cluster_id": Hex.encode(clusterID), "error": "bundles not written; bootstrap keys destroyed"])]
                }
                throw error
            }
            try await shred(stored) { plan in
                [event(.clusterGenesis, by: principal, tenant: ClusterKeys.tenant, details: [
                    "cluster_id": Hex.encode(clusterID), "genesis_hash": Hex.encode(configuration.genesisHash),
                    "replicas": String(replicas.count), "checkpoint_interval": String(checkpointInterval),
                    "operator_key": operatorKey.scheme.rawValue, "bootstrap_keys_destroyed": String(stored.count),
                    "wrapping_generation": String(plan.newWrappingKey.generation),
                ])]
            }
            logger.info("cluster genesis", metadata: ["cluster": "\(Hex.encode(clusterID))", "replicas": "\(replicas.count)"])
            return GenesisResult(configuration: configuration, bundlePaths: paths, configurationPath: configurationPath)
        }
    }

    /// The operator key (alias `cluster-operator`): reused when it exists, else generated.
    private func operatorKey(scheme: SignatureScheme, by principal: Principal) async throws -> (OperatorKey, any KeySigner) {
        try await ensureClusterTenant()
        if try await store.key(tenantID: ClusterKeys.tenant.rawValue, alias: ClusterKeys.operatorAlias.rawValue) == nil {
            _ = try await generateKey(KeySpec(tenant: ClusterKeys.tenant, alias: ClusterKeys.operatorAlias, algorithm: .signing(scheme), category: .operator),
                                      by: principal)
        }
        let (record, signer) = try await primarySigner(tenant: ClusterKeys.tenant, alias: ClusterKeys.operatorAlias)
        guard let raw = signer.publicKey.rawRepresentation,
              let key = try? OperatorKey(scheme: signer.scheme, rawRepresentation: raw) else {
            throw KeystoreError.wrongKeyKind(alias: ClusterKeys.operatorAlias.rawValue, algorithm: record.algorithm.identifier,
                                             operation: "sign a cluster configuration (ed25519 or ecdsa-p384-sha384)")
        }
        return (key, signer)
    }
}
