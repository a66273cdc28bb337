import BLS12381
import CustosCluster
import Testing

/// Every byzantine case of docs/cluster.md's approver and certificate rules: a clear refusal,
/// an audit record, and nothing changed.
@Suite("Simulation: byzantine peers")
struct ByzantineSimulationTests {
    static func epoch1(_ r: Int) -> KeyName { KeyName(replica: ReplicaID(r), generation: 0, epoch: 1) }

    /// Sends `request` from `sender` to replica `to` and expects the refusal `error`, audited
    /// at `to`, with no approval recorded.
    func expectRefused(_ cluster: SimulatedCluster, _ request: [UInt8], from sender: Int, to: Int, _ error: ClusterError,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let approvalsBefore = await cluster.vaults[to].auditEvents.count
        let refusalsBefore = await cluster.audits[to].events.filter { $0.outcome == "refused" }.count
        await #expect(throws: error, sourceLocation: sourceLocation) {
            try await cluster.node(to).handlePeer(request, from: ReplicaID(sender))
        }
        #expect(await cluster.vaults[to].auditEvents.count == approvalsBefore, "no durable decision", sourceLocation: sourceLocation)
        let refusals = await cluster.audits[to].events.filter { $0.outcome == "refused" }
        #expect(refusals.count == refusalsBefore + 1, sourceLocation: sourceLocation)
        #expect(refusals.last?.detail == error.description, sourceLocation: sourceLocation)
    }

    @Test("forged replica id, wrong authority key, copied consensus key, bad proof of possession, bad main binding")
    func badRecords() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 400)
        try await cluster.bootAll()
        var byzantine = ByzantineRecords(cluster: cluster, seed: 401)
        let name1 = Self.epoch1(1)

        // Replica 1 relays a genuine record of replica 0: the authenticated sender is not its proposer.
        let genuine0 = try await byzantine.record(Self.epoch1(0), keys: byzantine.keys(), authority: cluster.bootstrapMain[0])
        try await expectRefused(cluster, ByzantineRecords.proposal(genuine0), from: 1, to: 2,
                                .approverMismatch(sender: ReplicaID(1), named: ReplicaID(0)))

        // Replica 1's record signed by replica 2's bootstrap main key.
        let wrongAuthority = try await byzantine.record(name1, keys: byzantine.keys(), authority: cluster.bootstrapMain[2])
        try await expectRefused(cluster, ByzantineRecords.proposal(wrongAuthority), from: 1, to: 2, .badAuthoritySignature(name1))

        // Replica 0's consensus key and its valid proof of possession, copied: the binding cannot be made.
        let copied = try await byzantine.record(name1, keys: byzantine.keys(consensusKey: cluster.bootstrapConsensus[0].publicKey,
                                                                            proofOfPossession: cluster.bootstrapConsensus[0].proofOfPossession()),
                                                authority: cluster.bootstrapMain[1])
        try await expectRefused(cluster, ByzantineRecords.proposal(copied), from: 1, to: 3, .badConsensusBinding(name1))

        // A proof of possession of another key.
        let otherPoP = byzantine.random.blsKey().proofOfPossession()
        let badPoP = try await byzantine.record(name1, keys: byzantine.keys(proofOfPossession: otherPoP), authority: cluster.bootstrapMain[1])
        try await expectRefused(cluster, ByzantineRecords.proposal(badPoP), from: 1, to: 0, .badProofOfPossession(what: "record \(name1)"))

        // The main key's binding made by another main key.
        let badMain = try await byzantine.record(name1, keys: byzantine.keys(mainSigner: byzantine.random.ed25519Key()), authority: cluster.bootstrapMain[1])
        try await expectRefused(cluster, ByzantineRecords.proposal(badMain), from: 1, to: 0, .badMainBinding(name1))

        // A replica outside the configuration, and an epoch that skips one.
        let skip = KeyName(replica: ReplicaID(1), generation: 0, epoch: 2)
        let skipped = try await byzantine.record(skip, keys: byzantine.keys(), authority: cluster.bootstrapMain[1])
        try await expectRefused(cluster, ByzantineRecords.proposal(skipped), from: 1, to: 0, .previousRecordMismatch(skip))
        let outside = KeyName(replica: ReplicaID(9), generation: 0, epoch: 1)
        let outsider = try await byzantine.record(outside, keys: byzantine.keys(), authority: cluster.bootstrapMain[1])
        try await expectRefused(cluster, ByzantineRecords.proposal(outsider), from: 1, to: 0,
                                .approverMismatch(sender: ReplicaID(1), named: ReplicaID(9)))

        // None of it stopped the honest replicas.
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        for r in 0..<4 { #expect(await cluster.node(r).status().phase == .operational) }
    }

    @Test("an equivocating proposer's two records for one epoch are never both certified", arguments: [4, 7, 10])
    func equivocation(n: Int) async throws {
        let cluster = try await SimulatedCluster(n: n, seed: 500 + UInt64(n))
        // Replica 0 and f − 1 others are byzantine: they approve whatever they are asked.
        let byzantineIDs = Array(0..<cluster.f)
        let honest = Array(cluster.f..<n)
        try await cluster.bootAll(except: Set(byzantineIDs))
        var byzantine = ByzantineRecords(cluster: cluster, seed: 600)
        let name = Self.epoch1(0)
        let a = try await byzantine.record(name, keys: byzantine.keys(), authority: cluster.bootstrapMain[0])
        let b = try await byzantine.record(name, keys: byzantine.keys(), authority: cluster.bootstrapMain[0])
        #expect(a.digest != b.digest)

        // A to the first half of the honest replicas, B to the second; then each to the other half.
        let half = honest.count / 2
        var approvals: [[UInt8]: [Approval]] = [a.digest: [], b.digest: []]
        for (first, second) in [(a, b), (b, a)] {
            let targets = first == a ? Array(honest[..<half]) : Array(honest[half...])
            for r in targets {
                let bytes = try await cluster.node(r).handlePeer(ByzantineRecords.proposal(first), from: ReplicaID(0))
                approvals[first.digest]!.append(try Approval(bytes: bytes))
            }
            for r in targets {
                await #expect(throws: ClusterError.approvalConflict(name)) {
                    try await cluster.node(r).handlePeer(ByzantineRecords.proposal(second), from: ReplicaID(0))
                }
            }
        }
        // The byzantine replicas sign both with their bootstrap keys.
        for r in byzantineIDs {
            for record in [a, b] {
                let share = cluster.bootstrapConsensus[r].signature(for: Approval.message(cluster: cluster.configuration.clusterID, record: record),
                                                                     domain: SignatureTag.keyLogApprovalDST)
                approvals[record.digest]!.append(Approval(approverKey: .bootstrap(ReplicaID(r)), share: share))
            }
        }
        let certified = [a, b].filter { approvals[$0.digest]!.count >= cluster.quorum }
        #expect(certified.count <= 1)
        #expect(approvals[a.digest]!.count + approvals[b.digest]!.count == honest.count + 2 * byzantineIDs.count)
        for record in [a, b] where approvals[record.digest]!.count < cluster.quorum {
            #expect(throws: ClusterError.belowQuorum(required: cluster.quorum, actual: approvals[record.digest]!.count)) {
                try ClusterCertificate.combine(approvals[record.digest]!, message: Approval.message(cluster: cluster.configuration.clusterID, record: record),
                                               domain: SignatureTag.keyLogApprovalDST, replicaCount: n, quorum: cluster.quorum) { name in
                    name.epoch == 0 ? cluster.configuration.replicas[name.replica.index].consensusKey : nil
                }
            }
        }
    }
}

