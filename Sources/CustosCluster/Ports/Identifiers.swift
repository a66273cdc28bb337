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
