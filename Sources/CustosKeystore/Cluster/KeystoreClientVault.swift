import CustosCluster
import CustosCrypto
import CustosPKI
import CustosStore
import Foundation

/// `ClientVault` over the keystore: a client node's keys are keystore keys in tenant `cluster`
/// (`client-<k>/e<e>/{signing,tls,api-tls}`), wrapped, MAC'd, audited and shredded like every
/// key; its copy of the key log and its stable checkpoints are the store's cluster rows (a data
/// directory is a replica or a client, never both).
public final class KeystoreClientVault: ClientVault {
    let keys: KeyService
    var store: any Store { keys.store }

    public init(keys: KeyService) {
        self.keys = keys
    }

    // MARK: Keys

    /// Fresh keys for the kinds in `renewing` (the signing key in the scheme of the client's
    /// current one), the others' private keys of `previous` re-wrapped under `name` in the
    /// candidate's own transaction.
    public func createCandidate(_ name: ClientKeyName, renewing: ClientKeyKinds, carryingFrom previous: ClientKeyName?,
                                build: @Sendable (ClientCandidateKeys) async throws -> [UInt8]) async throws -> [UInt8] {
        if let existing = try await mappingErrors({ try await store.clusterClientKeySet(ClusterKeys.ref(name)) }) {
            guard let record = existing.record else { throw ClusterVaultError.clientKeyUnavailable(name) }
            return record
        }
        guard let renewing = ClientKeyKinds(validating: renewing.rawValue) else {
            throw KeystoreError.invalidArgument("a candidate renews a nonzero set of known key kinds")
        }
        guard let previous else { throw KeystoreError.invalidArgument("a client candidate follows the client's previous key name") }
        guard previous.client == name.client, previous < name else {
            throw KeystoreError.invalidArgument("keys are carried over from an earlier key name of the same client only")
        }
        var generated: [SigningPrivateKey] = []
        var carried: [ClusterKeys.ClientKind] = []
        for kind in ClusterKeys.ClientKind.allCases {
            let old = try await privateKey(previous, kind)
            if renewing.contains(kind.clientKind) {
                generated.append(try SigningPrivateKey(generating: old.scheme))
            } else {
                generated.append(old)
                carried.append(kind)
            }
        }
        let candidate = try ClientCandidateKeys(signing: generated[0], tls: generated[1], apiTLS: generated[2])
        let record = try await build(candidate)
        return try await mappingErrors {
            let rows: [(KeyRecord, KeyVersionRecord)]
            do {
                rows = try await keys.clientKeyRows(name, keys: generated)
            } catch KeystoreError.store(.duplicateAlias) {
                // A concurrent call for the same name stored its candidate first: its bytes win.
                guard let stored = try await store.clusterClientKeySet(ClusterKeys.ref(name))?.record else {
                    throw ClusterVaultError.clientKeyUnavailable(name)
                }
                return stored
            }
            let keySet = ClusterClientKeySetRecord(name: ClusterKeys.ref(name), record: record, signingKeyID: rows[0].0.id, tlsKeyID: rows[1].0.id,
                                                   apiTLSKeyID: rows[2].0.id, createdAt: keys.clock())
            var audit: [AuditEvent] = []
            for (index, kind) in ClusterKeys.ClientKind.allCases.enumerated() {
                let (key, version) = rows[index]
                var details = ["scheme": key.scheme, "fingerprint": version.fingerprint ?? ""]
                if carried.contains(kind) { details["carried_from"] = previous.description }
                audit.append(keys.clusterKeyEvent(carried.contains(kind) ? .import : .generate, name: name, keyID: key.id, alias: key.alias,
                                                  details: details))
            }
            audit.append(keys.clusterEvent(.clusterPropose, name: name, details: [
                "record_sha256": Hex.encode(SHA256Digest.of(record)), "renewed": renewing.names.joined(separator: ","),
            ]))
            let stored = try await store.insertClusterClientKeySet(keySet, keys: rows, audit: audit)
            return stored.record ?? record
        }
    }

    public func candidate(_ name: ClientKeyName) async throws -> [UInt8]? {
        try await mappingErrors { try await store.clusterClientKeySet(ClusterKeys.ref(name))?.record }
    }

    /// 64 bytes: Ed25519, or ECDSA P-256 raw r‖s.
    public func signWithSigningKey(_ name: ClientKeyName, _ message: [UInt8]) async throws -> [UInt8] {
        let signer = try await usable(name, .signing)
        return try await mappingErrors {
            try await signer.sign(message, format: signer.scheme == .ecdsaP256SHA256 ? .raw : nil).bytes
        }
    }

    public func holdsKeys(_ name: ClientKeyName) async throws -> Bool {
        try await mappingErrors {
            guard let keySet = try await store.clusterClientKeySet(ClusterKeys.ref(name)) else { return false }
            return try await keys.holdsClusterKeys(keySet.keyIDs)
        }
    }

