import BLS12381
import Crypto

/// The public keys of one key name, as the key log knows them.
public struct ReplicaKeys: Equatable, Sendable {
    public let name: KeyName
    public let consensusKey: BLS12381.PublicKey
    /// Raw Ed25519, 32 bytes.
    public let mainKey: [UInt8]
    public let tlsPin: [UInt8]

    public init(name: KeyName, consensusKey: BLS12381.PublicKey, mainKey: [UInt8], tlsPin: [UInt8]) {
        self.name = name
        self.consensusKey = consensusKey
        self.mainKey = mainKey
        self.tlsPin = tlsPin
    }
}

/// The key of every replica at one sequence (position = replica id).
public struct Keyset: Equatable, Sendable {
    public let keys: [ReplicaKeys]
    public func callAsFunction(_ replica: ReplicaID) -> ReplicaKeys? { replica.index < keys.count ? keys[replica.index] : nil }
}

/// What the key log decided about a schedule notice, before it is applied.
public struct LogDecision: Sendable {
    public let entry: LogEntry
    public let bytes: [UInt8]
    /// The replica record's keys when an accepted replica record.
    public let accepted: ReplicaKeys?
    /// The client record's keys when an accepted client record.
    public let acceptedClient: ClientKeys?
    /// The command when an accepted command.
    public let acceptedCommand: OperatorCommand?
    /// The command an accepted record answers (0: none).
    let answers: UInt64
    let digest: [UInt8]?
}

/// The key log (docs/cluster.md, "Scheduling, the key log and activation"): schedule notices
/// and checkpoint notices processed deterministically, so that honest replicas, and anyone
/// verifying from genesis, hold identical entries and heads.
public struct KeyLog: Sendable {
    public let configuration: ClusterConfiguration
    /// Every entry, index = position.
    public private(set) var entries: [StoredLogEntry] = []
    private var statuses: [LogEntry.Status] = []
    /// The latest checkpoint boundary handed in: every schedule notice at or below it is in.
    public private(set) var checkpointNotice: UInt64 = 0
    /// Per replica, the accepted keys in schedule order with the sequence that scheduled them
    /// (bootstrap keys at 0).
    private(set) var history: [[(sequence: UInt64, keys: ReplicaKeys)]]
    private var known: [KeyName: ReplicaKeys] = [:]
    var acceptedDigests: Set<[UInt8]> = []
    /// Which node each pin of the log (replica TLS pins, client TLS and API TLS pins) belongs
    /// to. A pin is a hash, not a key: nothing in a record proves possession of the TLS key, so
    /// a pin already another node's is refused. Pins are never freed.
    var pinOwners: [[UInt8]: NodeRef] = [:]
    /// Each replica's current address (the configuration's, or its newest replacement's).
    public private(set) var addresses: [String]
    /// The operator key for the next entry: the configuration's, or the newest accepted
    /// rotate-operator-key's.
    public internal(set) var operatorKey: OperatorKey
    /// The highest accepted command number (0: none).
    public internal(set) var highestCommand: UInt64 = 0
    /// Every client ever added, by id.
    var clientStates: [ClientID: ClientState] = [:]
    /// Unsatisfied rotation orders per node, ascending by command number.
    var orders: [NodeRef: [RotationOrder]] = [:]
    /// Accepted commands, ascending by number, and what each target did about them.
    var executed: [ExecutedCommand] = []
    var executedIndex: [UInt64: Int] = [:]

    public init(configuration: ClusterConfiguration) {
        self.configuration = configuration
        operatorKey = configuration.operatorKey
        addresses = configuration.replicas.map(\.address)
        history = configuration.replicas.map { r in
            [(UInt64(0), ReplicaKeys(name: .bootstrap(r.id), consensusKey: r.consensusKey, mainKey: r.mainKey, tlsPin: r.tlsPin))]
        }
        for h in history {
            known[h[0].keys.name] = h[0].keys
            pinOwners[h[0].keys.tlsPin] = .replica(h[0].keys.name.replica)
        }
    }

