import BLS12381
import Foundation

/// The private keys and the durable state of one replica. The engine (`ReplicaNode`) holds no
/// state of its own that must survive a crash: everything it must not forget goes through here.
/// Every method is atomic and durable when it returns (the keystore: one SQLite transaction,
/// synced; the simulation: memory that survives a simulated crash), so a decision is made
/// durable before the signature that depends on it leaves the replica.
public protocol ReplicaVault: Sendable {
    // MARK: Keys

    /// Generates fresh keys for `name` for the kinds in `renewing` (BLS12-381 consensus key,
    /// Ed25519 main key, P-384 TLS key); the other kinds' private keys of `previous` are carried
    /// over (re-wrapped under `name`, public keys unchanged). Lets `build` turn the public parts
    /// and signatures into the exact record bytes, and stores the wrapped keys with those bytes in
    /// one transaction. When a candidate for `name` already exists, returns its stored bytes
    /// without calling `build` (a restart re-sends the same record).
    func createCandidate(_ name: KeyName, renewing: ReplicaKeyKinds, carryingFrom previous: KeyName?,
                         build: @Sendable (CandidateKeys) async throws -> [UInt8]) async throws -> [UInt8]

    /// The stored record bytes of the candidate for `name`, if one was created.
    func candidate(_ name: KeyName) async throws -> [UInt8]?

    /// Ed25519 signature by the main key of `name`. Throws `ClusterVaultError.keyUnavailable`
    /// when this replica holds no usable private main key for `name` (never had it, or destroyed).
    func signMain(_ name: KeyName, _ message: [UInt8]) async throws -> [UInt8]

    /// BLS signature by the consensus key of `name` under `domain`. Same errors as `signMain`.
    func signConsensus(_ name: KeyName, _ message: [UInt8], domain: BLS12381.DomainSeparationTag) async throws -> BLS12381.Signature

    /// Whether this replica still holds the private keys of `name`.
    func holdsKeys(_ name: KeyName) async throws -> Bool

    /// Crypto-shreds the private keys of `name` (all three kinds) and records why, in one
    /// transaction. Idempotent. The public keys stay in the key log.
    func destroyKeys(_ name: KeyName, reason: String) async throws

    // MARK: Durable decisions (made before the signature that depends on them leaves)

