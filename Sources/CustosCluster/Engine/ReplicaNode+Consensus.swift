import BLS12381
import CustosCrypto

/// Consensus shares for the node, never two digests for one slot (docs/cluster.md,
/// "Consensus signing" and "Restore floor").
extension ReplicaNode {
    /// Signs M(consensus-share, cluster, [view, sequence, phase, digest]) with this replica's
    /// consensus key in keyset(sequence), after the vault's durable watermark decision: a
    /// different digest for the slot, a slot at or below the floor, or a view below one left is
    /// refused. The same request again returns the same share (BLS signing is deterministic).
    public func consensusShare(view: UInt64, sequence: UInt64, phase: ConsensusPhase, digest: [UInt8]) async throws -> ConsensusShare {
        let slot = ConsensusSlot(view: view, sequence: sequence, phase: phase)
        do {
            try requireStarted()
            guard let floor = restoreFloor else { throw ClusterError.recovering }
            let message = try ConsensusMessage(view: view, sequence: sequence, phase: phase, digest: digest)
            guard let signer = try log.keyset(at: sequence)(replica)?.name else {
                throw ClusterError.replicaOutOfRange(UInt64(replica.rawValue))
            }
            let event = ClusterAuditEvent(operation: "cluster.consensus-share", outcome: "ok", subject: "\(slot)",
                                          detail: "digest \(Hex.encode(digest.prefix(8))), key \(signer)")
            // The BLS signature is computed while the decision is made durable; it is
            // released only after the decision, and dropped when the decision refuses.
            let vault = self.vault
            let signed = message.message(cluster: cluster)
            async let signature = vault.signConsensus(signer, signed, domain: SignatureTag.consensusShareDST)
            switch try await vault.decideConsensusShare(slot, digest: digest, floor: floor, audit: event) {
            case .recorded, .alreadyRecorded: break
            case .conflicts: throw ClusterError.shareConflict(slot)
            case .belowFloor(let floor): throw ClusterError.belowFloor(sequence: sequence, floor: floor)
            case .viewLeft(let viewFloor): throw ClusterError.viewLeft(view: view, viewFloor: viewFloor)
            }
            return ConsensusShare(signer: signer, share: try await signature.compressedRepresentation)
        } catch {
            throw await refuse("cluster.consensus-share", subject: "\(slot)", error)
        }
    }

    /// Combines Q shares over one consensus message into a certificate, each share checked
    /// against its signer's key in keyset(sequence).
    public func combineConsensus(view: UInt64, sequence: UInt64, phase: ConsensusPhase, digest: [UInt8],
                                 shares: [ConsensusShare]) throws -> [UInt8] {
        let message = try ConsensusMessage(view: view, sequence: sequence, phase: phase, digest: digest)
        let keyset = try log.keyset(at: sequence)
        let approvals = try shares.map { share in
            do {
                return Approval(approverKey: share.signer, share: try BLS12381.Signature(compressedRepresentation: share.share))
            } catch {
                throw ClusterError.badShare(share.signer.replica)
            }
        }
        return try ClusterCertificate.combine(approvals, message: message.message(cluster: cluster), domain: SignatureTag.consensusShareDST,
                                              replicaCount: configuration.n, quorum: quorum) { name in
            guard let keys = log.key(name) else { return nil }
            guard keyset(name.replica)?.name == name else { throw ClusterError.signerKeyNotActive(name) }
            return keys.consensusKey
        }.bytes
    }

    /// Verifies a consensus certificate against keyset(sequence), computed from this replica's
    /// own log: the certificate's claims about keys are never trusted.
    public func verifyConsensusCertificate(view: UInt64, sequence: UInt64, phase: ConsensusPhase, digest: [UInt8],
                                           certificate: [UInt8]) throws {
        let message = try ConsensusMessage(view: view, sequence: sequence, phase: phase, digest: digest)
        let decoded = try ClusterCertificate(bytes: certificate, replicaCount: configuration.n)
        try log.verifyCertificate(decoded, message: message.message(cluster: cluster), domain: SignatureTag.consensusShareDST, at: sequence)
    }
}
