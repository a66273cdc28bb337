import CustosCrypto

/// Client records (docs/cluster.md, "Client keys"): a client submits its own record to a
/// replica, which relays it; replicas approve one record per (k, e).
extension ReplicaNode {
    /// Peer request 8 from client `client` (authenticated by its TLS pin): the record must be
    /// its own and pass the approver's checks; then it is stored for relaying and one relay
    /// round runs. The same record again answers where it stands.
    public func submitClientRecord(_ bytes: [UInt8], from client: ClientID) async throws -> ClientSubmissionState {
        try requireStarted()
        let record: ClientKeyRecord
        do {
            record = try ClientKeyRecord(bytes: bytes)
            guard record.name.client == client else { throw ClusterError.clientMismatch(sender: client, named: record.name.client) }
            if let state = try await submissionState(record) { return state }
            try await checkClientRecordCatchingUp(record)
        } catch {
            throw await refuse("cluster.client-record", subject: "record from \(client)", error)
        }
        try await vault.saveRelayed(kind: .clientRecord, item: bytes)
        await report("cluster.client-record", "ok", subject: "\(record.name)",
                     detail: "digest \(Hex.encode(record.digest.prefix(8))), submitted by \(client), relaying")
        await relayRound()
        return try await submissionState(record) ?? ClientSubmissionState(state: .pending, approvals: 0, quorum: UInt64(quorum))
    }

    /// Where a record already known stands: in the log, certified, or relaying; nil when new.
    func submissionState(_ record: ClientKeyRecord) async throws -> ClientSubmissionState? {
        if scheduledItemDigests().contains(record.digest) {
            return ClientSubmissionState(state: .inLog, approvals: UInt64(quorum), quorum: UInt64(quorum))
        }
        guard let relayed = try await vault.relayed().first(where: { $0.digest == record.digest }) else { return nil }
        if relayed.certificate != nil { return ClientSubmissionState(state: .certified, approvals: UInt64(quorum), quorum: UInt64(quorum)) }
        return ClientSubmissionState(state: .pending, approvals: UInt64(relayProgress[record.digest]?.approvals ?? 0), quorum: UInt64(quorum))
    }

    /// The log's checks of a client record. A refusal that a lagging log explains (the client,
    /// the command or the previous epoch not in it yet) makes this replica catch up once and
    /// check again.
    func checkClientRecordCatchingUp(_ record: ClientKeyRecord) async throws {
        do {
            try log.checkClientRecord(record)
        } catch let error as ClusterError where Self.lagExplains(error) {
            try? await catchUp()
            try log.checkClientRecord(record)
        }
    }

    static func lagExplains(_ error: ClusterError) -> Bool {
        switch error {
        case .unexpectedClientEpoch(let name, let expected): name.epoch > expected
        case .unknownClient, .unknownCommand: true
        default: false
        }
    }

    /// Peer request 7: every check of the log's, then the durable decision (one record per
    /// (k, e)), then the share by this replica's current consensus key over the client-key-approval message.
    func approveClientRecord(_ bytes: [UInt8], from sender: ReplicaID) async throws -> Approval {
        var subject = "client record from \(sender)"
        do {
            let record = try ClientKeyRecord(bytes: bytes)
            subject = "\(record.name) from \(sender)"
            try await checkClientRecordCatchingUp(record)
            let signer = try currentOwnKey()
            let event = ClusterAuditEvent(operation: "cluster.client-approve", outcome: "ok", subject: "\(record.name)",
                                          detail: "record \(Hex.encode(record.digest.prefix(8))), relayed by \(sender)")
            switch try await vault.decideClientApproval(record.name, digest: record.digest, audit: event) {
            case .recorded, .alreadyRecorded: break
            case .conflicts: throw ClusterError.clientApprovalConflict(record.name)
            }
            let share = try await vault.signConsensus(signer, ClientKeyRecord.approvalMessage(cluster: cluster, record: record),
                                                      domain: SignatureTag.clientKeyApprovalDST)
            return Approval(approverKey: signer, share: share)
        } catch {
            throw await refuse("cluster.client-approve", subject: subject, error)
        }
    }
}
