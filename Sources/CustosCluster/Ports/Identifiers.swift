import Foundation

/// A replica's index in the certified configuration: 0 ..< N.
public struct ReplicaID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ value: Int) { rawValue = UInt16(value) }
    public var index: Int { Int(rawValue) }
    public var description: String { "replica \(rawValue)" }
    public static func < (a: ReplicaID, b: ReplicaID) -> Bool { a.rawValue < b.rawValue }
}

/// Names one key set of one replica: generation g (a new generation only after a certified
/// replace-replica command) and epoch e (0 = bootstrap keys, 1 = first operational keys).
public struct KeyName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let replica: ReplicaID
    public let generation: UInt64
    public let epoch: UInt64

    public init(replica: ReplicaID, generation: UInt64, epoch: UInt64) {
        self.replica = replica
        self.generation = generation
        self.epoch = epoch
    }

    public static func bootstrap(_ replica: ReplicaID) -> KeyName { KeyName(replica: replica, generation: 0, epoch: 0) }
    public var next: KeyName { KeyName(replica: replica, generation: generation, epoch: epoch + 1) }
    public var description: String { "(\(replica.rawValue), g\(generation), e\(epoch))" }

    public static func < (a: KeyName, b: KeyName) -> Bool {
        (a.replica, a.generation, a.epoch) < (b.replica, b.generation, b.epoch)
    }
}

/// The phases of a consensus message that Custos signs shares for. `viewChange` for view v
/// raises the view floor: afterwards shares for views below v are refused.
public enum ConsensusPhase: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case prePrepare = 0, prepare = 1, commit = 2, viewChange = 3
    public var description: String {
        switch self {
        case .prePrepare: "pre-prepare"
        case .prepare: "prepare"
        case .commit: "commit"
        case .viewChange: "view-change"
        }
    }
}

/// One slot of the no-equivocation watermark: at most one digest is ever signed for it.
public struct ConsensusSlot: Hashable, Sendable, CustomStringConvertible {
    public let view: UInt64
    public let sequence: UInt64
    public let phase: ConsensusPhase

    public init(view: UInt64, sequence: UInt64, phase: ConsensusPhase) {
        self.view = view
        self.sequence = sequence
        self.phase = phase
    }

    public var description: String { "view \(view), sequence \(sequence), \(phase)" }
}

/// A client node's id, assigned by the add-client command. Never reused: an id once added
/// stays used after remove-client.
public struct ClientID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ value: Int) { rawValue = UInt32(value) }
    public var description: String { "client \(rawValue)" }
    public static func < (a: ClientID, b: ClientID) -> Bool { a.rawValue < b.rawValue }
}

/// Names one key set of one client: epoch 0 = the keys of add-client. Clients have no
/// generations: a client that lost its keys is removed and added under a new id.
public struct ClientKeyName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let client: ClientID
    public let epoch: UInt64

    public init(client: ClientID, epoch: UInt64) {
        self.client = client
        self.epoch = epoch
    }

    public var next: ClientKeyName { ClientKeyName(client: client, epoch: epoch + 1) }
    public var description: String { "(\(client), e\(epoch))" }

    public static func < (a: ClientKeyName, b: ClientKeyName) -> Bool { (a.client, a.epoch) < (b.client, b.epoch) }
}

/// A node of the network: a replica or a client.
public enum NodeRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    case replica(ReplicaID)
    case client(ClientID)

    public var description: String {
        switch self {
        case .replica(let r): r.description
        case .client(let k): k.description
        }
    }

    /// Replicas first, then clients, each by id.
    public static func < (a: NodeRef, b: NodeRef) -> Bool {
        switch (a, b) {
        case (.replica(let x), .replica(let y)): x < y
        case (.client(let x), .client(let y)): x < y
        case (.replica, .client): true
        case (.client, .replica): false
        }
    }
}

/// Named bits of a kinds set, shared by the replica and client key kinds.
public protocol KeyKindNames: OptionSet, Sendable where RawValue == UInt64, Element == Self {
    /// Each known bit with its name, in bit order.
    static var named: [(Self, String)] { get }
}

extension KeyKindNames {
    public static var all: Self { Self(named.map(\.0)) }

    /// Validates raw bits from the wire: nonzero, no unknown bit.
    public init?(validating raw: UInt64) {
        let kinds = Self(rawValue: raw)
        guard raw != 0, Self.all.isSuperset(of: kinds) else { return nil }
        self = kinds
    }

    /// From names ("consensus", "main", …); nil for an unknown name or an empty list.
    public init?(names: [String]) {
        var kinds = Self()
        for name in names {
            guard let bit = Self.named.first(where: { $0.1 == name })?.0 else { return nil }
            kinds.insert(bit)
        }
        guard !kinds.isEmpty else { return nil }
        self = kinds
    }

    /// The names of the bits set, in bit order.
    public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }
}

/// The kinds of a replica key set a rotation renews.
public struct ReplicaKeyKinds: KeyKindNames {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let consensus = ReplicaKeyKinds(rawValue: 1)
    public static let main = ReplicaKeyKinds(rawValue: 2)
    public static let tls = ReplicaKeyKinds(rawValue: 4)
    public static var named: [(ReplicaKeyKinds, String)] { [(.consensus, "consensus"), (.main, "main"), (.tls, "tls")] }
}

/// The kinds of a client key set a rotation renews.
public struct ClientKeyKinds: KeyKindNames {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let signing = ClientKeyKinds(rawValue: 1)
    public static let tls = ClientKeyKinds(rawValue: 2)
    public static let apiTLS = ClientKeyKinds(rawValue: 4)
    public static var named: [(ClientKeyKinds, String)] { [(.signing, "signing"), (.tls, "tls"), (.apiTLS, "api-tls")] }
}
