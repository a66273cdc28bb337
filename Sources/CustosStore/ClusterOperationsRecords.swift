import Foundation

/// The stored forms of operator commands and client nodes (schema version 7).

/// An item a replica relays for approval (a command or a client record), with the certificate
/// once a quorum approved it. `kind` is the key log's scheduled kind (1 client record, 2 command).
public struct ClusterRelayedRecord: Sendable, Equatable {
    public var kind: UInt64
    /// SHA-256 of `item`.
    public var digest: [UInt8]
    public var item: [UInt8]
    public var certificate: [UInt8]?
    public var receivedAt: Date

    public init(kind: UInt64, digest: [UInt8], item: [UInt8], certificate: [UInt8]?, receivedAt: Date) {
        self.kind = kind
        self.digest = digest
        self.item = item
        self.certificate = certificate
        self.receivedAt = receivedAt
    }
}

/// A client key name (client, epoch) as the store keys rows by it.
public struct ClusterClientKeyRef: Hashable, Sendable, CustomStringConvertible {
    public var client: UInt32
    public var epoch: UInt64

    public init(client: UInt32, epoch: UInt64) {
        self.client = client
        self.epoch = epoch
    }

    public var description: String { "(client \(client), e\(epoch))" }
}

/// Which cluster this data directory belongs to, as which client node.
public struct ClusterClientMembershipRecord: Sendable, Equatable {
    public var clusterID: [UInt8]
    public var client: UInt32
    /// The exact SignedConfiguration bytes, verified against the pinned genesis hash.
    public var configuration: [UInt8]
    public var joinedAt: Date

    public init(clusterID: [UInt8], client: UInt32, configuration: [UInt8], joinedAt: Date) {
        self.clusterID = clusterID
        self.client = client
        self.configuration = configuration
        self.joinedAt = joinedAt
    }
}

/// The three keystore keys of one client key name and, for a candidate (epoch ≥ 1), the exact
/// ClientRecord bytes that were (or will be) submitted. Epoch 0 keys have no record (their
/// public parts travel in the add-client command's descriptor).
public struct ClusterClientKeySetRecord: Sendable, Equatable {
    public var name: ClusterClientKeyRef
    public var record: [UInt8]?
    public var signingKeyID: String
    public var tlsKeyID: String
    public var apiTLSKeyID: String
    public var createdAt: Date

    public init(name: ClusterClientKeyRef, record: [UInt8]?, signingKeyID: String, tlsKeyID: String, apiTLSKeyID: String, createdAt: Date) {
        self.name = name
        self.record = record
        self.signingKeyID = signingKeyID
        self.tlsKeyID = tlsKeyID
        self.apiTLSKeyID = apiTLSKeyID
        self.createdAt = createdAt
    }

    public var keyIDs: [String] { [signingKeyID, tlsKeyID, apiTLSKeyID] }
}

/// What the operator's data directory remembers of one cluster it created: the configuration
/// it signed, the next unused command number, the alias of the operator key that signs now and
/// of the key a rotate-operator-key command introduced (promoted once that command executed).
public struct ClusterOperatorRecord: Sendable, Equatable {
    public var clusterID: [UInt8]
    /// The exact SignedConfiguration bytes.
    public var configuration: [UInt8]
    public var nextCommand: UInt64
    public var keyAlias: String
    public var pendingKeyAlias: String?
    /// The number of the rotate-operator-key command that names the pending key.
    public var pendingCommand: UInt64?
    public var createdAt: Date

    public init(clusterID: [UInt8], configuration: [UInt8], nextCommand: UInt64, keyAlias: String, pendingKeyAlias: String? = nil,
                pendingCommand: UInt64? = nil, createdAt: Date) {
        self.clusterID = clusterID
        self.configuration = configuration
        self.nextCommand = nextCommand
        self.keyAlias = keyAlias
        self.pendingKeyAlias = pendingKeyAlias
        self.pendingCommand = pendingCommand
        self.createdAt = createdAt
    }
}

/// One command the operator signed, as signed (SignedCommand bytes). For replace-replica, the
/// replica and the generation its new keys are for.
public struct ClusterOperatorCommandRecord: Sendable, Equatable {
    public var clusterID: [UInt8]
    public var number: UInt64
    public var action: String
    public var command: [UInt8]
    public var replica: Int?
    public var generation: UInt64?
    public var signedAt: Date

    public init(clusterID: [UInt8], number: UInt64, action: String, command: [UInt8], replica: Int? = nil, generation: UInt64? = nil, signedAt: Date) {
        self.clusterID = clusterID
        self.number = number
        self.action = action
        self.command = command
        self.replica = replica
        self.generation = generation
        self.signedAt = signedAt
    }
}

/// Persistence of operator commands and client nodes. Decisions as in `ClusterStore`: check,
/// write and audit in one transaction.
public protocol ClusterOperationsStore: Sendable {
    /// At most one command digest is ever approved under a number.
    func decideClusterCommandApproval(number: UInt64, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome
    /// At most one client record digest is ever approved for a client key name.
    func decideClusterClientApproval(_ name: ClusterClientKeyRef, digest: [UInt8], audit: ClusterDecisionAudit) async throws -> ClusterDecisionOutcome

    /// Keeps the first copy of an item (by kind and digest); saving it again changes nothing.
    func saveClusterRelayed(_ item: ClusterRelayedRecord) async throws
    /// Sets (or replaces, after re-certification under newer keys) the certificate of a relayed
    /// item; `keyNotFound` names a digest that is not relayed.
    func saveClusterRelayedCertificate(kind: UInt64, digest: [UInt8], certificate: [UInt8]) async throws
    /// In the order received.
    func clusterRelayed() async throws -> [ClusterRelayedRecord]
    func dropClusterRelayed(digest: [UInt8]) async throws

    func clusterClientMembership() async throws -> ClusterClientMembershipRecord?
    /// Records the client membership with its epoch-0 keys and key set in one transaction;
    /// refuses (`clusterAlreadyJoined`) a directory that is already a replica or a client.
    func joinClusterAsClient(_ membership: ClusterClientMembershipRecord, keys: [(KeyRecord, KeyVersionRecord)],
                             keySet: ClusterClientKeySetRecord, audit: [AuditEvent]) async throws
    /// Stores the keys with their key set in one transaction, unless a key set for the name
    /// exists: then changes nothing and returns the stored one.
    func insertClusterClientKeySet(_ keySet: ClusterClientKeySetRecord, keys: [(KeyRecord, KeyVersionRecord)],
                                   audit: [AuditEvent]) async throws -> ClusterClientKeySetRecord
    func clusterClientKeySet(_ name: ClusterClientKeyRef) async throws -> ClusterClientKeySetRecord?
    func clusterClientKeySets() async throws -> [ClusterClientKeySetRecord]

    /// The clusters this directory created as operator, newest first.
    func clusterOperatorStates() async throws -> [ClusterOperatorRecord]
    /// Inserts or replaces the operator's state of one cluster, with its audit records.
    func saveClusterOperatorState(_ state: ClusterOperatorRecord, audit: [AuditEvent]) async throws
    /// Records a signed command and the operator's state after it (next number, pending key),
    /// with its audit records, in one transaction.
    func recordClusterOperatorCommand(_ command: ClusterOperatorCommandRecord, state: ClusterOperatorRecord, audit: [AuditEvent]) async throws
    func clusterOperatorCommands(clusterID: [UInt8]) async throws -> [ClusterOperatorCommandRecord]
}
