import Crypto
import CustosCrypto

/// Operator commands (docs/cluster.md, "Operator commands"): received from the operator,
/// approved for peers that relay them, and reported with their progress.
extension ReplicaNode {
    // MARK: Receiving

    /// A command from the operator (`POST /v1/cluster/commands`): checked as an approver would,
    /// stored for relaying, then one relay round. A refusal is audited, returned, and stores nothing.
    public func submitCommand(_ bytes: [UInt8]) async throws -> CommandState {
        try requireStarted()
        let command: OperatorCommand
        do {
            guard bytes.count <= OperatorCommand.maximumByteCount else {
                throw ClusterError.oversized(what: "signed command", limit: OperatorCommand.maximumByteCount, actual: bytes.count)
            }
            command = try OperatorCommand(bytes: bytes)
            if let known = await commandStatus(digest: command.digest) {
                // The same command again: where it stands, nothing stored twice.
                return known.state
            }
            try checkCommandAsApprover(command)
        } catch {
            throw await refuse("cluster.command", subject: "command submitted", error)
        }
        try await vault.saveRelayed(kind: .command, item: bytes)
        await report("cluster.command", "ok", subject: "command \(command.number)",
                     detail: "\(command.action.name), digest \(Hex.encode(command.digest.prefix(8))), relaying")
        await relayRound()
        return await commandStatus(digest: command.digest)?.state ?? .relaying(approvals: 0, quorum: quorum)
    }

    /// The approver's checks of a command in the order of docs/cluster.md: cluster, operator
    /// signature under the operator key of this replica's log, expiry on the injected clock,
    /// then number, targets and the action's own checks against the log.
    func checkCommandAsApprover(_ command: OperatorCommand) throws {
        guard command.clusterID == cluster else { throw ClusterError.clusterMismatch }
        try command.verify(operatorKey: log.operatorKey)
        try command.checkExpiry(now: nowSeconds)
        try log.checkCommand(command)
    }

    var nowSeconds: UInt64 { UInt64(max(0, clock.now().timeIntervalSince1970)) }

    // MARK: Approver

    /// Peer request 6: every check, then the durable decision (one command per number), then
    /// the share by this replica's current consensus key over the command-approval message.
    func approveCommand(_ bytes: [UInt8], from sender: ReplicaID) async throws -> Approval {
        var subject = "command from \(sender)"
        do {
            let command = try OperatorCommand(bytes: bytes)
            subject = "command \(command.number) from \(sender)"
            try checkCommandAsApprover(command)
            let signer = try currentOwnKey()
            let event = ClusterAuditEvent(operation: "cluster.command-approve", outcome: "ok", subject: "command \(command.number)",
                                          detail: "\(command.action.name), digest \(Hex.encode(command.digest.prefix(8))), relayed by \(sender)")
            switch try await vault.decideCommandApproval(command.number, digest: command.digest, audit: event) {
            case .recorded, .alreadyRecorded: break
            case .conflicts(let existing):
                await report("cluster.command-contested", "refused", subject: "command \(command.number)",
                             detail: "digest \(Hex.encode(command.digest.prefix(8))) from \(sender); approved \(Hex.encode(existing.prefix(8)))")
                throw ClusterError.commandContested(command.number)
            }
            let share = try await vault.signConsensus(signer, OperatorCommand.approvalMessage(cluster: cluster, command: command),
                                                      domain: SignatureTag.commandApprovalDST)
            return Approval(approverKey: signer, share: share)
        } catch {
            throw await refuse("cluster.command-approve", subject: subject, error)
        }
    }

    // MARK: Progress

    /// Every command this replica knows: relayed ones not yet in the log (relaying, contested,
    /// certified) and those the log holds (executed, complete or void), by number.
    public func commands() async -> [CommandStatus] {
        var all = scheduledCommands()
        let inLog = Set(all.map(\.digest))
        for item in (try? await vault.relayed()) ?? [] where item.kind == .command && !inLog.contains(item.digest) {
            guard let command = try? OperatorCommand(bytes: item.item) else { continue }
            all.append(relayedStatus(command, certified: item.certificate != nil))
        }
        return all.sorted { ($0.number, $0.sequence ?? .max) < ($1.number, $1.sequence ?? .max) }
    }

    func relayedStatus(_ command: OperatorCommand, certified: Bool) -> CommandStatus {
        let progress = relayProgress[command.digest]
        let approvals = progress?.approvals ?? 0
        let state: CommandState = certified ? .certified
            : (progress?.contested ?? false) && approvals < quorum ? .contested : .relaying(approvals: approvals, quorum: quorum)
        return CommandStatus(number: command.number, action: command.action.name, digest: command.digest, state: state,
                             targetsRemaining: [], sequence: nil)
    }

    /// The commands of the log: accepted ones with their progress, void ones with the reason.
    func scheduledCommands() -> [CommandStatus] {
        var result: [CommandStatus] = []
        for stored in log.entries {
            guard let entry = try? LogEntry(bytes: stored.bytes), entry.kind == .command else { continue }
            let digest = Array(SHA256.hash(data: entry.item))
            guard let command = try? OperatorCommand(bytes: entry.item) else {
                result.append(CommandStatus(number: 0, action: "malformed", digest: digest, state: .void(reason: entry.reason),
                                            targetsRemaining: [], sequence: stored.sequence))
                continue
            }
            if entry.status == .void {
                result.append(CommandStatus(number: command.number, action: command.action.name, digest: digest,
                                            state: .void(reason: entry.reason), targetsRemaining: [], sequence: stored.sequence))
            } else if let progress = log.commandProgress(command.number) {
                result.append(CommandStatus(number: command.number, action: command.action.name, digest: digest,
                                            state: progress.complete ? .complete : .executed, targetsRemaining: progress.targetsRemaining,
                                            sequence: stored.sequence))
            }
        }
        return result
    }

    func commandStatus(digest: [UInt8]) async -> CommandStatus? {
        await commands().first { $0.digest == digest }
    }
}
