import CustosCluster
import CustosCrypto
import CustosStore
import Foundation

public struct ClientInitResult: Sendable {
    public let configuration: ClusterConfiguration
    /// The add-client descriptor the operator signs into a command.
    public let descriptor: ClientDescriptor
}

extension KeyService {
    /// `custos cluster client init`: makes this data directory client node `client` of the
    /// cluster whose configuration hashes to `genesisHash` (given out of band by the operator):
    /// verifies the configuration, generates the epoch-0 keys (signing key in `signingScheme`,
    /// P-384 TLS and API TLS keys), and stores them with the membership in one transaction. The
    /// descriptor returned, signed by the new signing key, goes to the operator (add-client).
    /// A refused request changes nothing.
    public func clusterClientInit(client: ClientID, configuration bytes: [UInt8], genesisHash: [UInt8], signingScheme: SignatureScheme = .ed25519,
                                  by principal: Principal) async throws -> ClientInitResult {
        try await audited(.clusterClientInit, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageTenants, tenant: nil)
            guard [.ed25519, .ecdsaP256SHA256].contains(signingScheme) else {
                throw KeystoreError.invalidArgument("the client signing scheme must be ed25519 or ecdsa-p256-sha256")
            }
            guard bytes.count <= ClusterBundle.maximumByteCount else {
                throw KeystoreError.invalidArgument("the configuration is \(bytes.count) bytes, over the limit of \(ClusterBundle.maximumByteCount)")
            }
            let configuration: ClusterConfiguration
            do {
                configuration = try ClusterConfiguration(signedBytes: bytes)
            } catch {
                throw KeystoreError.invalidArgument("the configuration is refused: \(error)")
            }
            guard configuration.genesisHash == genesisHash else {
                throw KeystoreError.invalidArgument(
                    "the configuration's genesis hash \(Hex.encode(configuration.genesisHash)) is not the expected \(Hex.encode(genesisHash)): it comes from another genesis")
            }
            if let member = try await store.clusterMembership() {
                throw KeystoreError.invalidArgument("this data directory is replica \(member.replica) of cluster \(Hex.encode(member.clusterID))")
            }
            if let member = try await store.clusterClientMembership() {
                throw KeystoreError.invalidArgument("this data directory is already client \(member.client) of cluster \(Hex.encode(member.clusterID))")
            }
            let generated = [try SigningPrivateKey(generating: signingScheme), try SigningPrivateKey(generating: .ecdsaP384SHA384),
                             try SigningPrivateKey(generating: .ecdsaP384SHA384)]
            let candidate = try ClientCandidateKeys(signing: generated[0], tls: generated[1], apiTLS: generated[2])
            let descriptor = try await ClientDescriptor.build(cluster: configuration.clusterID, client: client, keys: candidate.keySet) {
                try candidate.signBinding($0)
            }
            let name = ClientKeyName(client: client, epoch: 0)
            let rows = try await clientKeyRows(name, keys: generated)
            let keySet = ClusterClientKeySetRecord(name: ClusterKeys.ref(name), record: nil, signingKeyID: rows[0].0.id, tlsKeyID: rows[1].0.id,
                                                   apiTLSKeyID: rows[2].0.id, createdAt: clock())
            let membership = ClusterClientMembershipRecord(clusterID: configuration.clusterID, client: client.rawValue,
                                                           configuration: configuration.signedBytes, joinedAt: clock())
            let audit = clusterKeyEvents(rows, operation: .generate, name: name) + [
                event(.clusterClientInit, by: principal, tenant: ClusterKeys.tenant, details: [
                    "cluster_id": Hex.encode(configuration.clusterID), "genesis_hash": Hex.encode(configuration.genesisHash),
                    "client": String(client.rawValue), "signing_scheme": signingScheme.rawValue,
                    "descriptor_sha256": Hex.encode(SHA256Digest.of(descriptor.encoded)),
                ]),
            ]
            do {
                try await store.joinClusterAsClient(membership, keys: rows, keySet: keySet, audit: audit)
            } catch StoreError.clusterAlreadyJoined {
                throw KeystoreError.invalidArgument("this data directory has already joined a cluster")
            }
            logger.info("client node initialised", metadata: ["cluster": "\(Hex.encode(configuration.clusterID))", "client": "\(client.rawValue)"])
            return ClientInitResult(configuration: configuration, descriptor: descriptor)
        }
    }
}
