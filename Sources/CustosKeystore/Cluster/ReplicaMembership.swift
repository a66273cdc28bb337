import CustosCluster
import CustosStore
import Foundation

extension KeystoreReplicaVault {
    /// The cluster this data directory joined (`custos cluster join`), if any.
    public func membership() async throws -> ClusterMembershipRecord? {
        try await mappingErrors { try await store.clusterMembership() }
    }

    /// The signer of the TLS key of `name`, for the peer listener and client: handshakes are
    /// signed in the keystore. `keyUnavailable` when this replica does not hold it (destroyed).
    public func tlsSigner(_ name: KeyName) async throws -> any KeySigner {
        do {
            return try await keys.usableKey(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(name, .tls), as: { key -> (any KeySigner)? in
                if case .signing(let signer) = key { signer } else { nil }
            }, toDo: "sign TLS handshakes").2
        } catch KeystoreError.keyDestroyed, KeystoreError.keyNotFound, KeystoreError.keyDisabled, KeystoreError.store(.tenantNotFound) {
            throw ClusterVaultError.keyUnavailable(name)
        }
    }
}
