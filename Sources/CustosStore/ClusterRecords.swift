import Foundation

/// The replica network's rows (schema version 6). The protocol's own types live in
/// CustosCluster, above the store; these are their stored forms.

/// A key name (replica, generation, epoch) as the store keys rows by it.
public struct ClusterKeyRef: Hashable, Sendable, CustomStringConvertible {
    public var replica: Int
    public var generation: UInt64
    public var epoch: UInt64

    public init(replica: Int, generation: UInt64, epoch: UInt64) {
        self.replica = replica
        self.generation = generation
        self.epoch = epoch
    }

    public var description: String { "(\(replica), g\(generation), e\(epoch))" }
}

/// Which cluster this data directory belongs to, and as which replica.
public struct ClusterMembershipRecord: Sendable, Equatable {
    public var clusterID: [UInt8]
    public var replica: Int
    /// The exact SignedConfiguration bytes of the bundle.
    public var configuration: [UInt8]
    public var joinedAt: Date
    /// The replica's generation: 0 from genesis, g ≥ 1 after a replace-replica command.
    public var generation: UInt64

    public init(clusterID: [UInt8], replica: Int, configuration: [UInt8], joinedAt: Date, generation: UInt64 = 0) {
        self.clusterID = clusterID
        self.replica = replica
        self.configuration = configuration
        self.joinedAt = joinedAt
        self.generation = generation
    }
}

/// The three keystore keys of one key name and, for a candidate, the exact record bytes
/// that were (or will be) sent. Bootstrap key sets, imported from a bundle, have no record.
public struct ClusterKeySetRecord: Sendable, Equatable {
    public var name: ClusterKeyRef
    public var record: [UInt8]?
    public var consensusKeyID: String
    public var mainKeyID: String
    public var tlsKeyID: String
    public var createdAt: Date

    public init(name: ClusterKeyRef, record: [UInt8]?, consensusKeyID: String, mainKeyID: String, tlsKeyID: String, createdAt: Date) {
        self.name = name
        self.record = record
        self.consensusKeyID = consensusKeyID
        self.mainKeyID = mainKeyID
        self.tlsKeyID = tlsKeyID
        self.createdAt = createdAt
    }

    public var keyIDs: [String] { [consensusKeyID, mainKeyID, tlsKeyID] }
}

/// The outcome of a durable decision, as the store made it inside its transaction.
public enum ClusterDecisionOutcome: Equatable, Sendable {
    case recorded
    case alreadyRecorded
    case conflicts(existingDigest: [UInt8])
    /// Consensus shares only: at or below the effective floor (low watermark or restore floor).
    case belowFloor(floor: UInt64)
    /// Consensus shares only: below the view floor.
    case viewLeft(viewFloor: UInt64)
}

public struct ClusterFloorsRecord: Equatable, Sendable {
    public var lowWatermark: UInt64
    public var viewFloor: UInt64
    /// The highest sequence a share was ever recorded for (kept after pruning).
    public var highestSigned: UInt64?

    public init(lowWatermark: UInt64, viewFloor: UInt64, highestSigned: UInt64?) {
        self.lowWatermark = lowWatermark
        self.viewFloor = viewFloor
        self.highestSigned = highestSigned
    }
}

public struct ClusterLogRow: Equatable, Sendable {
    public var index: UInt64
    public var sequence: UInt64
    public var entry: [UInt8]
    public var head: [UInt8]

    public init(index: UInt64, sequence: UInt64, entry: [UInt8], head: [UInt8]) {
        self.index = index
        self.sequence = sequence
        self.entry = entry
        self.head = head
    }
}

/// The audit records of a decision, built from its outcome inside the decision's
/// transaction (so a refusal is recorded as one).
public typealias ClusterDecisionAudit = @Sendable (ClusterDecisionOutcome) -> [AuditEvent]

/// The replica network's persistence. Every decision method checks, writes and appends its
/// audit records in one transaction: durable, with its audit record, when it returns.
public protocol ClusterStore: ClusterOperationsStore {
    func clusterMembership() async throws -> ClusterMembershipRecord?
    /// Records the membership with the imported bootstrap keys and their key set, in one
    /// transaction; refuses (`clusterAlreadyJoined`) when the directory is already a member.
    func joinCluster(_ membership: ClusterMembershipRecord, keys: [(KeyRecord, KeyVersionRecord)], keySet: ClusterKeySetRecord,
                     audit: [AuditEvent]) async throws

    /// Stores the keys with their key set (and record bytes) in one transaction, unless a
    /// key set for the name exists: then changes nothing and returns the stored one.
    func insertClusterKeySet(_ keySet: ClusterKeySetRecord, keys: [(KeyRecord, KeyVersionRecord)], audit: [AuditEvent]) async throws -> ClusterKeySetRecord
    func clusterKeySet(_ name: ClusterKeyRef) async throws -> ClusterKeySetRecord?
    func clusterKeySets() async throws -> [ClusterKeySetRecord]

    func decideClusterApproval(_ name: ClusterKeyRef, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome
    /// The consensus-share watermark: refuses a sequence at or below max(`floor`, low
    /// watermark), a view below the view floor, another digest for a recorded slot; a
    /// view-change (`phase == viewChangePhase`) raises the view floor to its view.
    func decideConsensusShare(view: UInt64, sequence: UInt64, phase: UInt8, digest: [UInt8], floor: UInt64,
                              viewChangePhase: UInt8, audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome
    func decideClusterCheckpoint(boundary: UInt64, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome
    func pruneConsensusShares(through sequence: UInt64) async throws
    func consensusFloors() async throws -> ClusterFloorsRecord
    /// The digest recorded for one slot, if any (tests and diagnostics).
    func consensusShareDigest(view: UInt64, sequence: UInt64, phase: UInt8) async throws -> [UInt8]?

    /// Appends the next entry; refuses (`clusterLogOutOfOrder`) an index that is not the next.
    func appendClusterLogEntry(_ row: ClusterLogRow) async throws
    func clusterLogEntries(after index: UInt64, limit: Int) async throws -> [ClusterLogRow]

    func saveClusterCertificate(_ name: ClusterKeyRef, certificate: [UInt8]) async throws
    func clusterCertificate(_ name: ClusterKeyRef) async throws -> [UInt8]?

    /// Keeps the first certificate stored for a boundary.
    func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) async throws
    func stableCheckpoints(after boundary: UInt64, limit: Int) async throws -> [(boundary: UInt64, certificate: [UInt8])]
    func latestStableCheckpoint() async throws -> (boundary: UInt64, certificate: [UInt8])?
}
