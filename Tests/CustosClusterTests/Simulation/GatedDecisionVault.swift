import BLS12381
import CustosCluster
import Synchronization

/// An `InMemoryVault` whose consensus-share decisions wait until the test opens a gate, so a
/// test can see what the engine does while a decision is being made durable.
struct GatedDecisionVault: ReplicaVault {
    final class Gate: Sendable {
        private struct State {
            var open = false
            var pending: [CheckedContinuation<Void, Never>] = []
            var pendingWaiters: [CheckedContinuation<Void, Never>] = []
        }
        private let state = Mutex(State())

        func pass() async {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let (resumeNow, waiters) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if s.open { return (true, []) }
                    s.pending.append(c)
                    defer { s.pendingWaiters = [] }
                    return (false, s.pendingWaiters)
                }
                for w in waiters { w.resume() }
                if resumeNow { c.resume() }
            }
        }

        /// Returns once a decision waits at the gate.
        func waitUntilPending() async {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if !s.pending.isEmpty { return true }
                    s.pendingWaiters.append(c)
                    return false
                }
                if ready { c.resume() }
            }
        }

        func open() {
            let pending = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.open = true
                defer { s.pending = [] }
                return s.pending
            }
            for c in pending { c.resume() }
        }
    }

    let inner: InMemoryVault
    let gate: Gate

    func decideConsensusShare(_ slot: ConsensusSlot, digest: [UInt8], floor: UInt64, audit: ClusterAuditEvent) async throws -> ShareDecision {
        await gate.pass()
        return try await inner.decideConsensusShare(slot, digest: digest, floor: floor, audit: audit)
    }

    func candidate(_ name: KeyName) async throws -> [UInt8]? { try await inner.candidate(name) }
    func signMain(_ name: KeyName, _ message: [UInt8]) async throws -> [UInt8] { try await inner.signMain(name, message) }
    func signConsensus(_ name: KeyName, _ message: [UInt8], domain: BLS12381.DomainSeparationTag) async throws -> BLS12381.Signature {
        try await inner.signConsensus(name, message, domain: domain)
    }
    func holdsKeys(_ name: KeyName) async throws -> Bool { try await inner.holdsKeys(name) }
    func destroyKeys(_ name: KeyName, reason: String) async throws { try await inner.destroyKeys(name, reason: reason) }
    func decideApproval(_ subject: KeyName, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        try await inner.decideApproval(subject, digest: digest, audit: audit)
    }
    func decideCheckpoint(boundary: UInt64, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        try await inner.decideCheckpoint(boundary: boundary, digest: digest, audit: audit)
    }
    func pruneConsensusShares(through sequence: UInt64) async throws { try await inner.pruneConsensusShares(through: sequence) }
    func appendLogEntry(_ entry: StoredLogEntry) async throws { try await inner.appendLogEntry(entry) }
    func logEntries(after index: UInt64, limit: Int) async throws -> [StoredLogEntry] { try await inner.logEntries(after: index, limit: limit) }
    func saveCertificate(_ name: KeyName, certificate: [UInt8]) async throws { try await inner.saveCertificate(name, certificate: certificate) }
    func certificate(_ name: KeyName) async throws -> [UInt8]? { try await inner.certificate(name) }
    func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) async throws {
        try await inner.saveStableCheckpoint(boundary: boundary, certificate: certificate)
    }
    func stableCheckpoints(after boundary: UInt64, limit: Int) async throws -> [(boundary: UInt64, certificate: [UInt8])] {
        try await inner.stableCheckpoints(after: boundary, limit: limit)
    }
    func latestStableCheckpoint() async throws -> (boundary: UInt64, certificate: [UInt8])? { try await inner.latestStableCheckpoint() }
    func consensusFloors() async throws -> (lowWatermark: UInt64, viewFloor: UInt64, highestSigned: UInt64?) { try await inner.consensusFloors() }
    func createCandidate(_ name: KeyName, renewing: ReplicaKeyKinds, carryingFrom previous: KeyName?,
                         build: @Sendable (CandidateKeys) async throws -> [UInt8]) async throws -> [UInt8] {
        try await inner.createCandidate(name, renewing: renewing, carryingFrom: previous, build: build)
    }
    func decideCommandApproval(_ number: UInt64, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        try await inner.decideCommandApproval(number, digest: digest, audit: audit)
    }
    func decideClientApproval(_ name: ClientKeyName, digest: [UInt8], audit: ClusterAuditEvent) async throws -> Decision {
        try await inner.decideClientApproval(name, digest: digest, audit: audit)
    }
    func saveRelayed(kind: ScheduledKind, item: [UInt8]) async throws { try await inner.saveRelayed(kind: kind, item: item) }
    func saveRelayedCertificate(kind: ScheduledKind, digest: [UInt8], certificate: [UInt8]) async throws {
        try await inner.saveRelayedCertificate(kind: kind, digest: digest, certificate: certificate)
    }
    func relayed() async throws -> [RelayedItem] { try await inner.relayed() }
    func dropRelayed(digest: [UInt8]) async throws { try await inner.dropRelayed(digest: digest) }
}