    /// Rebuilds from stored entries, recomputing each and refusing one that differs (bytes or head).
    public init(configuration: ClusterConfiguration, replaying stored: [StoredLogEntry]) throws {
        self.init(configuration: configuration)
        for s in stored {
            guard s.index == length else { throw ClusterError.logEntryMismatch(index: s.index) }
            let entry = try LogEntry(bytes: s.bytes)
            let appended = try append(verifying: entry)
            guard appended.head == s.head, appended.sequence == s.sequence else { throw ClusterError.logEntryMismatch(index: s.index) }
        }
    }

    public var interval: UInt64 { configuration.checkpointInterval }
    public var length: UInt64 { UInt64(entries.count) }
    public var head: [UInt8] { entries.last?.head ?? configuration.genesisHash }
    public var lastSequence: UInt64 { entries.last?.sequence ?? 0 }

    // MARK: Notices

    /// A checkpoint notice for `boundary`: every schedule notice ≤ boundary has been handed in.
    /// A notice at or below the latest one changes nothing.
    public mutating func checkpoint(boundary: UInt64) throws {
        guard boundary % interval == 0 else { throw ClusterError.checkpointNotOnBoundary(boundary) }
        if boundary <= checkpointNotice { return }
        guard boundary >= lastSequence else { throw ClusterError.checkpointOutOfOrder(boundary: boundary, after: lastSequence) }
        checkpointNotice = max(checkpointNotice, boundary)
    }

    /// A schedule notice: appends the entry, accepted or void, and returns it as stored.
    /// Throws (and appends nothing) for a notice out of ledger order, oversized bytes, or a
    /// sequence whose keyset is not decided yet.
    @discardableResult
    public mutating func schedule(sequence: UInt64, kind: ScheduledKind, item: [UInt8], certificate: [UInt8]) throws -> StoredLogEntry {
        apply(try evaluate(sequence: sequence, kind: kind, item: item, certificate: certificate))
    }

    /// A replica-record schedule notice.
    @discardableResult
    public mutating func schedule(sequence: UInt64, record: [UInt8], certificate: [UInt8]) throws -> StoredLogEntry {
        try schedule(sequence: sequence, kind: .replicaRecord, item: record, certificate: certificate)
    }

    /// An entry fetched from a peer or read back: processed as a schedule notice (the
    /// checkpoints below its sequence are implied by ledger order) and refused unless the
    /// result is the same entry.
    @discardableResult
    public mutating func append(verifying entry: LogEntry) throws -> StoredLogEntry {
        let implied = entry.sequence == 0 ? 0 : (entry.sequence - 1) / interval * interval
        if implied > checkpointNotice, implied >= lastSequence { checkpointNotice = implied }
        let decision = try evaluate(sequence: entry.sequence, kind: entry.kind, item: entry.item, certificate: entry.certificate)
        guard decision.bytes == entry.encoded else { throw ClusterError.logEntryMismatch(index: length) }
        return apply(decision)
    }

    /// Decides a replica-record schedule notice without changing the log.
    public func evaluate(sequence s: UInt64, record: [UInt8], certificate: [UInt8]) throws -> LogDecision {
        try evaluate(sequence: s, kind: .replicaRecord, item: record, certificate: certificate)
    }

