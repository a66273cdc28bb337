/// Following the key log (docs/cluster.md, "Client nodes"): one long-poll at one replica,
/// every entry verified, stable checkpoints that fix the verified prefix, and key destruction.
extension ClientNode {
    /// One pass: asks the followed replica for the entries after this client's log (peer request
    /// 9, answered as soon as one exists or after `wait`), verifies each, then fetches and
    /// verifies its stable checkpoints (request 3), then acts on pending orders (`advance`). A
    /// replica that fails, times out or serves an entry this client does not recompute is left
    /// for the next one (audited `cluster.follow`); nothing of that answer is kept.
    @discardableResult
    public func follow(wait: Duration) async throws -> ClientProgress {
        try requireStarted()
        let peer = followed
        do {
            try await fetchEntries(from: peer, wait: min(max(wait, .zero), Self.maximumWait))
            try await fetchStableCheckpoints(from: peer)
            following = true
        } catch {
            following = false
            followed = next(after: peer)
            await report("cluster.follow", "refused", subject: "from \(peer)", detail: describe(error))
        }
        return try await advance()
    }

    func fetchEntries(from peer: ReplicaID, wait: Duration) async throws {
        let milliseconds = UInt64(wait.components.seconds) * 1000 + UInt64(wait.components.attoseconds / 1_000_000_000_000_000)
        let request = PeerRequest.watchLog(after: log.length, limit: Self.pageSize, waitMilliseconds: milliseconds).encoded
        // The replica holds the call for up to `wait`: the bound on the call is the peer timeout past it.
        let longPoll = PeerFanOut(transport: transport, clock: clock, timeout: peerTimeout + wait, maximumConcurrent: 1)
        let fetched = try LogEntry.decodeList(try await longPoll.send(request, to: peer), limit: Int(Self.pageSize) * LogEntry.maximumByteCount)
        guard fetched.count <= Int(Self.pageSize) else {
            throw ClusterError.malformed("\(fetched.count) entries answered for a page of \(Self.pageSize)")
        }
        try await gate.exclusively {
            var scratch = log
            for entry in fetched { try scratch.append(verifying: entry) }
            log = scratch
        }
    }

    func fetchStableCheckpoints(from peer: ReplicaID) async throws {
        let request = PeerRequest.stableCheckpoints(after: latestStableBoundary ?? 0, limit: ReplicaNode.peerPageLimit).encoded
        let certificates = try CheckpointCertificate.decodeList(try await peers.send(request, to: peer),
                                                                limit: Int(ReplicaNode.peerPageLimit) * CheckpointCertificate.maximumByteCount)
        try await gate.exclusively {
            for certificate in certificates.sorted(by: { $0.boundary < $1.boundary }) where certificate.boundary > (latestStableBoundary ?? 0) {
                guard try await adopt(certificate) else { break }
            }
        }
    }

    /// Fixes the log up to `certificate`'s boundary. Returns false when this log does not reach
    /// it yet (the next pass fetches more). A certificate that verifies but names another log
    /// head than the entries fetched means a peer served a false tail (another sequence for a
    /// real entry, or an entry the ledger never scheduled): the tail is dropped and refetched.
    func adopt(_ certificate: CheckpointCertificate) async throws -> Bool {
        let boundary = certificate.boundary
        var scratch = log
        do {
            if certificate.statement.logLength > scratch.length {
                // Entries up to B are still to come: check what is here and wait for the rest.
                _ = try scratch.verify(certificate)
                return false
            }
            if boundary > scratch.checkpointNotice, boundary >= scratch.lastSequence { try scratch.checkpoint(boundary: boundary) }
            guard case .matchesLog = try scratch.verify(certificate) else { return false }
        } catch ClusterError.keysetUndecided {
            return false
        } catch ClusterError.logHeadMismatch(let b) {
            log = stableLog
            throw ClusterError.logHeadMismatch(boundary: b)
        }
        // The stable layer takes the entries up to B, each verified again from its own state.
        var stable = stableLog
        let covered = scratch.position(atBoundary: boundary).length
        var added: [StoredLogEntry] = []
        while stable.length < covered {
            added.append(try stable.append(verifying: try LogEntry(bytes: scratch.entries[Int(stable.length)].bytes)))
        }
        if boundary > stable.checkpointNotice, boundary >= stable.lastSequence { try stable.checkpoint(boundary: boundary) }
        for entry in added { try await vault.appendLogEntry(entry) }
        try await vault.saveStableCheckpoint(boundary: boundary, certificate: certificate.encoded)
        stableLog = stable
        log = scratch
        latestStableBoundary = boundary
        await report("cluster.stable-checkpoint", "ok", subject: "boundary \(boundary)",
                     detail: "log length \(covered), signers \(certificate.signers.map { $0.key.replica.rawValue })")
        try await destroySupersededKeys(stableAt: boundary)
        return true
    }

    /// Once a stable checkpoint at or past the activation boundary of one of this client's
    /// accepted records verifies, the private keys of every earlier key name are destroyed (a
    /// kind carried over lives on under the newer name).
    func destroySupersededKeys(stableAt boundary: UInt64) async throws {
        var active: ClientKeyName?
        var earlier: [ClientKeyName] = []
        if stableLog.isKnownClient(client) { earlier.append(ClientKeyName(client: client, epoch: 0)) }
        for index in 0..<stableLog.length {
            guard let activation = stableLog.activationBoundary(ofEntry: index), activation <= boundary else { continue }
            let entry = try LogEntry(bytes: stableLog.entries[Int(index)].bytes)
            guard entry.kind == .clientRecord, let record = try? ClientKeyRecord(bytes: entry.item), record.name.client == client else { continue }
            if let previous = active { earlier.append(previous) }
            active = record.name
        }
        guard let active else { return }
        for name in earlier where name < active {
            guard try await vault.holdsKeys(name) else { continue }
            let reason = "superseded by \(active), active at stable checkpoint \(boundary)"
            try await vault.destroyKeys(name, reason: reason)
            await report("cluster.keys-destroyed", "ok", subject: "\(name)", detail: reason)
        }
    }
}
