import BLS12381

/// A quorum certificate (docs/cluster.md, "Quorum certificates"): the aggregate of Q or more
/// shares, the signer bit-vector (LSB first, ⌈N/8⌉ bytes) and the key (g, e) of each signer
/// in ascending replica order. Its claims are never trusted: `verify` asks the caller's own
/// key log for every key.
public struct ClusterCertificate: Equatable, Sendable {
    /// 96 + 32 + 256 signer keys of at most 19 bytes, with the array heads.
    public static let maximumByteCount = 8192

    public let aggregate: BLS12381.Signature
    public let signerBits: [UInt8]
    /// The key each signer used, in ascending replica order.
    public let signerKeys: [KeyName]
    public let bytes: [UInt8]

    /// The replicas whose bit is set, ascending.
    public var signers: [ReplicaID] { signerKeys.map(\.replica) }

    private init(aggregate: BLS12381.Signature, signerBits: [UInt8], signerKeys: [KeyName]) {
        self.aggregate = aggregate
        self.signerBits = signerBits
        self.signerKeys = signerKeys
        bytes = CBORValue.array([
            .bytes(aggregate.compressedRepresentation), .bytes(signerBits),
            .array(signerKeys.map { .array([.unsigned($0.generation), .unsigned($0.epoch)]) }),
        ]).encoded
    }

    /// Decodes for a cluster of `replicaCount` replicas, refusing a bit-vector of the wrong
    /// length, a padding bit, and a number of signer keys other than the number of set bits.
    public init(bytes: [UInt8], replicaCount n: Int) throws {
        let f = try CBORValue.decode(bytes, what: "certificate", limit: Self.maximumByteCount).array("certificate", count: 3)
        let aggregateBytes = try f[0].bytes("certificate aggregate signature", count: 96)
        let bits = try f[1].bytes("certificate signers", maximum: 32)
        guard bits.count == (n + 7) / 8 else { throw ClusterError.signerBitsLength(expected: (n + 7) / 8, actual: bits.count) }
        for bit in 0..<(bits.count * 8) where bit >= n && bits[bit / 8] & (1 << UInt8(bit % 8)) != 0 {
            throw ClusterError.signerPaddingBit(bit: bit)
        }
        let ids = (0..<n).filter { bits[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
        let keys = try f[2].array("certificate signer keys")
        guard keys.count == ids.count else { throw ClusterError.signerKeyCountMismatch(signers: ids.count, keys: keys.count) }
        var names: [KeyName] = []
        names.reserveCapacity(ids.count)
        for (id, key) in zip(ids, keys) {
            let ge = try key.array("certificate signer key", count: 2)
            names.append(KeyName(replica: ReplicaID(id), generation: try ge[0].unsigned("signer key generation"), epoch: try ge[1].unsigned("signer key epoch")))
        }
        do {
            aggregate = try BLS12381.Signature(compressedRepresentation: aggregateBytes)
        } catch {
            throw ClusterError.badAggregateSignature
        }
        signerBits = bits
        signerKeys = names
        self.bytes = bytes
    }

    /// Combines approvals into a certificate. Each share is checked against the key `publicKey`
    /// gives for its approver key (nil: unknown key), so a bad share is named rather than
    /// spoiling the aggregate. Refuses two approvals from one replica, an approver outside the
    /// cluster and fewer than `quorum` approvals.
    public static func combine(_ approvals: [Approval], message: [UInt8], domain: BLS12381.DomainSeparationTag,
                               replicaCount n: Int, quorum: Int,
                               publicKey: (KeyName) throws -> BLS12381.PublicKey?) throws -> ClusterCertificate {
        var byReplica: [ReplicaID: Approval] = [:]
        for approval in approvals {
            guard approval.approver.index < n else { throw ClusterError.replicaOutOfRange(UInt64(approval.approver.rawValue)) }
            guard byReplica[approval.approver] == nil else { throw ClusterError.duplicateApproval(approval.approver) }
            guard let key = try publicKey(approval.approverKey) else { throw ClusterError.unknownSignerKey(approval.approverKey) }
            guard key.isValidSignature(approval.share, for: message, domain: domain) else { throw ClusterError.badShare(approval.approver) }
            byReplica[approval.approver] = approval
        }
        guard byReplica.count >= quorum else { throw ClusterError.belowQuorum(required: quorum, actual: byReplica.count) }
        let ordered = byReplica.values.sorted { $0.approver < $1.approver }
        var bits = [UInt8](repeating: 0, count: (n + 7) / 8)
        for a in ordered { bits[a.approver.index / 8] |= 1 << UInt8(a.approver.index % 8) }
        let aggregate = try BLS12381.aggregate(ordered.map(\.share))
        return ClusterCertificate(aggregate: aggregate, signerBits: bits, signerKeys: ordered.map(\.approverKey))
    }

    /// Verifies over `message` under `domain`: at least `quorum` signers, each named key
    /// resolved by the caller (nil: not known from its log; the resolver throws
    /// `signerKeyNotActive` for a known key that is not the replica's key at the point), then
    /// FastAggregateVerify over the resolved keys. Shape (length, padding, count) was checked
    /// when decoding for the same `replicaCount`.
    public func verify(message: [UInt8], domain: BLS12381.DomainSeparationTag, replicaCount n: Int, quorum: Int,
                       resolver: (KeyName) throws -> BLS12381.PublicKey?) throws {
        guard signerBits.count == (n + 7) / 8 else { throw ClusterError.signerBitsLength(expected: (n + 7) / 8, actual: signerBits.count) }
        // Decoded for another N with as many bytes: a bit at or past this N is padding here.
        if let outside = signerKeys.first(where: { $0.replica.index >= n }) { throw ClusterError.signerPaddingBit(bit: outside.replica.index) }
        guard signerKeys.count >= quorum else { throw ClusterError.belowQuorum(required: quorum, actual: signerKeys.count) }
        var keys: [BLS12381.PublicKey] = []
        keys.reserveCapacity(signerKeys.count)
        for name in signerKeys {
            guard let key = try resolver(name) else { throw ClusterError.unknownSignerKey(name) }
            keys.append(key)
        }
        guard BLS12381.fastAggregateVerify(aggregate, for: message, publicKeys: keys, domain: domain) else {
            throw ClusterError.badAggregateSignature
        }
    }
}