    /// Decides a schedule notice without changing the log.
    public func evaluate(sequence s: UInt64, kind: ScheduledKind, item: [UInt8], certificate: [UInt8]) throws -> LogDecision {
        guard s >= 1, s >= lastSequence, s > checkpointNotice else {
            throw ClusterError.scheduleOutOfOrder(sequence: s, after: max(lastSequence, checkpointNotice))
        }
        guard item.count <= kind.maximumItemByteCount else {
            throw ClusterError.oversized(what: "scheduled \(kind.name)", limit: kind.maximumItemByteCount, actual: item.count)
        }
        guard certificate.count <= ClusterCertificate.maximumByteCount else {
            throw ClusterError.oversized(what: "scheduled certificate", limit: ClusterCertificate.maximumByteCount, actual: certificate.count)
        }
        let keyset = try self.keyset(at: s)
        var accepted: ReplicaKeys?
        var acceptedClient: ClientKeys?
        var acceptedCommand: OperatorCommand?
        var answers: UInt64 = 0
        var digest: [UInt8]?
        let reason: String
        do throws(VoidReason) {
            switch kind {
            case .replicaRecord:
                let r = try check(record: item, certificate: certificate, keyset: keyset)
                accepted = ReplicaKeys(name: r.name, consensusKey: r.consensusKey, mainKey: r.mainKey, tlsPin: r.tlsPin)
                answers = r.command
                digest = r.digest
            case .clientRecord:
                let r = try check(clientRecord: item, certificate: certificate, keyset: keyset)
                acceptedClient = r.keys
                answers = r.command
                digest = r.digest
            case .command:
                let c = try check(command: item, certificate: certificate, keyset: keyset)
                acceptedCommand = c
                digest = c.digest
            }
            reason = ""
        } catch {
            reason = error.rawValue
        }
        let entry = LogEntry(sequence: s, kind: kind, item: item, certificate: certificate, status: digest == nil ? .void : .accepted, reason: reason)
        return LogDecision(entry: entry, bytes: entry.encoded, accepted: accepted, acceptedClient: acceptedClient,
                           acceptedCommand: acceptedCommand, answers: answers, digest: digest)
    }

    private mutating func apply(_ decision: LogDecision) -> StoredLogEntry {
        var hasher = SHA256()
        hasher.update(data: head)
        hasher.update(data: decision.bytes)
        let stored = StoredLogEntry(index: length, sequence: decision.entry.sequence, bytes: decision.bytes, head: Array(hasher.finalize()))
        entries.append(stored)
        statuses.append(decision.entry.status)
        let s = decision.entry.sequence
        if let digest = decision.digest { acceptedDigests.insert(digest) }
        if let keys = decision.accepted {
            addReplicaKeys(keys, at: s)
            satisfyOrders(of: .replica(keys.name.replica), through: decision.answers, at: s)
        }
        if let keys = decision.acceptedClient {
            addClientKeys(keys, at: s)
            satisfyOrders(of: .client(keys.name.client), through: decision.answers, at: s)
        }
        if let command = decision.acceptedCommand { execute(command, at: s) }
        return stored
    }

    mutating func addReplicaKeys(_ keys: ReplicaKeys, at s: UInt64) {
        history[keys.name.replica.index].append((s, keys))
        known[keys.name] = keys
        pinOwners[keys.tlsPin] = .replica(keys.name.replica)
    }

    mutating func setAddress(_ address: String, of replica: ReplicaID) { addresses[replica.index] = address }

    /// The void reasons. Each kind of entry checks its own subset, in the order of
    /// `replicaRecordOrder`, `clientRecordOrder` and `commandOrder`; the code is what the entry records.
    public enum VoidReason: String, Error, CaseIterable, Sendable {
        case malformedRecord = "malformed-record"
        case replicaOutOfRange = "replica-out-of-range"
        case unknownGeneration = "unknown-generation"
        case unknownClient = "unknown-client"
        case clientRemoved = "client-removed"
        case replay = "replay"
        case epochTaken = "epoch-taken"
        case epochGap = "epoch-gap"
        case badRecordSignature = "bad-record-signature"
        case unknownCommand = "unknown-command"
        case kindsNotRenewed = "kinds-not-renewed"
        case foreignTLSPin = "foreign-tls-pin"
        case malformedCommand = "malformed-command"
        case wrongCluster = "wrong-cluster"
        case badOperatorSignature = "bad-operator-signature"
        case commandReplay = "command-replay"
        case unknownTarget = "unknown-target"
        case clientIDTaken = "client-id-taken"
        case invalidCommand = "invalid-command"
        case malformedCertificate = "malformed-certificate"
        case certificateInvalid = "certificate-invalid"

