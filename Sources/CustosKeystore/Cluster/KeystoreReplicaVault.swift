import BLS12381
import CustosCluster
import CustosCrypto
import CustosPKI
import CustosStore
import Crypto
import Foundation

/// `ReplicaVault` over the keystore and its store: keys are keystore keys (tenant `cluster`,
/// see `ClusterKeys`), wrapped and audited like every key; each durable decision is one
/// SQLite transaction with its audit record (`ClusterStore`), synced before it returns.
public final class KeystoreReplicaVault: ReplicaVault {
    let keys: KeyService
    var store: any Store { keys.store }

    public init(keys: KeyService) {
        self.keys = keys
    }

    // MARK: Keys

    /// Fresh keys for the kinds in `renewing`; the other kinds' private keys of `previous` are
    /// re-wrapped under `name`'s aliases in the candidate's own transaction (public keys
    /// unchanged). The copy under `previous` stays until `destroyKeys(previous)` shreds it.
    public func createCandidate(_ name: KeyName, renewing: ReplicaKeyKinds, carryingFrom previous: KeyName?,
                                build: @Sendable (CandidateKeys) async throws -> [UInt8]) async throws -> [UInt8] {
        if let existing = try await mappingErrors({ try await store.clusterKeySet(ClusterKeys.ref(name)) }) {
            guard let record = existing.record else { throw ClusterVaultError.keyUnavailable(name) }
            return record
        }
        guard let renewing = ReplicaKeyKinds(validating: renewing.rawValue) else {
            throw KeystoreError.invalidArgument("a candidate renews a nonzero set of known key kinds")
        }
        if renewing != .all {
            guard let previous else { throw KeystoreError.invalidArgument("the key kinds not renewed need a key name to carry them from") }
            guard previous.replica == name.replica, previous < name else {
                throw KeystoreError.invalidArgument("keys are carried over from an earlier key name of the same replica only")
            }
        }
        var generated: [SigningPrivateKey] = []
        var carried: [ClusterKeys.Kind] = []
        for kind in ClusterKeys.Kind.allCases {
            if renewing.contains(kind.replicaKind) {
                generated.append(try SigningPrivateKey(generating: kind.scheme))
            } else if let previous {
                generated.append(try await privateKey(previous, kind))
                carried.append(kind)
            }
        }
        let (consensus, main, tls) = (generated[0], generated[1], generated[2])
        let candidate = try CandidateKeys(keys: (consensus, main, tls))
        let record = try await build(candidate)
        return try await mappingErrors {
            let rows: [(KeyRecord, KeyVersionRecord)]
            do {
                rows = try await keys.clusterKeyRows(name, keys: generated)
            } catch KeystoreError.store(.duplicateAlias) {
                // A concurrent call for the same name stored its candidate first: its bytes win.
                guard let stored = try await store.clusterKeySet(ClusterKeys.ref(name))?.record else { throw ClusterVaultError.keyUnavailable(name) }
                return stored
            }
            let keySet = ClusterKeySetRecord(name: ClusterKeys.ref(name), record: record, consensusKeyID: rows[0].0.id,
                                             mainKeyID: rows[1].0.id, tlsKeyID: rows[2].0.id, createdAt: keys.clock())
            var audit: [AuditEvent] = []
            for (index, kind) in ClusterKeys.Kind.allCases.enumerated() {
                let (key, version) = rows[index]
                var details = ["scheme": key.scheme, "fingerprint": version.fingerprint ?? ""]
                if carried.contains(kind), let previous { details["carried_from"] = previous.description }
                audit.append(keys.clusterKeyEvent(carried.contains(kind) ? .import : .generate, name: name, keyID: key.id, alias: key.alias,
                                                  details: details))
            }
            audit.append(keys.clusterEvent(.clusterPropose, name: name, details: [
                "record_sha256": Hex.encode(SHA256Digest.of(record)), "renewed": renewing.names.joined(separator: ","),
            ]))
            // A concurrent call for the same name may have stored first: its bytes win.
            let stored = try await store.insertClusterKeySet(keySet, keys: rows, audit: audit)
            return stored.record ?? record
        }
    }