    /// Records that this replica approves the record with `digest` for `subject`, unless it has
    /// already approved a record for that subject: then returns what it approved.
    func decideApproval(_ subject: KeyName, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision

    /// The watermark check of a consensus share, in one transaction with its audit record:
    /// refuses a slot at or below `floor` (pruned or behind the restore floor), a view below the
    /// view floor, and a different digest for a slot already signed; returns `.recorded` for a
    /// new slot, `.alreadyRecorded` for the same digest again. A `viewChange` slot for view v
    /// raises the view floor to v.
    func decideConsensusShare(_ slot: ConsensusSlot, digest: [UInt8], floor: UInt64, audit: ClusterAuditEvent) async throws -> ShareDecision

    /// Records the ledger digest this replica signs for checkpoint `boundary`, unless it signed
    /// another: then returns the one it signed.
    func decideCheckpoint(boundary: UInt64, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision

    /// Records that this replica approves command `number` with `digest`, unless it has already
    /// approved another command with that number: then returns the digest it approved.
    func decideCommandApproval(_ number: UInt64, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision

    /// Records that this replica approves the client record with `digest` for `name` (one
    /// record per client key name).
    func decideClientApproval(_ name: ClientKeyName, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision

    /// Deletes watermark rows with sequence ≤ `sequence` and remembers it as the low watermark.
    func pruneConsensusShares(through sequence: UInt64) async throws

    // MARK: Key log and certificates

    /// Appends the next key-log entry (index = number of entries before it). Refuses an index
    /// that is not the next one.
    func appendLogEntry(_ entry: StoredLogEntry) async throws
    /// The entries after the first `index` ones (those with index ≥ `index`), at most `limit`:
    /// `index` is how many entries the caller already holds, so 0 reads from the start.
    func logEntries(after index: UInt64, limit: Int) async throws -> [StoredLogEntry]

    /// The certificate this replica assembled for one of its own candidates.
    func saveCertificate(_ name: KeyName, certificate: [UInt8]) async throws
    func certificate(_ name: KeyName) async throws -> [UInt8]?

    // MARK: Relayed items (commands and client records this replica gathers approvals for)

    /// Stores an item to relay; storing the same item again (same digest) changes nothing.
    func saveRelayed(kind: ScheduledKind, item: [UInt8]) async throws
    /// Stores the certificate assembled for the relayed item with `digest`.
    func saveRelayedCertificate(kind: ScheduledKind, digest: [UInt8], certificate: [UInt8]) async throws
    func relayed() async throws -> [RelayedItem]
    func dropRelayed(digest: [UInt8]) async throws

    /// Stable-checkpoint certificates, by boundary.
    func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) async throws
    func stableCheckpoints(after boundary: UInt64, limit: Int) async throws -> [(boundary: UInt64, certificate: [UInt8])]
    func latestStableCheckpoint() async throws -> (boundary: UInt64, certificate: [UInt8])?

    /// The floors of the share watermark as stored: low watermark (pruned through) and view floor.
    func consensusFloors() async throws -> (lowWatermark: UInt64, viewFloor: UInt64, highestSigned: UInt64?)
}

extension ReplicaVault {
    /// A candidate with every kind renewed.
    public func createCandidate(_ name: KeyName, build: @Sendable (CandidateKeys) async throws -> [UInt8]) async throws -> [UInt8] {
        try await createCandidate(name, renewing: .all, carryingFrom: nil, build: build)
    }
}

/// A command or client record a replica relays: received from the operator or a client,
/// stored until it is in the key log.
public struct RelayedItem: Equatable, Sendable {
    public let kind: ScheduledKind
    public let item: [UInt8]
    /// SHA-256 of `item`.
    public let digest: [UInt8]
    /// The quorum certificate, once assembled.
    public let certificate: [UInt8]?
    /// Unix seconds, when the vault records it.
    public let receivedAt: UInt64?

    public init(kind: ScheduledKind, item: [UInt8], digest: [UInt8], certificate: [UInt8]?, receivedAt: UInt64?) {
        self.kind = kind
        self.item = item
        self.digest = digest
        self.certificate = certificate
        self.receivedAt = receivedAt
    }
}

/// The keys of a fresh candidate, usable only inside `ReplicaVault.createCandidate`'s `build`.
public struct CandidateKeys: Sendable {
    public let consensusPublicKey: BLS12381.PublicKey
    public let proofOfPossession: BLS12381.ProofOfPossession
    /// Raw Ed25519 public key, 32 bytes.
    public let mainPublicKey: [UInt8]
    /// RFC 7469 pin (SHA-256 of the SubjectPublicKeyInfo) of the new P-384 TLS key.
    public let tlsPin: [UInt8]
    public let signConsensus: @Sendable ([UInt8], BLS12381.DomainSeparationTag) -> BLS12381.Signature
    public let signMain: @Sendable ([UInt8]) throws -> [UInt8]

    public init(consensusPublicKey: BLS12381.PublicKey, proofOfPossession: BLS12381.ProofOfPossession, mainPublicKey: [UInt8],
                tlsPin: [UInt8], signConsensus: @escaping @Sendable ([UInt8], BLS12381.DomainSeparationTag) -> BLS12381.Signature,
                signMain: @escaping @Sendable ([UInt8]) throws -> [UInt8]) {
        self.consensusPublicKey = consensusPublicKey
        self.proofOfPossession = proofOfPossession
        self.mainPublicKey = mainPublicKey
        self.tlsPin = tlsPin
        self.signConsensus = signConsensus
        self.signMain = signMain
    }
}

/// A durable decision: new, the same as before, or in conflict with what was decided before.
public enum Decision: Equatable, Sendable {
    case recorded
    case alreadyRecorded
    case conflicts(existingDigest: [UInt8])
}

public enum ShareDecision: Equatable, Sendable {
    case recorded
    case alreadyRecorded
    case conflicts(existingDigest: [UInt8])
    /// At or below the low watermark or the restore floor.
    case belowFloor(floor: UInt64)
    /// Below the view floor (a view-change share for a later view was signed).
    case viewLeft(viewFloor: UInt64)
}

/// One key-log entry as stored: its index, the ledger sequence it was scheduled at, its
/// canonical bytes (see docs/cluster.md, "Key log") and the chain head after it.
public struct StoredLogEntry: Equatable, Sendable {
    public let index: UInt64
    public let sequence: UInt64
    public let bytes: [UInt8]
    public let head: [UInt8]

    public init(index: UInt64, sequence: UInt64, bytes: [UInt8], head: [UInt8]) {
        self.index = index
        self.sequence = sequence
        self.bytes = bytes
        self.head = head
    }
}

extension StoredLogEntry {
    /// Every stored entry from the start, read `pageSize` at a time through `read(after, limit)`
    /// (a vault's or an engine's `logEntries(after:limit:)`).
    public static func readAll(isolation: isolated (any Actor)? = #isolation, pageSize: Int = 256,
                               _ read: (_ after: UInt64, _ limit: Int) async throws -> [StoredLogEntry]) async throws -> [StoredLogEntry] {
        var entries: [StoredLogEntry] = []
        while true {
            let page = try await read(UInt64(entries.count), pageSize)
            entries += page
            if page.count < pageSize { return entries }
        }
    }
}

public enum ClusterVaultError: Error, Equatable, Sendable {
    case keyUnavailable(KeyName)
    case clientKeyUnavailable(ClientKeyName)
    case logIndexOutOfOrder(expected: UInt64, actual: UInt64)
}
