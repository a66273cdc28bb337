import BLS12381

/// One replica's approval of a record: a BLS share by the approver's current consensus key over
/// M(key-log-approval, cluster, [r, g, e, record digest]).
public struct Approval: Equatable, Sendable {
    /// The approver's key that made the share: (approver id, generation, epoch).
    public let approverKey: KeyName
    public let share: BLS12381.Signature

    public init(approverKey: KeyName, share: BLS12381.Signature) {
        self.approverKey = approverKey
        self.share = share
    }

    public var approver: ReplicaID { approverKey.replica }

    public static func message(cluster: [UInt8], record name: KeyName, digest: [UInt8]) -> [UInt8] {
        SignatureTag.keyLogApproval.message(cluster: cluster, body: .array([
            .unsigned(UInt64(name.replica.rawValue)), .unsigned(name.generation), .unsigned(name.epoch), .bytes(digest),
        ]))
    }

    public static func message(cluster: [UInt8], record: KeyExchangeRecord) -> [UInt8] {
        message(cluster: cluster, record: record.name, digest: record.digest)
    }

    public var encoded: [UInt8] {
        CBORValue.array([.unsigned(UInt64(approverKey.replica.rawValue)), .unsigned(approverKey.generation), .unsigned(approverKey.epoch),
                         .bytes(share.compressedRepresentation)]).encoded
    }

    public init(bytes: [UInt8]) throws {
        let f = try CBORValue.decode(bytes, what: "approval", limit: 256).array("approval", count: 4)
        let r = try f[0].unsigned("approver id")
        guard r < 256 else { throw ClusterError.replicaOutOfRange(r) }
        approverKey = KeyName(replica: ReplicaID(Int(r)), generation: try f[1].unsigned("approver key generation"),
                              epoch: try f[2].unsigned("approver key epoch"))
        do {
            share = try BLS12381.Signature(compressedRepresentation: try f[3].bytes("approval share", count: 96))
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError.badShare(approverKey.replica)
        }
    }
}