extension ByzantineSimulationTests {
    /// A four-replica cluster with epoch-1 keys active and a stable checkpoint at 3W.
    func operationalCluster(seed: UInt64) async throws -> (SimulatedCluster, StubSequencer) {
        let cluster = try await SimulatedCluster(n: 4, seed: seed)
        try await cluster.bootAll()
        let sequencer = StubSequencer(cluster: cluster)
        try await sequencer.runToOperational()
        return (cluster, sequencer)
    }

    @Test("a replayed old record is refused by approvers and void in the key log")
    func replayedRecord() async throws {
        let (cluster, sequencer) = try await operationalCluster(seed: 700)
        guard case .schedule(_, _, let oldRecord, let oldCertificate) = sequencer.notices.first(where: {
            if case .schedule = $0 { true } else { false }
        }) else { Issue.record("no schedule notice"); return }
        let record = try KeyExchangeRecord(bytes: oldRecord)
        let proposer = record.name.replica.index
        try await expectRefused(cluster, ByzantineRecords.proposal(record), from: proposer, to: (proposer + 1) % 4,
                                .unexpectedEpoch(record.name, expected: 2))

        let before = await cluster.node(0).status()
        try await sequencer.schedule(record: oldRecord, certificate: oldCertificate)
        for r in 0..<4 {
            let status = await cluster.node(r).status()
            #expect(status.logLength == before.logLength + 1)
            #expect(status.replicas == before.replicas, "a void entry changes no keys")
            #expect(await cluster.audits[r].events("cluster.schedule", outcome: "void").last?.detail.hasSuffix(": replay") == true)
        }
        let heads = await Set(cluster.live.asyncMap { await $0.status().logHead })
        #expect(heads.count == 1)
    }