    /// The private key of one kind of `name`, to carry it over; `keyUnavailable` when it is
    /// not held (destroyed, never had) or not a software key that can be re-wrapped.
    private func privateKey(_ name: KeyName, _ kind: ClusterKeys.Kind) async throws -> SigningPrivateKey {
        let signer = try await usable(name, kind) { key -> (any KeySigner)? in
            if case .signing(let signer) = key { signer } else { nil }
        }
        guard let key = signer as? SigningPrivateKey else { throw ClusterVaultError.keyUnavailable(name) }
        return key
    }

    public func candidate(_ name: KeyName) async throws -> [UInt8]? {
        try await mappingErrors { try await store.clusterKeySet(ClusterKeys.ref(name))?.record }
    }

    public func signMain(_ name: KeyName, _ message: [UInt8]) async throws -> [UInt8] {
        let signer = try await usable(name, .main) { $0.signer }
        return try await mappingErrors { try await signer.sign(message, format: nil).bytes }
    }

    public func signConsensus(_ name: KeyName, _ message: [UInt8], domain: BLS12381.DomainSeparationTag) async throws -> BLS12381.Signature {
        let key = try await usable(name, .consensus) { $0.blsKey }
        return try await mappingErrors { try key.blsSignature(for: message, domain: domain) }
    }

    /// The unlocked private key of one kind of `name` (the key and record caches make this
    /// a memory read after the first use); `keyUnavailable` when it was never held or is destroyed.
    func usable<Key>(_ name: KeyName, _ kind: ClusterKeys.Kind, as extract: (UnlockedKey) -> Key?) async throws -> Key {
        do {
            return try await keys.usableKey(tenant: ClusterKeys.tenant, alias: ClusterKeys.alias(name, kind), as: extract, toDo: "sign").2
        } catch KeystoreError.keyDestroyed, KeystoreError.keyNotFound, KeystoreError.keyDisabled, KeystoreError.store(.tenantNotFound) {
            throw ClusterVaultError.keyUnavailable(name)
        }
    }

    public func holdsKeys(_ name: KeyName) async throws -> Bool {
        try await mappingErrors {
            guard let keySet = try await store.clusterKeySet(ClusterKeys.ref(name)) else { return false }
            return try await keys.holdsClusterKeys(keySet.keyIDs)
        }
    }

    public func destroyKeys(_ name: KeyName, reason: String) async throws {
        try await mappingErrors {
            guard let keySet = try await store.clusterKeySet(ClusterKeys.ref(name)) else { return }
            try await keys.destroyClusterKeys(keySet.keyIDs, name: name, reason: reason)
        }
    }

    // MARK: Durable decisions

    public func decideApproval(_ subject: KeyName, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        let outcome = try await mappingErrors {
            try await store.decideClusterApproval(ClusterKeys.ref(subject), digest: digest, audit: keys.clusterDecisionAudit(audit))
        }
        return try Decision(outcome)
    }

    public func decideConsensusShare(_ slot: ConsensusSlot, digest: [UInt8], floor: UInt64, audit: ClusterAuditEvent) async throws -> ShareDecision {
        let outcome = try await mappingErrors {
            try await store.decideConsensusShare(view: slot.view, sequence: slot.sequence, phase: slot.phase.rawValue, digest: digest, floor: floor,
                                                 viewChangePhase: ConsensusPhase.viewChange.rawValue, audit: keys.clusterDecisionAudit(audit))
        }
        switch outcome {
        case .recorded: return .recorded
        case .alreadyRecorded: return .alreadyRecorded
        case .conflicts(let existing): return .conflicts(existingDigest: existing)
        case .belowFloor(let floor): return .belowFloor(floor: floor)
        case .viewLeft(let viewFloor): return .viewLeft(viewFloor: viewFloor)
        }
    }

    public func decideCheckpoint(boundary: UInt64, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        let outcome = try await mappingErrors {
            try await store.decideClusterCheckpoint(boundary: boundary, digest: digest, audit: keys.clusterDecisionAudit(audit))
        }
        return try Decision(outcome)
    }

    public func pruneConsensusShares(through sequence: UInt64) async throws {
        try await mappingErrors { try await store.pruneConsensusShares(through: sequence) }
    }

    public func consensusFloors() async throws -> (lowWatermark: UInt64, viewFloor: UInt64, highestSigned: UInt64?) {
        let floors = try await mappingErrors { try await store.consensusFloors() }
        return (floors.lowWatermark, floors.viewFloor, floors.highestSigned)
    }

    // MARK: Key log and certificates

    public func appendLogEntry(_ entry: StoredLogEntry) async throws { try await store.appendLogEntry(entry) }