        public static let replicaRecordOrder: [VoidReason] = [
            .malformedRecord, .replicaOutOfRange, .unknownGeneration, .replay, .epochTaken, .epochGap, .badRecordSignature,
            .unknownCommand, .kindsNotRenewed, .foreignTLSPin, .malformedCertificate, .certificateInvalid,
        ]
        public static let clientRecordOrder: [VoidReason] = [
            .malformedRecord, .unknownClient, .clientRemoved, .replay, .epochTaken, .epochGap, .badRecordSignature,
            .unknownCommand, .kindsNotRenewed, .foreignTLSPin, .malformedCertificate, .certificateInvalid,
        ]
        public static let commandOrder: [VoidReason] = [
            .malformedCommand, .wrongCluster, .badOperatorSignature, .commandReplay, .unknownTarget, .clientIDTaken,
            .invalidCommand, .malformedCertificate, .certificateInvalid,
        ]
    }

    private func check(record bytes: [UInt8], certificate: [UInt8], keyset: Keyset) throws(VoidReason) -> KeyExchangeRecord {
        guard let record = try? KeyExchangeRecord(bytes: bytes) else { throw .malformedRecord }
        let name = record.name
        guard name.replica.index < configuration.n else { throw .replicaOutOfRange }
        guard let current = newestKeys(of: name.replica), current.name.generation == name.generation else { throw .unknownGeneration }
        if name.epoch <= current.name.epoch { throw acceptedDigests.contains(record.digest) ? .replay : .epochTaken }
        guard name.epoch == current.name.epoch + 1 else { throw .epochGap }
        guard (try? record.verify(cluster: configuration.clusterID, authorityKey: current.mainKey)) != nil else { throw .badRecordSignature }
        try checkOrders(answeredBy: .replica(name.replica), command: record.command, renewed: renewedKinds(record, previous: current))
        guard pinOwners[record.tlsPin].map({ $0 == .replica(name.replica) }) ?? true else { throw .foreignTLSPin }
        try checkCertificate(certificate, message: Approval.message(cluster: configuration.clusterID, record: record),
                             domain: SignatureTag.keyLogApprovalDST, keyset: keyset)
        return record
    }

    /// The last two checks of every entry: `malformed-certificate`, `certificate-invalid`.
    func checkCertificate(_ bytes: [UInt8], message: [UInt8], domain: BLS12381.DomainSeparationTag, keyset: Keyset) throws(VoidReason) {
        guard let certificate = try? ClusterCertificate(bytes: bytes, replicaCount: configuration.n) else { throw .malformedCertificate }
        do {
            try verifyCertificate(certificate, message: message, domain: domain, keyset: keyset)
        } catch {
            throw .certificateInvalid
        }
    }

    /// The kinds whose public key differs from the previous key set's.
    func renewedKinds(_ record: KeyExchangeRecord, previous: ReplicaKeys) -> UInt64 {
        var kinds = ReplicaKeyKinds()
        if record.consensusKey != previous.consensusKey { kinds.insert(.consensus) }
        if record.mainKey != previous.mainKey { kinds.insert(.main) }
        if record.tlsPin != previous.tlsPin { kinds.insert(.tls) }
        return kinds.rawValue
    }

    // MARK: Keys

    /// The sequence whose checkpoint decides keyset(t): (⌈t/W⌉ − 2)·W, or 0 for t ≤ 2W.
    public func decidingBoundary(of t: UInt64) -> UInt64 {
        let rounds = t / interval + (t % interval == 0 ? 0 : 1)
        return rounds <= 2 ? 0 : (rounds - 2) * interval
    }

    /// keyset(t): each replica's newest accepted key scheduled at or before the deciding
    /// boundary. Throws `keysetUndecided` before the checkpoint notice for that boundary.
    public func keyset(at t: UInt64) throws -> Keyset {
        let d = decidingBoundary(of: t)
        guard d <= checkpointNotice else { throw ClusterError.keysetUndecided(sequence: t, needsCheckpoint: d) }
        return Keyset(keys: history.map { h in h.last(where: { $0.sequence <= d })!.keys })
    }

