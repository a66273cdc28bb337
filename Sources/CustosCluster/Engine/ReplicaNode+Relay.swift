import BLS12381
import Crypto
import CustosCrypto

/// Relaying (docs/cluster.md, "Approving commands and client records"): the commands and client
/// records this replica received are sent to every peer each round until Q approvals certify
/// them; certified items wait for the ledger to schedule them.
extension ReplicaNode {
    /// How one relayed item is approved: its approval message and domain, the peer request
    /// that asks for it, and this replica's own approval.
    struct RelayJob {
        let kind: ScheduledKind
        let digest: [UInt8]
        let subject: String
        let message: [UInt8]
        let domain: BLS12381.DomainSeparationTag
        let request: [UInt8]
        /// The refusal text a peer answers when it approved another command under this number.
        let contested: String?
    }

    func relayJob(_ item: RelayedItem) throws -> RelayJob {
        switch item.kind {
        case .command:
            let command = try OperatorCommand(bytes: item.item)
            return RelayJob(kind: .command, digest: item.digest, subject: "command \(command.number)",
                            message: OperatorCommand.approvalMessage(cluster: cluster, command: command),
                            domain: SignatureTag.commandApprovalDST, request: PeerRequest.approveCommand(item.item).encoded,
                            contested: ClusterError.commandContested(command.number).description)
        case .clientRecord:
            let record = try ClientKeyRecord(bytes: item.item)
            return RelayJob(kind: .clientRecord, digest: item.digest, subject: "\(record.name)",
                            message: ClientKeyRecord.approvalMessage(cluster: cluster, record: record),
                            domain: SignatureTag.clientKeyApprovalDST, request: PeerRequest.approveClientRecord(item.item).encoded,
                            contested: nil)
        case .replicaRecord:
            throw ClusterError.malformed("a replica record is not relayed")
        }
    }

    /// One relay round, called by the service each round (and by `advanceKeyExchange`): own
    /// rotation orders first, then every relayed item not in the log and not certified under
    /// keys still current is sent to every peer. Items the log holds (accepted or void) are
    /// dropped. Failures are audited, never thrown: the next round tries again.
    public func relayRound() async {
        guard started else { return }
        do {
            try await executeRotationOrders()
        } catch {
            await report("cluster.rotate", "refused", subject: "\(replica)", detail: String(describing: ReplicaNode.clusterError(error)))
        }
        let items: [RelayedItem]
        do { items = try await vault.relayed() } catch { return }
        let scheduled = scheduledItemDigests()
        for item in items {
            if scheduled.contains(item.digest) {
                try? await vault.dropRelayed(digest: item.digest)
                relayProgress[item.digest] = nil
                continue
            }
            guard let job = try? relayJob(item) else {
                try? await vault.dropRelayed(digest: item.digest)
                continue
            }
            if let certificate = item.certificate, certificateIsCurrent(certificate, message: job.message, domain: job.domain) { continue }
            await relay(item, job)
        }
    }

    /// Asks every peer (and itself) to approve one item; exactly Q approvals in replica order
    /// form the certificate, which is saved.
    func relay(_ item: RelayedItem, _ job: RelayJob) async {
        var approvals: [Approval] = []
        var contested = false
        do {
            approvals.append(try await approveOwn(item))
        } catch {
            if let text = job.contested, String(describing: error).contains(text) {
                contested = true
            } else {
                // No longer approvable here (expired, number passed, client removed…): it never will be.
                try? await vault.dropRelayed(digest: item.digest)
                relayProgress[item.digest] = nil
                await report(job.kind == .command ? "cluster.command" : "cluster.client-record", "refused", subject: job.subject,
                             detail: "dropped from relaying: \(ReplicaNode.clusterError(error))")
                return
            }
        }
        guard let keyset = try? presentKeyset() else { return }
        var refusals: [String] = []
        await peers.broadcast({ _ in job.request }, to: otherReplicas) { peer, result in
            switch result {
            case .success(let response):
                do {
                    approvals.append(try verifiedApproval(response, from: peer, keyset: keyset, message: job.message, domain: job.domain))
                } catch {
                    refusals.append("\(peer): \(error)")
                }
            case .failure(let error):
                if let text = job.contested, String(describing: error).contains(text) { contested = true }
                refusals.append("\(peer): \(error is PeerFanOut.TimedOut ? "timed out" : String(describing: error))")
            }
            return true
        }
        for refusal in refusals {
            await report("cluster.approval-received", "refused", subject: job.subject, detail: refusal)
        }
        let wasContested = relayProgress[job.digest]?.contested ?? false
        relayProgress[job.digest] = (approvals.count, contested)
        guard approvals.count >= quorum else {
            if contested && !wasContested {
                await report("cluster.command-contested", "refused", subject: job.subject,
                             detail: "another command holds this number at some replicas; \(approvals.count) of \(quorum) approvals: reissue under a new number")
            }
            return
        }
        let chosen = Array(approvals.sorted { $0.approver < $1.approver }.prefix(quorum))
        do {
            let certificate = try ClusterCertificate.combine(chosen, message: job.message, domain: job.domain,
                                                             replicaCount: configuration.n, quorum: quorum) { log.key($0)?.consensusKey }
            try await vault.saveRelayedCertificate(kind: job.kind, digest: job.digest, certificate: certificate.bytes)
            await report(job.kind == .command ? "cluster.command-certify" : "cluster.certify", "ok", subject: job.subject,
                         detail: "signers \(chosen.map { $0.approver.rawValue })")
        } catch {
            await report(job.kind == .command ? "cluster.command-certify" : "cluster.certify", "refused", subject: job.subject,
                         detail: String(describing: ReplicaNode.clusterError(error)))
        }
    }

