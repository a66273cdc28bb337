/// A consensus message the node asks a share for. Custos signs M(consensus-share, cluster,
/// [view, sequence, phase, digest]) itself: the caller never supplies what is signed.
public struct ConsensusMessage: Equatable, Sendable {
    public let view: UInt64
    public let sequence: UInt64
    public let phase: ConsensusPhase
    public let digest: [UInt8]

    public init(view: UInt64, sequence: UInt64, phase: ConsensusPhase, digest: [UInt8]) throws {
        guard digest.count == 32 else { throw ClusterError.malformed("consensus digest must be 32 bytes, has \(digest.count)") }
        self.view = view
        self.sequence = sequence
        self.phase = phase
        self.digest = digest
    }

    public var slot: ConsensusSlot { ConsensusSlot(view: view, sequence: sequence, phase: phase) }

    /// The phase travels as its number: 0 pre-prepare, 1 prepare, 2 commit, 3 view-change.
    public func message(cluster: [UInt8]) -> [UInt8] {
        SignatureTag.consensusShare.message(cluster: cluster, body: .array([
            .unsigned(view), .unsigned(sequence), .unsigned(UInt64(phase.rawValue)), .bytes(digest),
        ]))
    }
}
