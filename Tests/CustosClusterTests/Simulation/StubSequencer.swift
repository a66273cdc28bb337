import CustosCluster

/// Stands in for the ledger's ordering (test code, not product): takes the certified items (replica
/// records, client records, commands) the live replicas offer, schedules each once at the next sequence, and hands every live replica
/// the same schedule and checkpoint notices in the same order.
final class StubSequencer: @unchecked Sendable {
    enum Notice: Equatable {
        case schedule(sequence: UInt64, kind: ScheduledKind, item: [UInt8], certificate: [UInt8])
        case checkpoint(boundary: UInt64, digest: [UInt8])
    }

    let cluster: SimulatedCluster
    /// The ledger so far, in order.
    private(set) var notices: [Notice] = []
    private(set) var sequence: UInt64 = 0
    private var submitted: Set<[UInt8]> = []
    /// Refusals replicas answered to notices: (replica, description).
    private(set) var refusals: [(Int, String)] = []

    init(cluster: SimulatedCluster) { self.cluster = cluster }

    static func ledgerDigest(_ boundary: UInt64) -> [UInt8] {
        (0..<32).map { UInt8(truncatingIfNeeded: boundary &* 0x9E37 &+ UInt64($0) &* 31) }
    }

    /// Schedules every certified item a live replica offers, once each; returns how many.
    @discardableResult
    func scheduleCertified() async throws -> Int {
        var count = 0
        for node in cluster.live {
            for certified in try await node.certifiedAwaitingSchedule() where !submitted.contains(certified.item + certified.certificate) {
                submitted.insert(certified.item + certified.certificate)
                try await schedule(kind: certified.kind, item: certified.item, certificate: certified.certificate)
                count += 1
            }
        }
        return count
    }

    /// Commits one replica record (anything, honest or not) at the next sequence.
    func schedule(record: [UInt8], certificate: [UInt8]) async throws {
        try await schedule(kind: .replicaRecord, item: record, certificate: certificate)
    }

    /// Commits one request of any kind at the next sequence, handing in first the boundary
    /// notice it would cross.
    func schedule(kind: ScheduledKind, item: [UInt8], certificate: [UInt8]) async throws {
        if (sequence + 1) % cluster.interval == 0 { try await checkpoint() }
        sequence += 1
        let notice = Notice.schedule(sequence: sequence, kind: kind, item: item, certificate: certificate)
        notices.append(notice)
        for (r, node) in cluster.nodes.enumerated() { if let node { await deliver(notice, to: node, r) } }
    }

    /// Moves the ledger to the next boundary and hands in its checkpoint notice; then every live
    /// replica collects its peers' signatures. Returns how many formed a stable checkpoint.
    @discardableResult
    func checkpoint() async throws -> Int {
        let boundary = (sequence / cluster.interval + 1) * cluster.interval
        sequence = boundary
        let notice = Notice.checkpoint(boundary: boundary, digest: Self.ledgerDigest(boundary))
        notices.append(notice)
        for (r, node) in cluster.nodes.enumerated() { if let node { await deliver(notice, to: node, r) } }
        var stable = 0
        for node in cluster.live where (try? await node.collectCheckpoint(boundary: boundary)) ?? nil != nil { stable += 1 }
        return stable
    }

    /// Hands replica r the notices after the latest checkpoint it knows, as a ledger node
    /// replays to a Custos that restarted.
    func replay(to r: Int) async {
        guard let node = cluster.nodes[r] else { return }
        let known = await node.status().latestCheckpoint
        for notice in notices {
            switch notice {
            case .schedule(let s, _, _, _) where s > known: await deliver(notice, to: node, r)
            case .checkpoint(let b, _) where b > known: await deliver(notice, to: node, r)
            default: continue
            }
        }
    }

    private func deliver(_ notice: Notice, to node: ReplicaNode, _ r: Int) async {
        do {
            switch notice {
            case .schedule(let s, let kind, let item, let certificate):
                _ = try await node.schedule(sequence: s, kind: kind, item: item, certificate: certificate)
            case .checkpoint(let b, let digest): _ = try await node.checkpoint(boundary: b, ledgerDigest: digest)
            }
        } catch {
            refusals.append((r, String(describing: error)))
        }
    }

    /// Key exchange on every live replica, scheduling, then checkpoints until the records are
    /// active and a stable checkpoint at their activation boundary has been collected.
    func runToOperational(rounds: Int = 3) async throws {
        for _ in 0..<rounds {
            for node in cluster.live { _ = try await node.advanceKeyExchange() }
            try await scheduleCertified()
        }
        for _ in 0..<3 { try await checkpoint() }
    }
}