    @Test("truncated, oversized, malformed and unknown peer requests are refused and audited; the replica keeps working")
    func malformedRequests() async throws {
        let cluster = try await SimulatedCluster(n: 4, seed: 800)
        try await cluster.bootAll()
        let good = PeerRequest.status.encoded
        let proposal = PeerRequest.logEntries(after: 0, limit: 5).encoded
        let cases: [([UInt8], ClusterError)] = [
            ([], .encoding(what: "peer request", .truncated)),
            (Array(proposal.dropLast()), .encoding(what: "peer request", .truncated)),
            (proposal + [0], .encoding(what: "peer request", .trailingBytes(count: 1))),
            ([UInt8](repeating: 0x40, count: PeerRequest.maximumByteCount + 1),
             .oversized(what: "peer request", limit: PeerRequest.maximumByteCount, actual: PeerRequest.maximumByteCount + 1)),
            (CBORValue.array([.unsigned(10)]).encoded, .malformed("unknown peer request kind 10")),
            (CBORValue.array([.unsigned(5), .unsigned(1)]).encoded, .malformed("peer request 5 must have 1 fields, has 2")),
            (CBORValue.unsigned(5).encoded, .malformed("peer request must be an array")),
        ]
        for (bytes, error) in cases {
            await #expect(throws: error) { try await cluster.node(1).handlePeer(bytes, from: ReplicaID(2)) }
        }
        #expect(await cluster.audits[1].events("cluster.peer", outcome: "refused").count == cases.count)
        // A replica id outside the configuration is refused before the body is read.
        await #expect(throws: ClusterError.replicaOutOfRange(7)) { try await cluster.node(1).handlePeer(good, from: ReplicaID(7)) }
        #expect(try PeerStatus(bytes: try await cluster.node(1).handlePeer(good, from: ReplicaID(2))).latestStableBoundary == 0)
        #expect(try await cluster.node(1).advanceKeyExchange() == .certified(name: Self.epoch1(1)))
    }

