/// Operator commands in the key log (docs/cluster.md, "Operator commands"): their checks and
/// their effects.
extension KeyLog {
    /// One accepted command: where it was scheduled, the targets it resolved to, and how each
    /// target answered (rotations only).
    struct ExecutedCommand: Sendable {
        let command: OperatorCommand
        let sequence: UInt64
        let targets: [NodeRef]
        let targetSet: Set<NodeRef>
        var answers: [NodeRef: Answer] = [:]
    }

    enum Answer: Sendable {
        /// An accepted record scheduled at this sequence satisfied the order.
        case record(sequence: UInt64)
        /// The target was replaced (replica) or removed (client).
        case resolved
    }

    struct RotationOrder: Sendable {
        let number: UInt64
        let kinds: UInt64
    }

    /// The approver's checks of a command against this log, in the log's order: cluster,
    /// operator signature under the current operator key, replay, targets, the action's own
    /// rules. Expiry and the durable one-digest-per-number decision are the approver's.
    public func checkCommand(_ command: OperatorCommand) throws {
        guard command.clusterID == configuration.clusterID else { throw ClusterError.clusterMismatch }
        try command.verify(operatorKey: operatorKey)
        guard command.number > highestCommand else { throw ClusterError.commandReplay(number: command.number, highest: highestCommand) }
        switch command.action {
        case .rotateReplicaKeys(let targets, _):
            for r in targets ?? [] where r.index >= configuration.n { throw ClusterError.unknownTarget("\(r) is not in the configuration") }
        case .rotateClientKeys(let targets, _):
            for k in targets ?? [] { try checkRegistered(k) }
        case .addClient(let descriptor):
            guard clientStates[descriptor.client] == nil else { throw ClusterError.clientIDTaken(descriptor.client) }
            guard (try? descriptor.verify(cluster: configuration.clusterID)) != nil else {
                throw ClusterError.invalidCommand("the client descriptor's binding signature does not verify")
            }
            for pin in descriptor.keySet.pins {
                if let owner = pinOwners[pin] { throw ClusterError.invalidCommand("a pin of \(descriptor.client) is already \(owner)'s") }
            }
        case .removeClient(let k):
            try checkRegistered(k)
        case .replaceReplica(let replacement):
            try checkReplacement(replacement)
        case .rotateOperatorKey(let key, let proof):
            let message = OperatorCommand.operatorKeyBindingMessage(cluster: configuration.clusterID, number: command.number, key: key)
            guard key.isValidSignature(proof, for: message) else {
                throw ClusterError.invalidCommand("the new operator key's proof of possession does not verify")
            }
        }
    }

    private func checkRegistered(_ k: ClientID) throws {
        guard let state = clientStates[k] else { throw ClusterError.unknownTarget("\(k) was never added") }
        guard state.removedAt == nil else { throw ClusterError.unknownTarget("\(k) was removed") }
    }

    /// A replacement's keys must be its own: proof of possession, a valid address no other
    /// replica has, keys no other replica's newest keys are, and a pin the log never saw.
    private func checkReplacement(_ replacement: ReplicaDescriptor) throws {
        let r = replacement.id
        guard r.index < configuration.n else { throw ClusterError.unknownTarget("\(r) is not in the configuration") }
        guard replacement.consensusKey.isValidProofOfPossession(replacement.proofOfPossession) else {
            throw ClusterError.invalidCommand("the proof of possession of the replacement of \(r) does not verify")
        }
        guard ConfigurationBody.isValidAddress(replacement.address) else {
            throw ClusterError.invalidCommand("the address of the replacement of \(r) must be host:port, printable, at most 255 bytes")
        }
        for other in 0..<configuration.n where other != r.index {
            let keys = history[other].last!.keys
            if addresses[other] == replacement.address { throw ClusterError.invalidCommand("the replacement of \(r) has the address of replica \(other)") }
            if keys.consensusKey == replacement.consensusKey || keys.mainKey == replacement.mainKey {
                throw ClusterError.invalidCommand("the replacement of \(r) has a key of replica \(other)")
            }
        }
        if let owner = pinOwners[replacement.tlsPin] {
            throw ClusterError.invalidCommand("the TLS pin of the replacement of \(r) is already used (\(owner))")
        }
    }

    func check(command bytes: [UInt8], certificate: [UInt8], keyset: Keyset) throws(VoidReason) -> OperatorCommand {
        guard let command = try? OperatorCommand(bytes: bytes) else { throw .malformedCommand }
        do {
            try checkCommand(command)
        } catch {
            throw Self.voidReason(forCommandError: error)
        }
        try checkCertificate(certificate, message: OperatorCommand.approvalMessage(cluster: configuration.clusterID, command: command),
                             domain: SignatureTag.commandApprovalDST, keyset: keyset)
        return command
    }

    private static func voidReason(forCommandError error: any Error) -> VoidReason {
        switch error as? ClusterError {
        case .clusterMismatch: .wrongCluster
        case .badCommandSignature: .badOperatorSignature
        case .commandReplay: .commandReplay
        case .unknownTarget: .unknownTarget
        case .clientIDTaken: .clientIDTaken
        case .invalidCommand: .invalidCommand
        default: .malformedCommand
        }
    }

