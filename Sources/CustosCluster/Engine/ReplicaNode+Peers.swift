/// Peer requests answered (docs/cluster.md, "Peer requests"), catch-up from peers, and the
/// restore floor (docs/cluster.md, "Catch-up", "Restore floor").
extension ReplicaNode {
    /// Most entries or certificates one peer answer carries.
    static let peerPageLimit: UInt64 = 64

    /// Answers one peer request from `peer` (authenticated by the transport). A malformed or
    /// refused request is audited and thrown; it changes nothing.
    public func handlePeer(_ request: [UInt8], from peer: ReplicaID) async throws -> [UInt8] {
        try await handlePeer(request, from: .replica(peer))
    }

    /// Answers one request from a replica or a client node (authenticated by its TLS pin).
    /// Clients may ask for log entries, stable checkpoints, status, the log long-poll and the
    /// submission of their own records; every other request is refused `notAReplica`.
    public func handlePeer(_ request: [UInt8], from caller: NodeRef) async throws -> [UInt8] {
        let decoded: PeerRequest
        do {
            try requireStarted()
            switch caller {
            case .replica(let peer):
                guard peer.index < configuration.n, peer != replica else { throw ClusterError.replicaOutOfRange(UInt64(peer.rawValue)) }
            case .client(let client):
                guard log.isKnownClient(client) else { throw ClusterError.unknownClient(client) }
                guard !log.isRemoved(client) else { throw ClusterError.clientRemoved(client) }
            }
            decoded = try PeerRequest(bytes: request)
            switch (caller, decoded) {
            case (.client, .approve), (.client, .checkpointSignature), (.client, .approveCommand), (.client, .approveClientRecord):
                throw ClusterError.notAReplica
            case (.replica, .submitClientRecord):
                throw ClusterError.malformed("peer request 8 is a client's submission of its own record")
            default: break
            }
        } catch {
            throw await refuse("cluster.peer", subject: "request from \(caller)", error)
        }
        switch (caller, decoded) {
        case (.replica(let peer), .approve(let proposal)):
            return try await approve(proposal, from: peer).encoded
        case (.replica(let peer), .approveCommand(let bytes)):
            return try await approveCommand(bytes, from: peer).encoded
        case (.replica(let peer), .approveClientRecord(let bytes)):
            return try await approveClientRecord(bytes, from: peer).encoded
        case (.client(let client), .submitClientRecord(let bytes)):
            return try await submitClientRecord(bytes, from: client).encoded
        case (_, .logEntries(let after, let limit)):
            let stored = try await vault.logEntries(after: after, limit: Int(min(limit, Self.peerPageLimit)))
            return LogEntry.encodeList(try stored.map { try LogEntry(bytes: $0.bytes) })
        case (_, .watchLog(let after, let limit, let wait)):
            let entries = await waitForLog(after: after, limit: Int(min(limit, Self.peerPageLimit)),
                                           timeout: .milliseconds(Int64(min(wait, 25_000))))
            return LogEntry.encodeList(try entries.map { try LogEntry(bytes: $0.bytes) })
        case (_, .stableCheckpoints(let after, let limit)):
            let stored = try await vault.stableCheckpoints(after: after, limit: Int(min(limit, Self.peerPageLimit)))
            return CheckpointCertificate.encodeList(try stored.map { try CheckpointCertificate(bytes: $0.certificate) })
        case (_, .checkpointSignature(let boundary)):
            return ownCheckpoints[boundary]?.encoded ?? CBORValue.null.encoded
        case (_, .status):
            let floors = try await vault.consensusFloors()
            return PeerStatus(latestStableBoundary: latestStableBoundary ?? 0, highestSignedSequence: floors.highestSigned).encoded
        default:
            // Refused above: a client's replica-only request, or a replica's client submission.
            throw await refuse("cluster.peer", subject: "request from \(caller)", ClusterError.notAReplica)
        }
    }

    // MARK: Catch-up