    public func logEntries(after index: UInt64, limit: Int) async throws -> [StoredLogEntry] {
        try await store.logEntries(after: index, limit: limit)
    }

    public func saveCertificate(_ name: KeyName, certificate: [UInt8]) async throws {
        try await mappingErrors { try await store.saveClusterCertificate(ClusterKeys.ref(name), certificate: certificate) }
    }

    public func certificate(_ name: KeyName) async throws -> [UInt8]? {
        try await mappingErrors { try await store.clusterCertificate(ClusterKeys.ref(name)) }
    }

    public func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) async throws {
        try await mappingErrors { try await store.saveStableCheckpoint(boundary: boundary, certificate: certificate) }
    }

    public func stableCheckpoints(after boundary: UInt64, limit: Int) async throws -> [(boundary: UInt64, certificate: [UInt8])] {
        try await mappingErrors { try await store.stableCheckpoints(after: boundary, limit: limit) }
    }

    public func latestStableCheckpoint() async throws -> (boundary: UInt64, certificate: [UInt8])? {
        try await mappingErrors { try await store.latestStableCheckpoint() }
    }
}

extension Decision {
    init(_ outcome: ClusterDecisionOutcome) throws {
        switch outcome {
        case .recorded: self = .recorded
        case .alreadyRecorded: self = .alreadyRecorded
        case .conflicts(let existing): self = .conflicts(existingDigest: existing)
        case .belowFloor, .viewLeft: throw KeystoreError.corruptRecord("a floor outcome for a decision that has no floor")
        }
    }
}

extension CandidateKeys {
    /// The public parts and the signing closures of freshly generated keys.
    init(keys: (consensus: SigningPrivateKey, main: SigningPrivateKey, tls: SigningPrivateKey)) throws {
        guard let consensusPublic = keys.consensus.publicKey.blsPublicKey, let mainPublic = keys.main.publicKey.rawRepresentation,
              let tlsInfo = keys.tls.publicKey.derRepresentation else {
            throw KeystoreError.invalidArgument("a cluster key set needs a BLS12-381 consensus key, an Ed25519 main key and a P-384 TLS key")
        }
        guard let signConsensus = keys.consensus.blsDomainSigner else {
            throw KeystoreError.invalidArgument("the consensus key of a cluster key set must be bls12381-pop")
        }
        let main = keys.main
        self.init(consensusPublicKey: consensusPublic, proofOfPossession: try keys.consensus.blsProofOfPossession(), mainPublicKey: mainPublic,
                  tlsPin: PublicKeyPin(subjectPublicKeyInfo: tlsInfo).digest, signConsensus: signConsensus,
                  signMain: { message in try main.signature(for: message).bytes })
    }
}

extension KeyService {
    /// Key and version rows (wrapped under the tenant's protection, MAC'd) for the keys of
    /// one key set, in `ClusterKeys.Kind` order; the `cluster` tenant is created if absent.
    func clusterKeyRows(_ name: KeyName, keys generated: [SigningPrivateKey]) async throws -> [(KeyRecord, KeyVersionRecord)] {
        try await clusterKeyRows(aliases: ClusterKeys.Kind.allCases.map { ClusterKeys.alias(name, $0) }, keys: generated)
    }

    func clusterKeyRows(aliases: [KeyAlias], keys generated: [SigningPrivateKey]) async throws -> [(KeyRecord, KeyVersionRecord)] {
        try await clusterKeyRows(aliases: aliases, categories: ClusterKeys.Kind.allCases.map(\.category), keys: generated)
    }

    /// Key and version rows of `generated[i]` under `aliases[i]` in category `categories[i]`.
    func clusterKeyRows(aliases: [KeyAlias], categories: [KeyCategory], keys generated: [SigningPrivateKey]) async throws -> [(KeyRecord, KeyVersionRecord)] {
        try await ensureClusterTenant()
        var rows: [(KeyRecord, KeyVersionRecord)] = []
        for (index, key) in generated.enumerated() {
            let spec = KeySpec(tenant: ClusterKeys.tenant, alias: aliases[index], algorithm: KeyAlgorithm.signing(key.scheme), category: categories[index])
            let (keyID, context, protection) = try await prepareNewKey(spec)
            let material = try await protection.protect(UnlockedKey.signing(key), context: context)
            rows.append(try await macRows(makeRows(spec: spec, keyID: keyID, material: material, protection: protection.reference)))
        }
        return rows
    }