    /// The effects of an accepted command at sequence s.
    mutating func execute(_ command: OperatorCommand, at s: UInt64) {
        highestCommand = command.number
        var targets: [NodeRef] = []
        switch command.action {
        case .rotateReplicaKeys(let list, let kinds):
            targets = (list ?? (0..<configuration.n).map { ReplicaID($0) }).map { .replica($0) }
            for t in targets { orders[t, default: []].append(RotationOrder(number: command.number, kinds: kinds.rawValue)) }
        case .rotateClientKeys(let list, let kinds):
            targets = (list ?? clients).map { .client($0) }
            for t in targets { orders[t, default: []].append(RotationOrder(number: command.number, kinds: kinds.rawValue)) }
        case .addClient(let descriptor):
            clientStates[descriptor.client] = ClientState(addedAt: s)
            addClientKeys(descriptor.keys, at: s)
        case .removeClient(let k):
            clientStates[k]?.removedAt = s
            resolve(.client(k))
        case .replaceReplica(let replacement):
            let r = replacement.id
            let generation = history[r.index].last!.keys.name.generation + 1
            addReplicaKeys(ReplicaKeys(name: KeyName(replica: r, generation: generation, epoch: 0), consensusKey: replacement.consensusKey,
                                       mainKey: replacement.mainKey, tlsPin: replacement.tlsPin), at: s)
            setAddress(replacement.address, of: r)
            resolve(.replica(r))
        case .rotateOperatorKey(let key, _):
            operatorKey = key
        }
        executedIndex[command.number] = executed.count
        executed.append(ExecutedCommand(command: command, sequence: s, targets: targets, targetSet: Set(targets)))
    }

    /// A replaced replica or removed client: its pending orders are dropped and every rotation
    /// naming it is complete for it.
    private mutating func resolve(_ node: NodeRef) {
        orders[node] = nil
        for i in executed.indices where executed[i].targetSet.contains(node) {
            executed[i].answers[node] = .resolved
        }
    }

    // MARK: Orders

    /// The checks of a record answering command `c` (0: none): `unknown-command` unless c is an
    /// accepted rotation naming `node`; `kinds-not-renewed` when a kind ordered by a pending
    /// order ≤ c is not among `renewed` (raw kinds whose public key changed).
    func checkOrders(answeredBy node: NodeRef, command c: UInt64, renewed: UInt64) throws(VoidReason) {
        guard c != 0 else { return }
        guard let i = executedIndex[c], executed[i].command.action.isRotation, executed[i].targetSet.contains(node) else {
            throw .unknownCommand
        }
        let ordered = (orders[node] ?? []).filter { $0.number <= c }.reduce(UInt64(0)) { $0 | $1.kinds }
        guard ordered & ~renewed == 0 else { throw .kindsNotRenewed }
    }

    /// The approver's error for a failed order check.
    func orderError(_ reason: VoidReason, command c: UInt64, node: NodeRef) -> ClusterError {
        guard reason == .kindsNotRenewed else { return .unknownCommand(c) }
        let ordered = (orders[node] ?? []).filter { $0.number <= c }.reduce(UInt64(0)) { $0 | $1.kinds }
        let names: [String] = switch node {
        case .replica: ReplicaKeyKinds(rawValue: ordered).names
        case .client: ClientKeyKinds(rawValue: ordered).names
        }
        return .kindsNotRenewed("\(node) must renew \(names.joined(separator: ", ")) for command \(c)")
    }

    /// An accepted record of `node` answering `c` satisfies every pending order numbered ≤ c.
    mutating func satisfyOrders(of node: NodeRef, through c: UInt64, at s: UInt64) {
        guard c != 0, let pending = orders[node] else { return }
        for order in pending where order.number <= c {
            if let i = executedIndex[order.number] { executed[i].answers[node] = .record(sequence: s) }
        }
        let left = pending.filter { $0.number > c }
        orders[node] = left.isEmpty ? nil : left
    }

    /// The unsatisfied orders of a node; nil when it has none.
    public func pendingOrders(of node: NodeRef) -> PendingOrders? {
        guard let pending = orders[node], !pending.isEmpty else { return nil }
        return PendingOrders(commands: pending.map(\.number), kinds: pending.reduce(0) { $0 | $1.kinds })
    }

    // MARK: Progress

    /// Where an accepted command stands; nil for a number the log never accepted.
    public func commandProgress(_ c: UInt64) -> CommandProgress? {
        executedIndex[c].map { progress(executed[$0]) }
    }

    /// Every accepted command, ascending by number.
    public var commands: [CommandProgress] { executed.map(progress) }

    private func progress(_ e: ExecutedCommand) -> CommandProgress {
        let remaining = e.targets.filter { t in
            switch e.answers[t] {
            case .resolved: false
            case .record(let s): Self.activationBoundary(sequence: s, interval: interval) > checkpointNotice
            case nil: true
            }
        }
        return CommandProgress(number: e.command.number, sequence: e.sequence, digest: e.command.digest, action: e.command.action,
                               targets: e.targets, targetsRemaining: remaining, complete: remaining.isEmpty)
    }
}

/// A node's unsatisfied rotation orders.
public struct PendingOrders: Equatable, Sendable {
    /// Ascending command numbers.
    public let commands: [UInt64]
    /// The union of the kinds ordered (raw: replica or client kinds by the node).
    public let kinds: UInt64

    public var highestCommand: UInt64 { commands.last ?? 0 }
    public var replicaKinds: ReplicaKeyKinds { ReplicaKeyKinds(rawValue: kinds) }
    public var clientKinds: ClientKeyKinds { ClientKeyKinds(rawValue: kinds) }
}

/// Where an accepted command stands, derived from the log.
public struct CommandProgress: Equatable, Sendable {
    public let number: UInt64
    /// The sequence its entry was scheduled at.
    public let sequence: UInt64
    public let digest: [UInt8]
    public let action: OperatorCommand.Action
    /// The targets it resolved to when it executed (empty for non-rotations).
    public let targets: [NodeRef]
    /// Targets with no active answering record, not replaced and not removed.
    public let targetsRemaining: [NodeRef]
    public let complete: Bool
}
