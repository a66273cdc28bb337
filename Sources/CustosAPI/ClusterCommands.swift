import CustosMacros
import Foundation

// Operator commands, client nodes and what a node is told of them (docs/cluster.md, "Operator
// commands" and "Client nodes"). Byte strings are base64; digests, keys and pins lower-case hex.

/// A signed operator command handed to a replica, which checks it as an approver and relays it.
@PublicMemberwiseInit
public struct ClusterCommandRequest: Codable, Sendable {
    /// The SignedCommand bytes, base64.
    public var command: String
}

/// Where a command stands on the replica that answers.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterCommandStatus: Codable, Sendable, Equatable {
    public var number: UInt64
    /// rotate-replica-keys, rotate-client-keys, add-client, remove-client, replace-replica or rotate-operator-key.
    public var action: String
    /// SHA-256 of the SignedCommand bytes, hex.
    public var digest: String
    /// relaying, contested, certified, executed, void or complete.
    public var state: String
    /// Why the command is void (the key log's reason); absent otherwise.
    public var reason: String? = nil
    /// Approvals gathered while relaying (the quorum once certified).
    public var approvals: Int
    public var quorum: Int
    /// The targets that have not yet rotated for it: "replica 2", "client 1".
    public var targetsRemaining: [String] = []
    /// The ledger sequence it was scheduled at, once in the key log.
    public var sequence: UInt64? = nil
}

@PublicMemberwiseInit
public struct ClusterCommandsResponse: Codable, Sendable, Equatable {
    public var commands: [ClusterCommandStatus]
}

/// A client node as the key log knows it.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterClientStatus: Codable, Sendable, Equatable {
    public var id: UInt32
    public var removed: Bool
    public var newestEpoch: UInt64
    /// The epoch in the client keyset at the latest sequence; absent while none is (just added).
    public var activeEpoch: UInt64?
    /// ed25519 or ecdsa-p256-sha256.
    public var signingScheme: String
    /// The newest signing public key, hex (raw 32 bytes, or SEC1 uncompressed 65).
    public var signingKey: String
    /// The pins the replicas accept now (active and newest), hex.
    public var tlsPins: [String]
    public var apiTlsPins: [String]
    /// Rotate commands this client has not answered yet.
    public var pendingCommands: [UInt64]
    /// The sequence of its newest key's schedule entry; absent for the keys of add-client.
    public var lastRotatedSequence: UInt64?
}

@PublicMemberwiseInit
public struct ClusterClientsResponse: Codable, Sendable, Equatable {
    public var clients: [ClusterClientStatus]
}

/// A client node's own view: its keys, its orders and the replica it follows.
@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct ClusterClientNodeStatus: Codable, Sendable, Equatable {
    /// Always "client": tells this body from a replica's status.
    public var role: String = "client"
    public var clusterID: String
    public var client: UInt32
    /// starting, following, rotating or removed.
    public var phase: String
    public var newestEpoch: UInt64?
    public var activeEpoch: UInt64?
    /// A candidate for this epoch is submitted and not yet in the log.
    public var pendingEpoch: UInt64? = nil
    /// Rotate commands addressed to this client that it has not answered yet.
    public var pendingCommands: [UInt64]
    /// The replica whose log it last read.
    public var followedReplica: Int?
    public var logLength: UInt64
    public var logHead: String
    public var latestCheckpoint: UInt64
    /// Why the client node did not start, tried again each round; absent once started.
    public var startError: String? = nil
}

/// The status route's answer: a replica's, or a client node's (which carries `"role": "client"`).
public enum ClusterNodeStatus: Codable, Sendable, Equatable {
    case replica(ClusterStatusResponse)
    case client(ClusterClientNodeStatus)

    private enum Role: String, CodingKey { case role }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Role.self)
        if try container.decodeIfPresent(String.self, forKey: .role) == "client" {
            self = .client(try ClusterClientNodeStatus(from: decoder))
        } else {
            self = .replica(try ClusterStatusResponse(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .replica(let status): try status.encode(to: encoder)
        case .client(let status): try status.encode(to: encoder)
        }
    }
}

/// A message for a client node to sign with its active signing key.
@PublicMemberwiseInit
public struct ClusterClientSignRequest: Codable, Sendable {
    /// The message bytes, base64.
    public var message: String
}

@PublicMemberwiseInit
public struct ClusterClientSignature: Codable, Sendable, Equatable {
    public var client: UInt32
    /// The epoch of the signing key: verifiers look it up in the client keyset.
    public var epoch: UInt64
    public var scheme: String
    /// Ed25519 64 bytes, or ECDSA P-256 raw r‖s 64 bytes; base64.
    public var signature: String
}
