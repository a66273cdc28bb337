import CustosCrypto

/// Schedule and checkpoint notices, signed checkpoints, stable checkpoints and what they allow:
/// key destruction and pruning (docs/cluster.md, "Scheduling", "Signed checkpoints", "Old keys deleted").
extension ReplicaNode {
    // MARK: Schedule notices

    /// A schedule notice for a replica record (kind 0).
    public func schedule(sequence: UInt64, record: [UInt8], certificate: [UInt8]) async throws -> LogEntrySummary {
        try await schedule(sequence: sequence, kind: .replicaRecord, item: record, certificate: certificate)
    }

    /// A schedule notice from the node, in ledger order: the entry is decided against the log
    /// so far (accepted or void), stored, then applied. The same notice handed in again (a node
    /// replaying after a restart) returns the entry already stored.
    public func schedule(sequence: UInt64, kind: ScheduledKind, item: [UInt8], certificate: [UInt8]) async throws -> LogEntrySummary {
        try requireStarted()
        return try await gate.exclusively {
            if let existing = try existingEntry(sequence: sequence, kind: kind, item: item, certificate: certificate) { return existing }
            var next = log
            let stored: StoredLogEntry
            do {
                stored = try next.schedule(sequence: sequence, kind: kind, item: item, certificate: certificate)
            } catch {
                throw await refuse("cluster.schedule", subject: "sequence \(sequence)", error)
            }
            try await vault.appendLogEntry(stored)
            log = next
            latestSequence = max(latestSequence, sequence)
            let summary = try summary(of: stored)
            await report("cluster.schedule", summary.accepted ? "ok" : "void", subject: summary.subject,
                         detail: "\(kind.name) entry \(stored.index) at sequence \(sequence)" + (summary.accepted ? "" : ": \(summary.reason)"))
            await logAppended([stored])
            return summary
        }
    }

    /// After entries are in the log: wakes long-polls, audits executed and completed commands.
    func logAppended(_ stored: [StoredLogEntry]) async {
        logGrew()
        for s in stored {
            guard let entry = try? LogEntry(bytes: s.bytes), entry.kind == .command, entry.status == .accepted,
                  let command = try? OperatorCommand(bytes: entry.item), let progress = log.commandProgress(command.number) else { continue }
            let targets = progress.targets.map { "\($0)" }.joined(separator: ", ")
            await report("cluster.command-execute", "ok", subject: "command \(command.number)",
                         detail: "\(command.action.name) at sequence \(s.sequence)" + (targets.isEmpty ? "" : ", targets \(targets)"))
        }
        await reportCompletedCommands()
    }

    /// Audits each command once when it becomes complete (checked after entries and checkpoint notices).
    func reportCompletedCommands() async {
        for progress in log.commands where progress.complete && !reportedComplete.contains(progress.number) {
            reportedComplete.insert(progress.number)
            await report("cluster.command-complete", "ok", subject: "command \(progress.number)",
                         detail: "\(progress.action.name), executed at sequence \(progress.sequence)")
        }
    }

    /// The stored entry for a notice handed in again, or nil for a new one.
    func existingEntry(sequence: UInt64, kind: ScheduledKind, item: [UInt8], certificate: [UInt8]) throws -> LogEntrySummary? {
        guard sequence <= log.lastSequence else { return nil }
        for stored in log.entries.reversed() where stored.sequence == sequence {
            let entry = try LogEntry(bytes: stored.bytes)
            if entry.kind == kind && entry.item == item && entry.certificate == certificate { return try summary(of: stored) }
        }
        return nil
    }

    func summary(of stored: StoredLogEntry) throws -> LogEntrySummary {
        let entry = try LogEntry(bytes: stored.bytes)
        var name: KeyName?
        let subject: String
        switch entry.kind {
        case .replicaRecord:
            name = (try? KeyExchangeRecord(bytes: entry.item))?.name
            subject = name.map { "\($0)" } ?? "sequence \(stored.sequence)"
        case .clientRecord:
            subject = (try? ClientKeyRecord(bytes: entry.item)).map { "\($0.name)" } ?? "sequence \(stored.sequence)"
        case .command:
            subject = (try? OperatorCommand(bytes: entry.item)).map { "command \($0.number)" } ?? "sequence \(stored.sequence)"
        }
        return LogEntrySummary(index: stored.index, sequence: stored.sequence, kind: entry.kind, name: name, subject: subject,
                               accepted: entry.status == .accepted, reason: entry.reason, head: stored.head)
    }

    public func logEntries(after index: UInt64, limit: Int) async throws -> [StoredLogEntry] {
        try await vault.logEntries(after: index, limit: limit)
    }

    // MARK: Checkpoint notices