    /// Fetches from every peer the stable checkpoints and log entries this replica lacks and
    /// accepts each fetched prefix only up to a stable checkpoint whose key-log head it
    /// reproduces, so no single peer is trusted. Then sets the restore floor if it is not set.
    public func catchUp() async throws {
        try requireStarted()
        for peer in otherReplicas {
            do {
                try await catchUp(from: peer)
            } catch {
                await report("cluster.catch-up", "refused", subject: "from \(peer)", detail: String(describing: ReplicaNode.clusterError(error)))
            }
        }
        if restoreFloor == nil { try await establishRestoreFloor() }
    }

    func catchUp(from peer: ReplicaID) async throws {
        var certificates: [CheckpointCertificate] = []
        var after = latestStableBoundary ?? 0
        for _ in 0..<Self.catchUpMaximumPages {
            let page = try CheckpointCertificate.decodeList(
                try await peers.send(PeerRequest.stableCheckpoints(after: after, limit: Self.peerPageLimit).encoded, to: peer),
                limit: Int(Self.peerPageLimit) * CheckpointCertificate.maximumByteCount)
            guard let last = page.last else { break }
            for c in page where c.boundary > after { certificates.append(c); after = c.boundary }
            if page.count < Int(Self.peerPageLimit) || last.boundary < after { break }
        }
        guard !certificates.isEmpty else { return }

        let start = log.length
        var fetched: [LogEntry] = []
        for _ in 0..<Self.catchUpMaximumPages {
            let page = try LogEntry.decodeList(
                try await peers.send(PeerRequest.logEntries(after: start + UInt64(fetched.count), limit: Self.peerPageLimit).encoded, to: peer),
                limit: Int(Self.peerPageLimit) * LogEntry.maximumByteCount)
            fetched += page.prefix(Int(Self.peerPageLimit))
            if page.count < Int(Self.peerPageLimit) || fetched.last!.sequence > certificates.last!.boundary { break }
        }

        try await gate.exclusively {
            // The log may have grown while fetching: skip what it already holds.
            var pending = fetched.dropFirst(Int(min(UInt64(fetched.count), log.length - min(log.length, start))))
            for certificate in certificates where certificate.boundary > (latestStableBoundary ?? 0) {
                var scratch = log
                while let entry = pending.first, entry.sequence <= certificate.boundary {
                    try scratch.append(verifying: entry)
                    pending.removeFirst()
                }
                // Entries past B already imply its notice; otherwise the certificate says the ledger passed B.
                if certificate.boundary > scratch.checkpointNotice, certificate.boundary >= scratch.lastSequence {
                    try scratch.checkpoint(boundary: certificate.boundary)
                }
                guard case .matchesLog = try scratch.verify(certificate) else { throw ClusterError.logTruncated(boundary: certificate.boundary) }
                let appended = Array(scratch.entries[Int(log.length)...])
                for stored in appended { try await vault.appendLogEntry(stored) }
                let added = scratch.length - log.length
                log = scratch
                await logAppended(appended)
                try await adoptStable(certificate)
                await report("cluster.catch-up", "ok", subject: "from \(peer)",
                             detail: "\(added) entries to stable checkpoint \(certificate.boundary)")
            }
        }
    }

    // MARK: Restore floor

    /// Asks peers for their status until Q replicas (itself included) have answered with a
    /// stable checkpoint this replica has verified (a higher claim it could not fetch and verify
    /// does not count), then refuses every sequence ≤ B* + 2W; 0 when no stable checkpoint
    /// exists and no answer reports a signed share.
    func establishRestoreFloor() async throws {
        let own = try await vault.consensusFloors()
        let verified = latestStableBoundary ?? 0
        var answered = 1
        var anySigned = own.highestSigned != nil
        let request = PeerRequest.status.encoded
        await peers.broadcast({ _ in request }, to: otherReplicas) { _, result in
            guard case .success(let bytes) = result, let status = try? PeerStatus(bytes: bytes),
                  status.latestStableBoundary <= verified else { return true }
            answered += 1
            if status.highestSignedSequence != nil { anySigned = true }
            return true
        }
        guard answered >= quorum, restoreFloor == nil else { return }
        let floor = verified == 0 && !anySigned ? 0 : verified + 2 * interval
        restoreFloor = floor
        await report("cluster.restore-floor", "ok", subject: "\(replica)",
                     detail: "floor \(floor) from \(answered) answers, stable checkpoint \(verified)")
    }
}