    /// A key known from the configuration or an accepted record.
    public func key(_ name: KeyName) -> ReplicaKeys? { known[name] }

    /// The newest accepted key of a replica (scheduled, not necessarily active).
    public func newestKeys(of replica: ReplicaID) -> ReplicaKeys? {
        replica.index < history.count ? history[replica.index].last!.keys : nil
    }

    /// The newest certified (accepted) epoch of (r, g): 0 for the bootstrap generation before
    /// any record; nil for a generation the log does not know.
    public func newestCertifiedEpoch(replica: ReplicaID, generation: UInt64) -> UInt64? {
        guard replica.index < history.count else { return nil }
        return history[replica.index].last(where: { $0.keys.name.generation == generation })?.keys.name.epoch
    }

    public func status(ofEntry index: UInt64) -> LogEntry.Status? { index < length ? statuses[Int(index)] : nil }

    /// A + W with A = W·⌈s/W⌉: the key scheduled at s is active from the sequence after it.
    /// Saturates at UInt64.max (a key scheduled that late never activates) rather than trap.
    public static func activationBoundary(sequence s: UInt64, interval w: UInt64) -> UInt64 {
        let (rounds, late) = (s / w + (s % w == 0 ? 0 : 1)).addingReportingOverflow(1)
        let (boundary, overflow) = rounds.multipliedReportingOverflow(by: w)
        return late || overflow ? .max : boundary
    }

    /// The activation boundary of an accepted entry; nil for a void or absent one.
    public func activationBoundary(ofEntry index: UInt64) -> UInt64? {
        guard status(ofEntry: index) == .accepted else { return nil }
        return Self.activationBoundary(sequence: entries[Int(index)].sequence, interval: interval)
    }

