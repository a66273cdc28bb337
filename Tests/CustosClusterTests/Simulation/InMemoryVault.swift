import BLS12381
import CustosCluster
import CustosCrypto


/// The simulation's `ReplicaVault`: every method is atomic (an actor) and its state survives a
/// simulated crash (the node is rebuilt, the vault kept). `snapshot()`/`restore(_:)` stand for
/// a backup and its restore.
actor InMemoryVault: ReplicaVault {
    struct KeySet: Sendable {
        let consensus: BLS12381.PrivateKey
        let main: SigningPrivateKey
        /// Stands in for the TLS key: the simulation has no TLS, only pins.
        let tlsPin: [UInt8]
    }

    struct State: Sendable {
        var keys: [KeyName: KeySet] = [:]
        var destroyed: [KeyName: String] = [:]
        var candidates: [KeyName: [UInt8]] = [:]
        var approvals: [KeyName: [UInt8]] = [:]
        var checkpointDigests: [UInt64: [UInt8]] = [:]
        var shares: [ConsensusSlot: [UInt8]] = [:]
        var lowWatermark: UInt64 = 0
        var viewFloor: UInt64 = 0
        var highestSigned: UInt64?
        var log: [StoredLogEntry] = []
        var certificates: [KeyName: [UInt8]] = [:]
        var stable: [UInt64: [UInt8]] = [:]
        var audit: [ClusterAuditEvent] = []
        var commandApprovals: [UInt64: [UInt8]] = [:]
        var clientApprovals: [ClientKeyName: [UInt8]] = [:]
        /// Relayed commands and client records, in the order received.
        var relayed: [RelayedItem] = []
    }

    var state = State()
    private var random: SeededRandom
    /// Counts of calls, for the figures the tests report.
    private(set) var consensusSignatures = 0

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    // MARK: Test controls

    func installKeys(_ name: KeyName, consensus: BLS12381.PrivateKey, main: SigningPrivateKey, tlsPin: [UInt8] = []) {
        state.keys[name] = KeySet(consensus: consensus, main: main, tlsPin: tlsPin)
    }

    /// The public keys of every private key this vault still holds, under any name: after a
    /// rotation the renewed kinds' old keys must be gone from all of them.
    var heldPublicKeys: (consensus: Set<[UInt8]>, main: Set<[UInt8]>, tlsPins: Set<[UInt8]>) {
        let held = state.keys.filter { state.destroyed[$0.key] == nil }.values
        return (Set(held.map { $0.consensus.publicKey.compressedRepresentation }), Set(held.compactMap { $0.main.publicKey.rawRepresentation }),
                Set(held.map(\.tlsPin)))
    }

    func snapshot() -> State { state }
    func restore(_ snapshot: State) { state = snapshot }
    var auditEvents: [ClusterAuditEvent] { state.audit }
    var destroyedKeys: [KeyName: String] { state.destroyed }
    var signedShares: [ConsensusSlot: [UInt8]] { state.shares }

    // MARK: Keys

    /// Fresh keys for the kinds in `renewing`; the others are the private keys of `previous`
    /// under the new name (public keys unchanged).
    func createCandidate(_ name: KeyName, renewing: ReplicaKeyKinds, carryingFrom previous: KeyName?,
                         build: @Sendable (CandidateKeys) async throws -> [UInt8]) async throws -> [UInt8] {
        if let existing = state.candidates[name] { return existing }
        let carried: KeySet? = renewing == .all ? nil : try usableKeys(previous ?? name)
        let consensus = renewing.contains(.consensus) ? random.blsKey() : carried!.consensus
        let main = renewing.contains(.main) ? random.ed25519Key() : carried!.main
        // A pin is a SHA-256 output: random bytes stand in for a fresh TLS key's.
        let tlsPin = renewing.contains(.tls) ? random.bytes(32) : carried!.tlsPin
        let keys = CandidateKeys(
            consensusPublicKey: consensus.publicKey, proofOfPossession: consensus.proofOfPossession(),
            mainPublicKey: main.publicKey.rawRepresentation ?? [], tlsPin: tlsPin,
            signConsensus: { message, domain in consensus.signature(for: message, domain: domain) },
            signMain: { message in try main.signature(for: message).bytes })
        let record = try await build(keys)
        // Another call may have created it while `build` ran: the first one stays.
        if let existing = state.candidates[name] { return existing }
        state.candidates[name] = record
        state.keys[name] = KeySet(consensus: consensus, main: main, tlsPin: tlsPin)
        return record
    }

    func candidate(_ name: KeyName) -> [UInt8]? { state.candidates[name] }

    private func usableKeys(_ name: KeyName) throws -> KeySet {
        guard state.destroyed[name] == nil, let keys = state.keys[name] else { throw ClusterVaultError.keyUnavailable(name) }
        return keys
    }

    func signMain(_ name: KeyName, _ message: [UInt8]) throws -> [UInt8] {
        try usableKeys(name).main.signature(for: message).bytes
    }

    func signConsensus(_ name: KeyName, _ message: [UInt8], domain: BLS12381.DomainSeparationTag) throws -> BLS12381.Signature {
        consensusSignatures += 1
        return try usableKeys(name).consensus.signature(for: message, domain: domain)
    }

    func holdsKeys(_ name: KeyName) -> Bool { state.destroyed[name] == nil && state.keys[name] != nil }

    func destroyKeys(_ name: KeyName, reason: String) {
        guard state.destroyed[name] == nil else { return }
        state.keys[name] = nil
        state.destroyed[name] = reason
    }

    // MARK: Decisions

    func decideApproval(_ subject: KeyName, digest: [UInt8], audit: ClusterAuditEvent) -> Decision {
        if let existing = state.approvals[subject] {
            return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
        }
        state.approvals[subject] = digest
        state.audit.append(audit)
        return .recorded
    }

    func decideConsensusShare(_ slot: ConsensusSlot, digest: [UInt8], floor: UInt64, audit: ClusterAuditEvent) -> ShareDecision {
        let effectiveFloor = max(floor, state.lowWatermark)
        if slot.sequence <= effectiveFloor { return .belowFloor(floor: effectiveFloor) }
        if slot.view < state.viewFloor { return .viewLeft(viewFloor: state.viewFloor) }
        if let existing = state.shares[slot] {
            return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
        }
        state.shares[slot] = digest
        if slot.phase == .viewChange { state.viewFloor = max(state.viewFloor, slot.view) }
        state.highestSigned = max(state.highestSigned ?? 0, slot.sequence)
        state.audit.append(audit)
        return .recorded
    }

    func decideCheckpoint(boundary: UInt64, digest: [UInt8], audit: ClusterAuditEvent) -> Decision {
        if let existing = state.checkpointDigests[boundary] {
            return existing == digest ? .alreadyRecorded : .conflicts(existingDigest: existing)
        }
        state.checkpointDigests[boundary] = digest
        state.audit.append(audit)
        return .recorded
    }

    func pruneConsensusShares(through sequence: UInt64) {
        guard sequence > state.lowWatermark else { return }
        state.lowWatermark = sequence
        state.shares = state.shares.filter { $0.key.sequence > sequence }
    }

    // MARK: Log and certificates

    func appendLogEntry(_ entry: StoredLogEntry) throws {
        let expected = UInt64(state.log.count)
        guard entry.index == expected else { throw ClusterVaultError.logIndexOutOfOrder(expected: expected, actual: entry.index) }
        state.log.append(entry)
    }

    func logEntries(after index: UInt64, limit: Int) -> [StoredLogEntry] {
        let start = Int(min(index, UInt64(state.log.count)))
        return Array(state.log[start...].prefix(max(0, limit)))
    }

    func saveCertificate(_ name: KeyName, certificate: [UInt8]) { state.certificates[name] = certificate }
    func certificate(_ name: KeyName) -> [UInt8]? { state.certificates[name] }

    func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) { state.stable[boundary] = certificate }

    func stableCheckpoints(after boundary: UInt64, limit: Int) -> [(boundary: UInt64, certificate: [UInt8])] {
        state.stable.keys.filter { $0 > boundary }.sorted().prefix(max(0, limit)).map { ($0, state.stable[$0]!) }
    }

    func latestStableCheckpoint() -> (boundary: UInt64, certificate: [UInt8])? {
        state.stable.keys.max().map { ($0, state.stable[$0]!) }
    }

    func consensusFloors() -> (lowWatermark: UInt64, viewFloor: UInt64, highestSigned: UInt64?) {
        (state.lowWatermark, state.viewFloor, state.highestSigned)
    }
}
