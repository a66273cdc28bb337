import CustosCluster
import CustosStore
import Foundation

extension KeystoreReplicaVault {
    /// The cluster this data directory joined (`custos cluster join`), if any.
    public func membership() async throws -> ClusterMembershipRecord? {
        try await mappingErrors { try await store.clusterMembership() }
    }

    /// The signer of the TLS key of `name`, for the peer listener and client: handshakes are
    /// signed in the keystore, which is asked before each signature, so a destroyed key (or the
    /// kill switch) stops new handshakes at once. `keyUnavailable` when this replica does not
    /// hold it.
    public func tlsSigner(_ name: KeyName) async throws -> any KeySigner {
        let alias = ClusterKeys.alias(name, .tls)
        do {
            let signer = try await keys.usableKey(tenant: ClusterKeys.tenant, alias: alias, as: { key -> (any KeySigner)? in
                if case .signing(let signer) = key { signer } else { nil }
            }, toDo: "sign TLS handshakes").2
            return ServingKeySigner(base: signer, keys: keys, tenant: ClusterKeys.tenant, alias: alias)
        } catch KeystoreError.keyDestroyed, KeystoreError.keyNotFound, KeystoreError.keyDisabled, KeystoreError.store(.tenantNotFound) {
            throw ClusterVaultError.keyUnavailable(name)
        }
    }
}