    /// The log after its last entry with s ≤ boundary: what a checkpoint at that boundary signs.
    public func position(atBoundary boundary: UInt64) -> (length: UInt64, head: [UInt8]) {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].sequence <= boundary { low = mid + 1 } else { high = mid }
        }
        return (UInt64(low), low == 0 ? configuration.genesisHash : entries[low - 1].head)
    }

    // MARK: Certificates

    /// Verifies a quorum certificate over `message` at schedule point `s` against keyset(s).
    public func verifyCertificate(_ certificate: ClusterCertificate, message: [UInt8], domain: BLS12381.DomainSeparationTag, at s: UInt64) throws {
        try verifyCertificate(certificate, message: message, domain: domain, keyset: try keyset(at: s))
    }

    func verifyCertificate(_ certificate: ClusterCertificate, message: [UInt8], domain: BLS12381.DomainSeparationTag, keyset: Keyset) throws {
        try certificate.verify(message: message, domain: domain, replicaCount: configuration.n, quorum: configuration.quorum) { name in
            guard let keys = known[name] else { return nil }
            guard keyset(name.replica)?.name == name else { throw ClusterError.signerKeyNotActive(name) }
            return keys.consensusKey
        }
    }

    public enum CheckpointCoverage: Equatable, Sendable {
        /// The statement's length and head are this log's at the boundary.
        case matchesLog
        /// This log has not reached the boundary; the signatures verify and the entries it
        /// holds agree with the statement as far as they go.
        case aheadOfLog
    }

    /// Verifies a stable-checkpoint certificate: Q signatures by the main keys of keyset(B),
    /// and the key-log length and head against this log where it reaches B.
    @discardableResult
    public func verify(_ certificate: CheckpointCertificate) throws -> CheckpointCoverage {
        let statement = certificate.statement
        let b = statement.boundary
        guard b % interval == 0 else { throw ClusterError.checkpointNotOnBoundary(b) }
        let keyset = try keyset(at: b)
        let coverage: CheckpointCoverage
        if checkpointNotice >= b {
            let position = position(atBoundary: b)
            guard position.length == statement.logLength, position.head == statement.logHead else { throw ClusterError.logHeadMismatch(boundary: b) }
            coverage = .matchesLog
        } else {
            if statement.logLength >= 1, statement.logLength <= length {
                let e = entries[Int(statement.logLength - 1)]
                guard e.head == statement.logHead, e.sequence <= b else { throw ClusterError.logHeadMismatch(boundary: b) }
            }
            if statement.logLength < length, entries[Int(statement.logLength)].sequence <= b { throw ClusterError.logHeadMismatch(boundary: b) }
            if statement.logLength == 0, !entries.isEmpty, entries[0].sequence <= b { throw ClusterError.logHeadMismatch(boundary: b) }
            coverage = .aheadOfLog
        }
        try certificate.verify(cluster: configuration.clusterID, replicaCount: configuration.n, quorum: configuration.quorum) { name in
            guard let keys = known[name] else { return nil }
            guard keyset(name.replica)?.name == name else { throw ClusterError.signerKeyNotActive(name) }
            return keys.mainKey
        }
        return coverage
    }

    // MARK: Approvals

    /// The approval checks of docs/cluster.md "Key exchange" against this log: replica in the
    /// cluster, known generation, e one more than the newest certified epoch (from this log or
    /// the certified previous record the proposal carries), and the record's signatures.
    /// Whether this replica already approved another record for (r, g, e) is the vault's.
    public func checkProposal(_ proposal: Proposal) throws {
        let record = proposal.record
        let name = record.name
        guard name.replica.index < configuration.n else { throw ClusterError.replicaOutOfRange(UInt64(name.replica.rawValue)) }
        guard let current = newestKeys(of: name.replica), current.name.generation == name.generation else {
            throw ClusterError.unknownGeneration(name)
        }
        var authority = current.mainKey
        var carried = false
        if name.epoch == current.name.epoch + 2, let previous = proposal.previous {
            carried = true
            // This replica has not scheduled the previous record yet: the proposal carries it.
            try previous.record.verify(cluster: configuration.clusterID, authorityKey: current.mainKey)
            let cert = try ClusterCertificate(bytes: previous.certificate, replicaCount: configuration.n)
            try cert.verify(message: Approval.message(cluster: configuration.clusterID, record: previous.record),
                            domain: SignatureTag.keyLogApprovalDST, replicaCount: configuration.n, quorum: configuration.quorum) { known[$0]?.consensusKey }
            authority = previous.record.mainKey
        } else if name.epoch != current.name.epoch + 1 {
            throw ClusterError.unexpectedEpoch(name, expected: current.name.epoch + 1)
        }
        try record.verify(cluster: configuration.clusterID, authorityKey: authority)
        // With the previous record carried, this log has not seen it satisfy its orders: the
        // kinds are checked by the log when the record is scheduled.
        let renewed = carried ? ReplicaKeyKinds.all.rawValue : renewedKinds(record, previous: current)
        do throws(VoidReason) {
            try checkOrders(answeredBy: .replica(name.replica), command: record.command, renewed: renewed)
        } catch {
            throw orderError(error, command: record.command, node: .replica(name.replica))
        }
        try checkPinOwner(record)
    }

    /// Refuses a record whose TLS pin is another replica's (in the configuration or an accepted
    /// record): peers identify callers by pin, so a copied pin would make another replica's
    /// calls look like this one's.
    public func checkPinOwner(_ record: KeyExchangeRecord) throws {
        switch pinOwners[record.tlsPin] {
        case .replica(let owner) where owner != record.name.replica:
            throw ClusterError.duplicateReplicaField(field: "TLS pin", first: owner, second: record.name.replica)
        case .client(let owner):
            throw ClusterError.pinTaken(owner: .client(owner), claimant: .replica(record.name.replica))
        default:
            break
        }
    }

    /// The node a pin of the log belongs to.
    public func pinOwner(_ pin: [UInt8]) -> NodeRef? { pinOwners[pin] }
}
