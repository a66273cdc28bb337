import CustosCrypto
import BLS12381

/// Key exchange (docs/cluster.md, "Key exchange"): this replica as proposer of its own records
/// and as approver of its peers'.
extension ReplicaNode {
    // MARK: Proposer

    /// The key name this replica proposes next: epoch 1 of its generation until an operational
    /// key is accepted, and afterwards only a candidate already created (a rotation in flight).
    func proposalTarget() async throws -> KeyName? {
        guard let newest = log.newestKeys(of: replica)?.name else { return nil }
        let next = newest.next
        // Bootstrap keys (of the configuration, or of a replacement's new generation) first.
        if newest.epoch == 0 { return next }
        return try await vault.candidate(next) == nil ? nil : next
    }

    func pendingCandidateName() async throws -> KeyName? {
        guard let target = try await proposalTarget(), try await vault.candidate(target) != nil else { return nil }
        return target
    }

    /// One round of key exchange: creates (or reloads) the candidate, and unless it is already
    /// certified under keys still current, sends the proposal to every peer, verifies their
    /// approvals and combines Q of them into the certificate, which it saves.
    public func advanceKeyExchange() async throws -> KeyExchangeProgress {
        try requireStarted()
        await relayRound()
        guard let target = try await proposalTarget() else { return .idle }
        let authority = KeyName(replica: replica, generation: target.generation, epoch: target.epoch - 1)
        let cluster = self.cluster
        let vault = self.vault
        let bytes = try await vault.createCandidate(target) { keys in
            try await KeyExchangeRecord.build(cluster: cluster, name: target, keys: keys) { message in
                try await vault.signMain(authority, message)
            }.bytes
        }
        let record = try KeyExchangeRecord(bytes: bytes)
        let message = Approval.message(cluster: cluster, record: record)
        if let saved = try await vault.certificate(target), certificateIsCurrent(saved, message: message, domain: SignatureTag.keyLogApprovalDST) {
            return .certified(name: target)
        }

        let proposal = Proposal(record: record, previous: try previousCertified(before: target))
        var approvals: [Approval] = []
        do {
            approvals.append(try await approve(proposal, from: replica))
        } catch {
            // This replica refusing its own record (e.g. its key is gone) is reported, not fatal to the round.
        }
        let request = PeerRequest.approve(proposal).encoded
        let keyset = try presentKeyset()
        var refusals: [String] = []
        await peers.broadcast({ _ in request }, to: otherReplicas) { peer, result in
            switch result {
            case .success(let response):
                do {
                    approvals.append(try verifiedApproval(response, from: peer, keyset: keyset, message: message, domain: SignatureTag.keyLogApprovalDST))
                } catch {
                    refusals.append("\(peer): \(error)")
                }
            case .failure(let error):
                refusals.append("\(peer): \(error is PeerFanOut.TimedOut ? "timed out" : String(describing: error))")
            }
            return true
        }
        for refusal in refusals {
            await report("cluster.approval-received", "refused", subject: "\(target)", detail: refusal)
        }
        guard approvals.count >= quorum else {
            return .collecting(name: target, approvals: approvals.count, quorum: quorum)
        }
        // Exactly Q, in replica order: a certificate no larger than it must be.
        let chosen = Array(approvals.sorted { $0.approver < $1.approver }.prefix(quorum))
        let certificate = try ClusterCertificate.combine(chosen, message: message, domain: SignatureTag.keyLogApprovalDST,
                                                         replicaCount: configuration.n, quorum: quorum) { log.key($0)?.consensusKey }
        try await vault.saveCertificate(target, certificate: certificate.bytes)
        await report("cluster.certify", "ok", subject: "\(target)", detail: "signers \(chosen.map { $0.approver.rawValue })")
        return .certified(name: target)
    }

    /// The accepted record and certificate of the epoch before `name`, for approvers that lag.
    func previousCertified(before name: KeyName) throws -> Proposal.Previous? {
        guard name.epoch > 1 else { return nil }
        let previous = KeyName(replica: name.replica, generation: name.generation, epoch: name.epoch - 1)
        for index in stride(from: Int(log.length) - 1, through: 0, by: -1) where log.status(ofEntry: UInt64(index)) == .accepted {
            let entry = try LogEntry(bytes: log.entries[index].bytes)
            guard entry.kind == .replicaRecord else { continue }
            let record = try KeyExchangeRecord(bytes: entry.item)
            if record.name == previous { return Proposal.Previous(record: record, certificate: entry.certificate) }
        }
        return nil
    }

    /// Starts a rotation: the candidate for the epoch after this replica's newest key, which
    /// must already be active (one rotation at a time). `advanceKeyExchange` then certifies it.
    @discardableResult
    public func requestRotation() async throws -> KeyName {
        try requireStarted()
        guard let newest = log.newestKeys(of: replica)?.name else { throw ClusterError.replicaOutOfRange(UInt64(replica.rawValue)) }
        guard newest.epoch >= 1 else { throw ClusterError.rotationPending(newest.next) }
        guard try currentOwnKey() == newest else { throw ClusterError.rotationPending(newest) }
        let target = newest.next
        let cluster = self.cluster
        let vault = self.vault
        _ = try await vault.createCandidate(target) { keys in
            try await KeyExchangeRecord.build(cluster: cluster, name: target, keys: keys) { message in
                try await vault.signMain(newest, message)
            }.bytes
        }
        await report("cluster.rotate", "ok", subject: "\(target)", detail: "candidate created")
        return target
    }

    // MARK: Approver

    /// Every check of docs/cluster.md "Approver", then the durable decision, then the share by
    /// this replica's current consensus key. A refusal is audited and thrown.
    func approve(_ proposal: Proposal, from sender: ReplicaID) async throws -> Approval {
        let record = proposal.record
        let name = record.name
        do {
            // The sender is authenticated by its TLS pin: it may only propose its own keys.
            guard sender == name.replica else { throw ClusterError.approverMismatch(sender: sender, named: name.replica) }
            try log.checkProposal(proposal)
            let signer = try currentOwnKey()
            let event = ClusterAuditEvent(operation: "cluster.approve", outcome: "ok", subject: "\(name)",
                                          detail: "record \(Hex.encode(record.digest.prefix(8)))")
            switch try await vault.decideApproval(name, digest: record.digest, audit: event) {
            case .recorded, .alreadyRecorded: break
            case .conflicts: throw ClusterError.approvalConflict(name)
            }
            let share = try await vault.signConsensus(signer, Approval.message(cluster: cluster, record: record),
                                                      domain: SignatureTag.keyLogApprovalDST)
            return Approval(approverKey: signer, share: share)
        } catch {
            throw await refuse("cluster.approve", subject: "\(name) from \(sender)", error)
        }
    }
}