    @Test("certificates naming a replica that did not sign, with a padding bit, or below a quorum are refused; a bad one schedules as void")
    func forgedCertificates() async throws {
        let (cluster, sequencer) = try await operationalCluster(seed: 900)
        let sequence = 3 * cluster.interval + 2
        let digest = [UInt8](repeating: 7, count: 32)
        var shares: [ConsensusShare] = []
        for r in 0..<3 { shares.append(try await cluster.node(r).consensusShare(view: 1, sequence: sequence, phase: .commit, digest: digest)) }
        let certificate = try await cluster.node(0).combineConsensus(view: 1, sequence: sequence, phase: .commit, digest: digest, shares: shares)
        let decoded = try ClusterCertificate(bytes: certificate, replicaCount: 4)
        #expect(decoded.signerBits == [0b0111])

        func reencoded(bits: [UInt8], keys: [KeyName]) -> [UInt8] {
            CBORValue.array([.bytes(decoded.aggregate.compressedRepresentation), .bytes(bits),
                             .array(keys.map { .array([.unsigned($0.generation), .unsigned($0.epoch)]) })]).encoded
        }
        let verify = { (bytes: [UInt8]) in
            try await cluster.node(3).verifyConsensusCertificate(view: 1, sequence: sequence, phase: .commit, digest: digest, certificate: bytes)
        }
        // Replica 3 named in place of replica 2, which signed.
        await #expect(throws: ClusterError.badAggregateSignature) { try await verify(reencoded(bits: [0b1011], keys: decoded.signerKeys)) }
        await #expect(throws: ClusterError.signerPaddingBit(bit: 5)) { try await verify(reencoded(bits: [0b10_0111], keys: decoded.signerKeys)) }
        await #expect(throws: ClusterError.signerKeyCountMismatch(signers: 4, keys: 3)) { try await verify(reencoded(bits: [0b1111], keys: decoded.signerKeys)) }
        await #expect(throws: ClusterError.signerBitsLength(expected: 1, actual: 2)) { try await verify(reencoded(bits: [0b0111, 0], keys: decoded.signerKeys)) }
        await #expect(throws: ClusterError.belowQuorum(required: 3, actual: 2)) {
            try await verify(reencoded(bits: [0b0011], keys: Array(decoded.signerKeys.prefix(2))))
        }
        // The bootstrap key named for a signer: known, but not active at the sequence.
        var stale = decoded.signerKeys
        stale[0] = .bootstrap(ReplicaID(0))
        await #expect(throws: ClusterError.signerKeyNotActive(.bootstrap(ReplicaID(0)))) { try await verify(reencoded(bits: [0b0111], keys: stale)) }
        try await verify(certificate)