    /// A peer's answer to an approval request, counted only when it names that peer, its key
    /// is the peer's current one, and its share verifies over `message`.
    func verifiedApproval(_ response: [UInt8], from peer: ReplicaID, keyset: Keyset, message: [UInt8],
                          domain: BLS12381.DomainSeparationTag) throws -> Approval {
        let approval = try Approval(bytes: response)
        guard approval.approver == peer else { throw ClusterError.approverMismatch(sender: peer, named: approval.approver) }
        guard keyset(peer)?.name == approval.approverKey else { throw ClusterError.signerKeyNotActive(approval.approverKey) }
        guard let key = log.key(approval.approverKey)?.consensusKey, key.isValidSignature(approval.share, for: message, domain: domain) else {
            throw ClusterError.badShare(peer)
        }
        return approval
    }

    func approveOwn(_ item: RelayedItem) async throws -> Approval {
        switch item.kind {
        case .command: try await approveCommand(item.item, from: replica)
        case .clientRecord: try await approveClientRecord(item.item, from: replica)
        case .replicaRecord: throw ClusterError.malformed("a replica record is not relayed")
        }
    }

    /// Whether a saved certificate still verifies with the keys current now: a certificate whose
    /// signers rotated before it was scheduled is void and the item is certified again.
    func certificateIsCurrent(_ bytes: [UInt8], message: [UInt8], domain: BLS12381.DomainSeparationTag) -> Bool {
        guard let certificate = try? ClusterCertificate(bytes: bytes, replicaCount: configuration.n),
              let keyset = try? presentKeyset() else { return false }
        return (try? certificate.verify(message: message, domain: domain, replicaCount: configuration.n, quorum: quorum,
                                        resolver: { name in keyset(name.replica)?.name == name ? log.key(name)?.consensusKey : nil })) != nil
    }

    static let certificateVoidReasons: Set<String> = [KeyLog.VoidReason.malformedCertificate.rawValue, KeyLog.VoidReason.certificateInvalid.rawValue]

    /// SHA-256 of every item the log has settled, kept up to date as it grows: accepted, or void
    /// for a reason of the item itself. An item void only for its certificate (signers rotated
    /// before the ledger scheduled it) is not settled: it is certified again and resubmitted,
    /// as a replica's own record is, or a client whose approvers rotated would be stuck.
    func scheduledItemDigests() -> Set<[UInt8]> {
        while scheduledDigestsIndexed < log.entries.count {
            if let entry = try? LogEntry(bytes: log.entries[scheduledDigestsIndexed].bytes),
               entry.status == .accepted || !Self.certificateVoidReasons.contains(entry.reason) {
                scheduledDigests.insert(Array(SHA256.hash(data: entry.item)))
            }
            scheduledDigestsIndexed += 1
        }
        return scheduledDigests
    }

    /// What the node submits to its ledger: this replica's own certified record, and the
    /// relayed commands and client records certified under keys still current, none of them
    /// in the log yet. A certificate whose signers' keys are no longer current is left out
    /// (the key log would void it); the next round certifies the same item again.
    public func certifiedAwaitingSchedule() async throws -> [CertifiedItem] {
        try requireStarted()
        var result: [CertifiedItem] = []
        if let target = try await proposalTarget(), let bytes = try await vault.candidate(target),
           let certificate = try await vault.certificate(target) {
            let message = Approval.message(cluster: cluster, record: try KeyExchangeRecord(bytes: bytes))
            if certificateIsCurrent(certificate, message: message, domain: SignatureTag.keyLogApprovalDST) {
                result.append(CertifiedItem(kind: .replicaRecord, subject: "\(target)", item: bytes, certificate: certificate, name: target))
            }
        }
        let scheduled = scheduledItemDigests()
        for item in try await vault.relayed() where !scheduled.contains(item.digest) {
            guard let certificate = item.certificate, let job = try? relayJob(item),
                  certificateIsCurrent(certificate, message: job.message, domain: job.domain) else { continue }
            result.append(CertifiedItem(kind: item.kind, subject: job.subject, item: item.item, certificate: certificate, name: nil))
        }
        return result
    }
}
