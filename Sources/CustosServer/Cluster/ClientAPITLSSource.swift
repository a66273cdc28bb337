import CustosCluster
import CustosKeystore
import CustosPKI
import Foundation
import NIOSSL
import Synchronization
import X509

/// The client key name whose API TLS key the HTTPS listener serves with, set by the client
/// service as the engine's current key name changes (at activation).
final class ClientAPIKeyHolder: Sendable {
    private let state = Mutex<ClientKeyName?>(nil)

    var current: ClientKeyName? { state.withLock { $0 } }

    /// True when the name changed.
    func set(_ name: ClientKeyName) -> Bool {
        state.withLock { current in
            defer { current = name }
            return current != name
        }
    }
}

/// The HTTPS listener's key on a client node (`tls.key = "cluster:api-tls"`): the API TLS key
/// of the client's current key name, signing in the keystore at each handshake, with a
/// self-signed certificate (relying parties know the key by its pin in the key log). Before the
/// client service has named a key (at start), the name is the one the stored log makes active.
/// The marker moves with the name, so the reloader swaps the context at activation; connections
/// in flight keep the context they were accepted with.
struct ClientAPITLSSource: TLSMaterialSource {
    let keys: KeyService
    let holder: ClientAPIKeyHolder
    let files: PEMTrustFiles
    let keystoreTrust: Bool

    func changeMarker() async throws -> String {
        "\(try await currentName())/\(try await files.changeMarker())"
    }

    func load() async throws -> TLSMaterial {
        let name = try await currentName()
        let signer = try await KeystoreClientVault(keys: keys).tlsSigner(name, api: true)
        let identity = try await PeerTLSIdentity.selfSigned(signer, name: "custos \(name.client) api e\(name.epoch)")
        guard let spki = signer.publicKey.derRepresentation else { throw TLSMaterialError("the API TLS key of \(name) has no SubjectPublicKeyInfo") }
        let trust = try files.load().union(keystoreTrust ? await keys.tlsTrust() : ClientTrust())
        return TLSMaterial(chain: identity.chain, privateKey: NIOSSLPrivateKey(customPrivateKey: try KeySignerTLSKey(signer)),
                           keyPublicKey: try Certificate.PublicKey(derEncoded: spki), trust: trust, origin: "cluster API TLS key \(name)")
    }

    private func currentName() async throws -> ClientKeyName {
        if let name = holder.current { return name }
        let vault = KeystoreClientVault(keys: keys)
        guard let membership = try await vault.membership() else {
            throw TLSMaterialError("tls.key is cluster:api-tls but this data directory is not a client node (custos cluster client init)")
        }
        let client = ClientID(rawValue: membership.client)
        var log = try KeyLog(configuration: try ClusterConfiguration(signedBytes: membership.configuration), replaying: try await storedLog(vault))
        if let stable = try await vault.latestStableCheckpoint(), stable.boundary > log.checkpointNotice, stable.boundary >= log.lastSequence {
            try? log.checkpoint(boundary: stable.boundary)
        }
        let present = max(log.checkpointNotice, log.lastSequence) + 1
        return (try? log.clientKeyset(at: present))?(client)?.name ?? log.newestClientKeys(of: client)?.name ?? ClientKeyName(client: client, epoch: 0)
    }

    private func storedLog(_ vault: KeystoreClientVault) async throws -> [StoredLogEntry] {
        try await StoredLogEntry.readAll { try await vault.logEntries(after: $0, limit: $1) }
    }
}
