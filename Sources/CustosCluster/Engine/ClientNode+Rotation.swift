/// Executing rotation orders (docs/cluster.md, "Executing rotation orders"): the candidate for
/// the next epoch answers the highest pending command and renews the union of the pending
/// kinds; a replica relays it for approval until it is in the log.
extension ClientNode {
    /// One round: when the log holds orders for this client and its newest key is active,
    /// creates the candidate (or reloads the one in flight) and submits it (peer request 8) to a
    /// replica. The same candidate is submitted every round until the log accepts it, so a
    /// client that was down executes its orders when it returns.
    @discardableResult
    public func advance() async throws -> ClientProgress {
        try requireStarted()
        guard let newest = log.newestClientKeys(of: client)?.name else { return .unregistered }
        guard !log.isRemoved(client) else { return .removed }
        let target = newest.next
        let bytes: [UInt8]
        if let inFlight = try await vault.candidate(target) {
            bytes = inFlight
        } else {
            guard let orders = log.pendingOrders(of: .client(client)) else { return .idle }
            guard activeName() == newest else { return .awaitingActivation(newest) }
            guard let kinds = ClientKeyKinds(validating: orders.clientKinds.rawValue) else {
                throw ClusterError.malformed("pending kinds \(orders.clientKinds.rawValue) are not client key kinds")
            }
            let cluster = self.cluster
            let vault = self.vault
            let command = orders.highestCommand
            bytes = try await vault.createCandidate(target, renewing: kinds, carryingFrom: newest) { keys in
                try await ClientKeyRecord.build(cluster: cluster, name: target, keys: keys, command: command) { message in
                    try await vault.signWithSigningKey(newest, message)
                }.bytes
            }
            await report("cluster.rotate", "ok", subject: "\(target)",
                         detail: "candidate for command \(command), renewing \(kinds.names.joined(separator: ", "))")
        }
        return await submit(try ClientKeyRecord(bytes: bytes))
    }

    /// Hands the record to the current relay, or to the next replicas in turn when it fails or
    /// refuses. A relay that has answered `relayPatience` rounds without the record reaching
    /// the log is replaced by the next one for the following round (it may be down to fewer
    /// than Q peers, or byzantine and silent).
    func submit(_ record: ClientKeyRecord) async -> ClientProgress {
        let request = PeerRequest.submitClientRecord(record.bytes).encoded
        for _ in 0..<configuration.n {
            let peer = relay
            do {
                let answer = try ClientSubmissionState(bytes: try await peers.send(request, to: peer))
                relayRounds += 1
                if relayRounds >= Self.relayPatience {
                    relay = next(after: peer)
                    relayRounds = 0
                }
                if lastReported?.name != record.name || lastReported?.state != answer {
                    lastReported = (record.name, answer)
                    await report("cluster.client-record", "ok", subject: "\(record.name)", detail: "submitted to \(peer): \(answer.state), \(answer.approvals) of \(answer.quorum) approvals")
                }
                return .submitted(name: record.name, relay: peer, state: answer)
            } catch {
                await report("cluster.client-record", "refused", subject: "\(record.name)", detail: "\(peer): \(describe(error))")
                relay = next(after: peer)
                relayRounds = 0
            }
        }
        return .unsubmitted(name: record.name)
    }
}