    /// Crypto-shreds the keys `keyIDs` of one key name (those not destroyed yet), recording
    /// why, in one transaction. Idempotent.
    func destroyClusterKeys(_ keyIDs: [String], name: any CustomStringConvertible & Sendable, reason: String) async throws {
        // A key made meanwhile under the old wrapping generation makes the store refuse
        // the plan, changing nothing: plan again (bounded).
        for attempt in 1...3 {
            var live: [StoredKey] = []
            for id in keyIDs {
                guard let row = try await store.key(tenantID: ClusterKeys.tenant.rawValue, id: id) else { continue }
                if row.status != .destroyed { live.append(try StoredKey(row)) }
            }
            guard !live.isEmpty else { return }
            do {
                try await shred(live) { plan in
                    [clusterEvent(.clusterKeysDestroyed, name: name,
                                  details: ["reason": reason, "wrapping_generation": String(plan.newWrappingKey.generation)])]
                        + live.map { key in clusterKeyEvent(.destroy, name: name, keyID: key.id, alias: key.alias.rawValue) }
                }
                return
            } catch StoreError.database(let reason) where attempt < 3 && reason.contains("changed during the destroy") {
                continue
            }
        }
    }

    /// Whether every key of `keyIDs` exists and is not destroyed.
    func holdsClusterKeys(_ keyIDs: [String]) async throws -> Bool {
        for id in keyIDs {
            guard let key = try await store.key(tenantID: ClusterKeys.tenant.rawValue, id: id), key.status != .destroyed else { return false }
        }
        return true
    }

    func ensureClusterTenant() async throws {
        guard try await store.tenant(id: ClusterKeys.tenant.rawValue) == nil else { return }
        do {
            _ = try await createTenant(ClusterKeys.tenant, by: .local)
        } catch KeystoreError.store(.duplicateTenant) {
            // Created meanwhile by a concurrent call: what we wanted.
        }
    }

    func clusterEvent(_ operation: AuditOperation, name: any CustomStringConvertible & Sendable, outcome: AuditOutcome = .success, details: [String: String] = [:]) -> AuditEvent {
        var details = details
        details["key_name"] = name.description
        return AuditEvent(time: clock(), actor: ClusterKeys.actor, tenantID: ClusterKeys.tenant.rawValue, operation: operation,
                          outcome: outcome, details: details)
    }

    func clusterKeyEvent(_ operation: AuditOperation, name: any CustomStringConvertible & Sendable, keyID: String, alias: String, details: [String: String] = [:]) -> AuditEvent {
        var details = details
        details["key_name"] = name.description
        details["alias"] = alias
        return AuditEvent(time: clock(), actor: ClusterKeys.actor, tenantID: ClusterKeys.tenant.rawValue, operation: operation,
                          keyID: keyID, keyVersion: 1, outcome: .success, details: details)
    }

    func clusterKeyEvents(_ rows: [(KeyRecord, KeyVersionRecord)], operation: AuditOperation, name: any CustomStringConvertible & Sendable) -> [AuditEvent] {
        rows.map { key, version in
            clusterKeyEvent(operation, name: name, keyID: key.id, alias: key.alias,
                            details: ["scheme": key.scheme, "fingerprint": version.fingerprint ?? ""])
        }
    }
}

/// The key log as a replica's or a client's vault keeps it (the same rows: a data directory is
/// one or the other).
extension Store {
    func appendLogEntry(_ entry: StoredLogEntry) async throws {
        do {
            try await appendClusterLogEntry(ClusterLogRow(index: entry.index, sequence: entry.sequence, entry: entry.bytes, head: entry.head))
        } catch StoreError.clusterLogOutOfOrder(let expected, let actual) {
            throw ClusterVaultError.logIndexOutOfOrder(expected: expected, actual: actual)
        } catch {
            throw try await mappingErrors { throw error }
        }
    }

    func logEntries(after index: UInt64, limit: Int) async throws -> [StoredLogEntry] {
        try await mappingErrors {
            try await clusterLogEntries(after: index, limit: limit).map {
                StoredLogEntry(index: $0.index, sequence: $0.sequence, bytes: $0.entry, head: $0.head)
            }
        }
    }
}

enum SHA256Digest {
    static func of(_ bytes: [UInt8]) -> [UInt8] { Array(Crypto.SHA256.hash(data: bytes)) }
}