        // A record with a valid authority scheduled with a padded certificate, then one with a
        // certificate naming a non-signer: void everywhere, keys unchanged.
        let rotation = KeyName(replica: ReplicaID(2), generation: 0, epoch: 2)
        var byzantine = ByzantineRecords(cluster: cluster, seed: 901)
        let authorised = try await byzantine.record(rotation, keys: byzantine.keys()) { try await cluster.vaults[2].signMain(Self.epoch1(2), $0) }
        try await sequencer.schedule(record: authorised.bytes, certificate: reencoded(bits: [0b10_0111], keys: decoded.signerKeys))
        try await sequencer.schedule(record: authorised.bytes, certificate: reencoded(bits: [0b1011], keys: decoded.signerKeys))
        for r in 0..<4 {
            let void = await cluster.audits[r].events("cluster.schedule", outcome: "void").map(\.detail)
            #expect(void.count == 2)
            #expect(void.first?.hasSuffix(": malformed-certificate") == true)
            #expect(void.last?.hasSuffix(": certificate-invalid") == true)
            #expect(await cluster.node(r).status().replicas[2].newestCertified == Self.epoch1(2))
        }
    }

    @Test("duplicate shares and shares by a key not active are refused when combining")
    func badShares() async throws {
        let (cluster, _) = try await operationalCluster(seed: 1000)
        let sequence = 3 * cluster.interval + 3
        let digest = [UInt8](repeating: 9, count: 32)
        let s0 = try await cluster.node(0).consensusShare(view: 0, sequence: sequence, phase: .prepare, digest: digest)
        let s1 = try await cluster.node(1).consensusShare(view: 0, sequence: sequence, phase: .prepare, digest: digest)
        await #expect(throws: ClusterError.duplicateApproval(ReplicaID(1))) {
            try await cluster.node(2).combineConsensus(view: 0, sequence: sequence, phase: .prepare, digest: digest, shares: [s0, s1, s1])
        }
        // Replica 2's bootstrap key (the test kept a copy; the replica destroyed its own).
        let message = try ConsensusMessage(view: 0, sequence: sequence, phase: .prepare, digest: digest).message(cluster: cluster.configuration.clusterID)
        let old = ConsensusShare(signer: .bootstrap(ReplicaID(2)),
                                 share: cluster.bootstrapConsensus[2].signature(for: message, domain: SignatureTag.consensusShareDST).compressedRepresentation)
        await #expect(throws: ClusterError.signerKeyNotActive(.bootstrap(ReplicaID(2)))) {
            try await cluster.node(3).combineConsensus(view: 0, sequence: sequence, phase: .prepare, digest: digest, shares: [s0, s1, old])
        }
        // A share over another message under the right key.
        let wrong = try await cluster.node(2).consensusShare(view: 0, sequence: sequence, phase: .commit, digest: digest)
        await #expect(throws: ClusterError.badShare(ReplicaID(2))) {
            try await cluster.node(3).combineConsensus(view: 0, sequence: sequence, phase: .prepare, digest: digest, shares: [s0, s1, wrong])
        }
        #expect(await cluster.vaults[2].holdsKeys(.bootstrap(ReplicaID(2))) == false)
    }

    @Test("a share for a signed slot with another digest, for a view already left, below the floor, or for an undecided keyset is refused")
    func shareWatermark() async throws {
        let (cluster, _) = try await operationalCluster(seed: 1100)
        let node = cluster.node(1)
        let sequence = 3 * cluster.interval + 4
        let d1 = [UInt8](repeating: 1, count: 32), d2 = [UInt8](repeating: 2, count: 32)
        let first = try await node.consensusShare(view: 2, sequence: sequence, phase: .prepare, digest: d1)
        #expect(try await node.consensusShare(view: 2, sequence: sequence, phase: .prepare, digest: d1) == first)
        let slot = ConsensusSlot(view: 2, sequence: sequence, phase: .prepare)
        await #expect(throws: ClusterError.shareConflict(slot)) { try await node.consensusShare(view: 2, sequence: sequence, phase: .prepare, digest: d2) }

        _ = try await node.consensusShare(view: 3, sequence: sequence, phase: .viewChange, digest: d2)
        await #expect(throws: ClusterError.viewLeft(view: 2, viewFloor: 3)) {
            try await node.consensusShare(view: 2, sequence: sequence + 1, phase: .prepare, digest: d1)
        }
        _ = try await node.consensusShare(view: 3, sequence: sequence + 1, phase: .prepare, digest: d1)

        // Pruned through the stable checkpoint.
        let stable = 3 * cluster.interval
        await #expect(throws: ClusterError.belowFloor(sequence: stable, floor: stable)) {
            try await node.consensusShare(view: 3, sequence: stable, phase: .prepare, digest: d1)
        }
        // keyset(t) for t past 5W needs the checkpoint notice at 3W + … not yet received: refuse rather than guess.
        let far = 6 * cluster.interval + 1
        await #expect(throws: ClusterError.keysetUndecided(sequence: far, needsCheckpoint: 5 * cluster.interval)) {
            try await node.consensusShare(view: 3, sequence: far, phase: .prepare, digest: d1)
        }
        await #expect(throws: ClusterError.malformed("consensus digest must be 32 bytes, has 31")) {
            try await node.consensusShare(view: 3, sequence: sequence + 2, phase: .prepare, digest: Array(d1.prefix(31)))
        }
        let refused = await cluster.audits[1].events("cluster.consensus-share", outcome: "refused")
        #expect(refused.count == 5)
        #expect(await cluster.vaults[1].signedShares[slot] == d1)
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