    /// A checkpoint notice (B, ledger digest): every schedule notice ≤ B is in. Signs the
    /// statement with this replica's main key in keyset(B), once the decision that this is the
    /// only digest it signs for B is durable. The same notice again returns the same signature.
    public func checkpoint(boundary: UInt64, ledgerDigest: [UInt8]) async throws -> CheckpointSignature {
        try requireStarted()
        return try await gate.exclusively {
            let subject = "boundary \(boundary)"
            do {
                guard ledgerDigest.count == 32 else { throw ClusterError.malformed("ledger digest must be 32 bytes, has \(ledgerDigest.count)") }
                var next = log
                // A notice handed in again (a node replaying after a restart) is signed again, same digest only.
                if boundary > next.checkpointNotice { try next.checkpoint(boundary: boundary) }
                guard boundary % interval == 0, boundary > 0 else { throw ClusterError.checkpointNotOnBoundary(boundary) }
                let position = next.position(atBoundary: boundary)
                let statement = CheckpointStatement(boundary: boundary, ledgerDigest: ledgerDigest, logLength: position.length, logHead: position.head)
                guard let signer = try next.keyset(at: boundary)(replica)?.name else {
                    throw ClusterError.replicaOutOfRange(UInt64(replica.rawValue))
                }
                let event = ClusterAuditEvent(operation: "cluster.checkpoint", outcome: "ok", subject: subject,
                                              detail: "ledger digest \(Hex.encode(ledgerDigest.prefix(8))), log length \(position.length)")
                switch try await vault.decideCheckpoint(boundary: boundary, digest: ledgerDigest, audit: event) {
                case .recorded, .alreadyRecorded: break
                case .conflicts: throw ClusterError.checkpointConflict(boundary: boundary)
                }
                log = next
                latestSequence = max(latestSequence, boundary)
                await reportCompletedCommands()
                let signature = try await vault.signMain(signer, statement.message(cluster: cluster))
                let signed = CheckpointSignature(statement: statement, signer: signer, signature: signature)
                ownCheckpoints[boundary] = signed
                return signed
            } catch {
                throw await refuse("cluster.checkpoint", subject: subject, error)
            }
        }
    }

    // MARK: Stable checkpoints

    /// Asks every peer for its signature at `boundary`; with Q matching this replica's own
    /// (itself included) forms and saves the stable-checkpoint certificate and applies it.
    /// Peers' signatures over another statement are reported. Nil below a quorum.
    public func collectCheckpoint(boundary: UInt64) async throws -> [UInt8]? {
        try requireStarted()
        guard let own = ownCheckpoints[boundary] else { throw ClusterError.checkpointNotSigned(boundary: boundary) }
        let keyset = try log.keyset(at: boundary)
        var matching = [own]
        var mismatched: [(ReplicaID, CheckpointStatement)] = []
        let request = PeerRequest.checkpointSignature(boundary: boundary).encoded
        await peers.broadcast({ _ in request }, to: otherReplicas) { peer, result in
            guard case .success(let response) = result, response != CBORValue.null.encoded,
                  let signature = try? CheckpointSignature(bytes: response),
                  signature.signer.replica == peer, signature.statement.boundary == boundary,
                  keyset(peer)?.name == signature.signer, let key = log.key(signature.signer)?.mainKey,
                  signature.isValid(cluster: cluster, mainKey: key) else { return true }
            if signature.statement == own.statement { matching.append(signature) } else { mismatched.append((peer, signature.statement)) }
            return true
        }
        for (peer, statement) in mismatched {
            checkpointMismatches += 1
            await report("cluster.checkpoint-mismatch", "refused", subject: "boundary \(boundary)",
                         detail: "\(peer) signed ledger digest \(Hex.encode(statement.ledgerDigest.prefix(8))), log length \(statement.logLength); "
                             + "this replica \(Hex.encode(own.statement.ledgerDigest.prefix(8))), log length \(own.statement.logLength)")
        }
        guard matching.count >= quorum else { return nil }
        let certificate = try CheckpointCertificate.combine(Array(matching.sorted { $0.signer.replica < $1.signer.replica }.prefix(quorum)),
                                                            cluster: cluster, quorum: quorum) { log.key($0)?.mainKey }
        try await gate.exclusively { try await adoptStable(certificate) }
        return certificate.encoded
    }

    /// Saves a verified stable checkpoint and acts on it: the low watermark of consensus shares
    /// moves to B, and the private keys superseded by a key active at B are destroyed.
    func adoptStable(_ certificate: CheckpointCertificate) async throws {
        let boundary = certificate.boundary
        try log.verify(certificate)
        guard boundary > (latestStableBoundary ?? 0) else { return }
        try await vault.saveStableCheckpoint(boundary: boundary, certificate: certificate.encoded)
        latestStableBoundary = boundary
        latestSequence = max(latestSequence, boundary)
        await report("cluster.stable-checkpoint", "ok", subject: "boundary \(boundary)",
                     detail: "signers \(certificate.signers.map { $0.key.replica.rawValue })")
        try await vault.pruneConsensusShares(through: boundary)
        try await destroySupersededKeys(stableAt: boundary)
    }

    /// Once a stable checkpoint at or past a key's activation boundary is verified, the private
    /// keys of every earlier own key name are destroyed (kinds carried over live on under the
    /// new name only).
    func destroySupersededKeys(stableAt boundary: UInt64) async throws {
        // keyset(B + 1) holds, per replica, the newest key active at B.
        guard let active = try? log.keyset(at: boundary + 1)(replica)?.name else { return }
        var names: [KeyName] = []
        for generation in 0...active.generation {
            let newest = generation == active.generation ? active.epoch : (log.newestCertifiedEpoch(replica: replica, generation: generation) ?? 0) + 1
            for epoch in 0..<newest { names.append(KeyName(replica: replica, generation: generation, epoch: epoch)) }
        }
        for name in names where try await vault.holdsKeys(name) {
            let reason = "superseded by \(active), active at stable checkpoint \(boundary)"
            try await vault.destroyKeys(name, reason: reason)
            await report("cluster.keys-destroyed", "ok", subject: "\(name)", detail: reason)
        }
    }
}