    public func destroyKeys(_ name: ClientKeyName, reason: String) async throws {
        try await mappingErrors {
            guard let keySet = try await store.clusterClientKeySet(ClusterKeys.ref(name)) else { return }
            try await keys.destroyClusterKeys(keySet.keyIDs, name: name, reason: reason)
        }
    }

    /// The signer of the TLS key (towards the replicas) or the API TLS key of `name`, signing
    /// in the keystore at each handshake, so a destroyed key stops new handshakes at once.
    public func tlsSigner(_ name: ClientKeyName, api: Bool = false) async throws -> any KeySigner {
        let kind: ClusterKeys.ClientKind = api ? .apiTLS : .tls
        let signer = try await usable(name, kind)
        return ServingKeySigner(base: signer, keys: keys, tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(name, kind))
    }

    /// The cluster this data directory joined as a client (`custos cluster client init`), if any.
    public func membership() async throws -> ClusterClientMembershipRecord? {
        try await mappingErrors { try await store.clusterClientMembership() }
    }

    private func usable(_ name: ClientKeyName, _ kind: ClusterKeys.ClientKind) async throws -> any KeySigner {
        do {
            return try await keys.usableKey(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(name, kind), as: { key -> (any KeySigner)? in
                if case .signing(let signer) = key { signer } else { nil }
            }, toDo: "sign").2
        } catch KeystoreError.keyDestroyed, KeystoreError.keyNotFound, KeystoreError.keyDisabled, KeystoreError.store(.tenantNotFound) {
            throw ClusterVaultError.clientKeyUnavailable(name)
        }
    }

    /// A software private key to carry over; `clientKeyUnavailable` when not held.
    private func privateKey(_ name: ClientKeyName, _ kind: ClusterKeys.ClientKind) async throws -> SigningPrivateKey {
        guard let key = try await usable(name, kind) as? SigningPrivateKey else { throw ClusterVaultError.clientKeyUnavailable(name) }
        return key
    }

    // MARK: Key log and stable checkpoints

    public func appendLogEntry(_ entry: StoredLogEntry) async throws {
        do {
            try await store.appendClusterLogEntry(ClusterLogRow(index: entry.index, sequence: entry.sequence, entry: entry.bytes, head: entry.head))
        } catch StoreError.clusterLogOutOfOrder(let expected, let actual) {
            throw ClusterVaultError.logIndexOutOfOrder(expected: expected, actual: actual)
        } catch {
            throw try await mappingErrors { throw error }
        }
    }

    public func logEntries(after index: UInt64, limit: Int) async throws -> [StoredLogEntry] {
        try await mappingErrors {
            try await store.clusterLogEntries(after: index, limit: limit).map {
                StoredLogEntry(index: $0.index, sequence: $0.sequence, bytes: $0.entry, head: $0.head)
            }
        }
    }

    public func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) async throws {
        try await mappingErrors { try await store.saveStableCheckpoint(boundary: boundary, certificate: certificate) }
    }

    public func latestStableCheckpoint() async throws -> (boundary: UInt64, certificate: [UInt8])? {
        try await mappingErrors { try await store.latestStableCheckpoint() }
    }
}

extension ClientCandidateKeys {
    /// The public parts and the binding signer of a client key set's private keys.
    init(signing: SigningPrivateKey, tls: SigningPrivateKey, apiTLS: SigningPrivateKey) throws {
        guard [.ed25519, .ecdsaP256SHA256].contains(signing.scheme), tls.scheme == .ecdsaP384SHA384, apiTLS.scheme == .ecdsaP384SHA384,
              let raw = signing.publicKey.rawRepresentation, let tlsInfo = tls.publicKey.derRepresentation,
              let apiInfo = apiTLS.publicKey.derRepresentation else {
            throw KeystoreError.invalidArgument("a client key set needs an ed25519 or ecdsa-p256-sha256 signing key and P-384 TLS keys")
        }
        let signingKey: ClientSigningKey
        do {
            signingKey = try ClientSigningKey(scheme: signing.scheme, rawRepresentation: raw)
        } catch {
            throw KeystoreError.invalidArgument("the client signing key is refused: \(error)")
        }
        let format: SignatureFormat? = signing.scheme == .ecdsaP256SHA256 ? .raw : nil
        self.init(signingKey: signingKey, tlsPin: PublicKeyPin(subjectPublicKeyInfo: tlsInfo).digest,
                  apiTLSPin: PublicKeyPin(subjectPublicKeyInfo: apiInfo).digest,
                  signBinding: { message in try signing.signature(for: message, format: format).bytes })
    }
}

extension KeyService {
    /// Key and version rows of one client key set, in `ClusterKeys.ClientKind` order.
    func clientKeyRows(_ name: ClientKeyName, keys generated: [SigningPrivateKey]) async throws -> [(KeyRecord, KeyVersionRecord)] {
        try await clusterKeyRows(aliases: ClusterKeys.ClientKind.allCases.map { ClusterKeys.alias(name, $0) },
                                 categories: ClusterKeys.ClientKind.allCases.map(\.category), keys: generated)
    }
}
