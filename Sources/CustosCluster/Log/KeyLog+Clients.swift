/// Client nodes in the key log (docs/cluster.md, "Client nodes"): registration, client
/// records and the client keyset.
extension KeyLog {
    struct ClientState: Sendable {
        let addedAt: UInt64
        var removedAt: UInt64?
        /// Accepted keys in epoch order (position = epoch) with the sequence that scheduled them.
        var keys: [(sequence: UInt64, keys: ClientKeys)] = []

        init(addedAt: UInt64) { self.addedAt = addedAt }
    }

    mutating func addClientKeys(_ keys: ClientKeys, at s: UInt64) {
        clientStates[keys.name.client]?.keys.append((s, keys))
        for pin in keys.keySet.pins { pinOwners[pin] = .client(keys.name.client) }
    }

    /// Registered clients that are not removed, ascending.
    public var clients: [ClientID] { clientStates.filter { $0.value.removedAt == nil }.keys.sorted() }

    /// Removed clients, ascending.
    public var removedClients: [ClientID] { clientStates.filter { $0.value.removedAt != nil }.keys.sorted() }

    /// Whether `client` was ever added (its id is then used for good).
    public func isKnownClient(_ client: ClientID) -> Bool { clientStates[client] != nil }

    public func isRemoved(_ client: ClientID) -> Bool { clientStates[client]?.removedAt != nil }

    /// The newest accepted keys of a client (scheduled, not necessarily active).
    public func newestClientKeys(of client: ClientID) -> ClientKeys? { clientStates[client]?.keys.last?.keys }

    public func clientKey(_ name: ClientKeyName) -> ClientKeys? {
        guard let keys = clientStates[name.client]?.keys, name.epoch < UInt64(keys.count) else { return nil }
        return keys[Int(name.epoch)].keys
    }

    /// The sequence and activation boundary of the newest accepted record of a node (a
    /// replica or client record; not bootstrap, add-client or replacement keys).
    public func lastRotation(of node: NodeRef) -> (sequence: UInt64, activation: UInt64)? {
        let s: UInt64?
        switch node {
        case .replica(let r):
            guard r.index < history.count else { return nil }
            s = history[r.index].last(where: { $0.keys.name.epoch >= 1 })?.sequence
        case .client(let k):
            s = clientStates[k]?.keys.last(where: { $0.keys.name.epoch >= 1 })?.sequence
        }
        return s.map { ($0, Self.activationBoundary(sequence: $0, interval: interval)) }
    }

    /// clientKeyset(t): with d the boundary deciding keyset(t), the clients added at or before d
    /// and not removed at or before d, each with its newest key scheduled at or before d.
    public func clientKeyset(at t: UInt64) throws -> ClientKeyset {
        let d = decidingBoundary(of: t)
        guard d <= checkpointNotice else { throw ClusterError.keysetUndecided(sequence: t, needsCheckpoint: d) }
        var keys: [ClientID: ClientKeys] = [:]
        for (k, state) in clientStates where state.addedAt <= d && (state.removedAt.map { $0 > d } ?? true) {
            keys[k] = state.keys.last(where: { $0.sequence <= d })?.keys
        }
        return ClientKeyset(keys: keys)
    }

    /// The approver's checks of a client record against this log: registered, not removed, the
    /// next epoch, signatures under the newest key, the orders it answers, pins not another
    /// node's. The one-record-per-name decision is the approver's vault's.
    public func checkClientRecord(_ record: ClientKeyRecord) throws {
        let name = record.name
        guard let state = clientStates[name.client] else { throw ClusterError.unknownClient(name.client) }
        guard state.removedAt == nil else { throw ClusterError.clientRemoved(name.client) }
        let current = state.keys.last!.keys
        guard name.epoch == current.name.epoch + 1 else { throw ClusterError.unexpectedClientEpoch(name, expected: current.name.epoch + 1) }
        try record.verify(cluster: configuration.clusterID, authorityKey: current.signingKey)
        do throws(VoidReason) {
            try checkOrders(answeredBy: .client(name.client), command: record.command, renewed: renewedKinds(record, previous: current))
        } catch {
            throw orderError(error, command: record.command, node: .client(name.client))
        }
        for pin in record.keySet.pins {
            if let owner = pinOwners[pin], owner != .client(name.client) { throw ClusterError.pinTaken(owner: owner, claimant: .client(name.client)) }
        }
    }

    func check(clientRecord bytes: [UInt8], certificate: [UInt8], keyset: Keyset) throws(VoidReason) -> ClientKeyRecord {
        guard let record = try? ClientKeyRecord(bytes: bytes) else { throw .malformedRecord }
        let name = record.name
        guard let state = clientStates[name.client] else { throw .unknownClient }
        guard state.removedAt == nil else { throw .clientRemoved }
        let current = state.keys.last!.keys
        if name.epoch <= current.name.epoch { throw acceptedDigests.contains(record.digest) ? .replay : .epochTaken }
        guard name.epoch == current.name.epoch + 1 else { throw .epochGap }
        guard (try? record.verify(cluster: configuration.clusterID, authorityKey: current.signingKey)) != nil else { throw .badRecordSignature }
        try checkOrders(answeredBy: .client(name.client), command: record.command, renewed: renewedKinds(record, previous: current))
        for pin in record.keySet.pins where (pinOwners[pin].map { $0 != .client(name.client) } ?? false) { throw .foreignTLSPin }
        try checkCertificate(certificate, message: ClientKeyRecord.approvalMessage(cluster: configuration.clusterID, record: record),
                             domain: SignatureTag.clientKeyApprovalDST, keyset: keyset)
        return record
    }

    /// The client kinds whose public key differs from the previous key set's.
    func renewedKinds(_ record: ClientKeyRecord, previous: ClientKeys) -> UInt64 {
        var kinds = ClientKeyKinds()
        if record.keySet.signingKey != previous.signingKey { kinds.insert(.signing) }
        if record.keySet.tlsPin != previous.tlsPin { kinds.insert(.tls) }
        if record.keySet.apiTLSPin != previous.apiTLSPin { kinds.insert(.apiTLS) }
        return kinds.rawValue
    }
}

/// The keys of every registered client at one sequence.
public struct ClientKeyset: Equatable, Sendable {
    let keys: [ClientID: ClientKeys]

    public func callAsFunction(_ client: ClientID) -> ClientKeys? { keys[client] }

    /// Ascending by client id.
    public var clients: [ClientKeys] { keys.keys.sorted().map { keys[$0]! } }
}
