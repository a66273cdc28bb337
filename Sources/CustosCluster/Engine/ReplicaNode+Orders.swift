/// Rotation orders (docs/cluster.md, "Executing rotation orders"): accepted rotate commands
/// naming this replica become one candidate that renews exactly the kinds ordered.
extension ReplicaNode {
    /// When the log holds pending orders for this replica, no candidate is in flight and its
    /// newest key is active, creates the candidate of the next epoch naming the highest pending
    /// command and renewing the union of the pending kinds; the other kinds are carried over
    /// (same private key under the new name). Returns the candidate's name, or nil when there
    /// is nothing to do yet.
    @discardableResult
    func executeRotationOrders() async throws -> KeyName? {
        guard let orders = log.pendingOrders(of: .replica(replica)), orders.highestCommand > 0 else { return nil }
        // A replica still on its bootstrap keys first proposes its first operational epoch.
        guard let newest = log.newestKeys(of: replica)?.name, newest.epoch >= 1 else { return nil }
        let target = newest.next
        guard try await vault.candidate(target) == nil, try currentOwnKey() == newest else { return nil }
        let kinds = orders.replicaKinds.intersection(.all)
        let command = orders.highestCommand
        let cluster = self.cluster
        let vault = self.vault
        _ = try await vault.createCandidate(target, renewing: kinds, carryingFrom: newest) { keys in
            try await KeyExchangeRecord.build(cluster: cluster, name: target, keys: keys, command: command) { message in
                try await vault.signMain(newest, message)
            }.bytes
        }
        await report("cluster.rotate", "ok", subject: "\(target)",
                     detail: "candidate for command \(command), renewing \(kinds.names.joined(separator: ","))")
        return target
    }
}
