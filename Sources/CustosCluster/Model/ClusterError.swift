/// Every refusal of the cluster module, named by its cause. Never carries a secret or raw
/// input text (field names come from the code; numbers and key names are public).
public enum ClusterError: Error, Equatable, Sendable, CustomStringConvertible {
    // Encoding
    case encoding(what: String, CBORError)
    case malformed(String)
    case oversized(what: String, limit: Int, actual: Int)
    case unsupportedVersion(what: String, version: UInt64)

    // Configuration
    case badOperatorSignature
    case unsupportedOperatorScheme
    case invalidOperatorKey
    case replicaCountOutOfRange(Int)
    case replicaIDOutOfPosition(position: Int, id: UInt64)
    case duplicateReplicaField(field: String, first: ReplicaID, second: ReplicaID)
    case invalidReplicaAddress(ReplicaID)
    case invalidConsensusKey(what: String)
    case badProofOfPossession(what: String)
    case zeroCheckpointInterval

    // Key-exchange records
    case clusterMismatch
    case replicaOutOfRange(UInt64)
    case badAuthoritySignature(KeyName)
    case badConsensusBinding(KeyName)
    case badMainBinding(KeyName)
    case unexpectedEpoch(KeyName, expected: UInt64)
    case unknownGeneration(KeyName)
    case previousRecordMismatch(KeyName)

    // Quorum certificates
    case signerBitsLength(expected: Int, actual: Int)
    case signerPaddingBit(bit: Int)
    case belowQuorum(required: Int, actual: Int)
    case signerKeyCountMismatch(signers: Int, keys: Int)
    case unknownSignerKey(KeyName)
    case signerKeyNotActive(KeyName)
    case badAggregateSignature
    case badShare(ReplicaID)
    case duplicateApproval(ReplicaID)

    // Checkpoints
    case badCheckpointSignature(ReplicaID)
    case checkpointSignersOutOfOrder
    case checkpointStatementMismatch(boundary: UInt64)

    // Key log
    case keysetUndecided(sequence: UInt64, needsCheckpoint: UInt64)
    case scheduleOutOfOrder(sequence: UInt64, after: UInt64)
    case checkpointNotOnBoundary(UInt64)
    case checkpointOutOfOrder(boundary: UInt64, after: UInt64)
    case logEntryMismatch(index: UInt64)
    case logHeadMismatch(boundary: UInt64)
    case logTruncated(boundary: UInt64)

    // Engine
    case notStarted
    case recovering
    case approverMismatch(sender: ReplicaID, named: ReplicaID)
    case approvalConflict(KeyName)
    case shareConflict(ConsensusSlot)
    case belowFloor(sequence: UInt64, floor: UInt64)
    case viewLeft(view: UInt64, viewFloor: UInt64)
    case checkpointConflict(boundary: UInt64)
    case checkpointNotSigned(boundary: UInt64)
    case rotationPending(KeyName)
    case keyUnavailable(KeyName)
    /// The data directory's membership names a replica whose keys it does not hold.
    case ownKeysMissing(ReplicaID)
    case logIndexOutOfOrder(expected: UInt64, actual: UInt64)

    // Operator commands and client nodes
    case clientOutOfRange(UInt64)
    case unknownClient(ClientID)
    case clientRemoved(ClientID)
    case clientIDTaken(ClientID)
    case badCommandSignature
    case commandReplay(number: UInt64, highest: UInt64)
    case commandContested(UInt64)
    case commandExpired(number: UInt64, expiresAt: UInt64, now: UInt64)
    case commandExpiryTooFar(number: UInt64, expiresAt: UInt64, now: UInt64)
    case unknownTarget(String)
    case invalidCommand(String)
    case clientMismatch(sender: ClientID, named: ClientID)
    case notAReplica
    case unknownCommand(UInt64)
    case kindsNotRenewed(String)
    case unexpectedClientEpoch(ClientKeyName, expected: UInt64)
    case badClientRecordSignature(ClientKeyName)
    case clientApprovalConflict(ClientKeyName)
    case pinTaken(owner: NodeRef, claimant: NodeRef)
    case clientKeyUnavailable(ClientKeyName)

    public var description: String {
        switch self {
        case .encoding(let what, let e): "\(what): \(e)"
        case .malformed(let s): s
        case .oversized(let what, let limit, let actual): "\(what) is \(actual) bytes, over the limit of \(limit)"
        case .unsupportedVersion(let what, let v): "\(what): unsupported format version \(v)"
        case .badOperatorSignature: "the configuration's operator signature does not verify"
        case .unsupportedOperatorScheme: "operator key scheme must be ed25519 or ecdsa-p384-sha384"
        case .invalidOperatorKey: "the operator public key is not a valid key of its scheme"
        case .replicaCountOutOfRange(let n): "a cluster has 1 to 256 replicas, not \(n)"
        case .replicaIDOutOfPosition(let p, let id): "replica at position \(p) has id \(id)"
        case .duplicateReplicaField(let field, let a, let b): "\(a) and \(b) have the same \(field)"
        case .invalidReplicaAddress(let r): "\(r): address must be host:port, printable, at most 255 bytes"
        case .invalidConsensusKey(let what): "\(what): consensus key fails KeyValidate"
        case .badProofOfPossession(let what): "\(what): proof of possession does not verify"
        case .zeroCheckpointInterval: "the checkpoint interval must be at least 1"
        case .clusterMismatch: "the message is for another cluster"
        case .replicaOutOfRange(let r): "replica \(r) is not in the configuration"
        case .badAuthoritySignature(let k): "record \(k): authority signature does not verify under the previous main key"
        case .badConsensusBinding(let k): "record \(k): consensus key binding does not verify"
        case .badMainBinding(let k): "record \(k): main key binding does not verify"
        case .unexpectedEpoch(let k, let e): "record \(k): expected epoch \(e)"
        case .unknownGeneration(let k): "record \(k): no keys of that generation are known"
        case .previousRecordMismatch(let k): "record \(k): the carried previous record does not precede it"
        case .signerBitsLength(let e, let a): "certificate signer bit-vector must be \(e) bytes, has \(a)"
        case .signerPaddingBit(let bit): "certificate sets padding bit \(bit)"
        case .belowQuorum(let r, let a): "\(a) signer(s), a quorum is \(r)"
        case .signerKeyCountMismatch(let s, let k): "certificate names \(k) signer key(s) for \(s) signer(s)"
        case .unknownSignerKey(let k): "signer key \(k) is not known from the key log"
        case .signerKeyNotActive(let k): "signer key \(k) is not active at that point"
        case .badAggregateSignature: "the aggregate signature does not verify"
        case .badShare(let r): "the share of \(r) does not verify"
        case .duplicateApproval(let r): "two approvals from \(r)"
        case .badCheckpointSignature(let r): "the checkpoint signature of \(r) does not verify"
        case .checkpointSignersOutOfOrder: "checkpoint signatures must be by distinct replicas in ascending order"
        case .checkpointStatementMismatch(let b): "checkpoint statement for boundary \(b) does not match"
        case .keysetUndecided(let s, let b): "the keys of sequence \(s) are decided by the checkpoint at \(b), not yet received"
        case .scheduleOutOfOrder(let s, let after): "schedule notice at \(s) after \(after)"
        case .checkpointNotOnBoundary(let b): "\(b) is not a checkpoint boundary"
        case .checkpointOutOfOrder(let b, let after): "checkpoint notice \(b) after \(after)"
        case .logEntryMismatch(let i): "key-log entry \(i) differs from the one computed from genesis"
        case .logHeadMismatch(let b): "the key-log head at boundary \(b) does not match the stable checkpoint"
        case .logTruncated(let b): "the key log ends before boundary \(b) of a stable checkpoint"
        case .notStarted: "the replica engine has not started"
        case .recovering: "recovering: fewer than a quorum of replicas have answered since start, so no share is signed"
        case .approverMismatch(let sender, let named): "\(sender) sent a message naming \(named)"
        case .approvalConflict(let k): "record \(k): a different record for this key name was already approved"
        case .shareConflict(let slot): "\(slot): a share over another digest was already signed"
        case .belowFloor(let s, let floor): "sequence \(s) is at or below the floor \(floor) (pruned, or signed before a restart)"
        case .viewLeft(let v, let floor): "view \(v) is below view \(floor), already left by a view-change share"
        case .checkpointConflict(let b): "checkpoint \(b): another ledger digest was already signed"
        case .checkpointNotSigned(let b): "checkpoint \(b) has not been signed by this replica"
        case .rotationPending(let k): "\(k) is not yet certified, scheduled and active: one rotation at a time"
        case .keyUnavailable(let k): "the private keys of \(k) are not held (never created here, or destroyed)"
        case .ownKeysMissing(let r): "this data directory holds none of the keys of \(r) (bootstrap, active or newest certified): its cluster membership does not match its keystore"
        case .logIndexOutOfOrder(let e, let a): "key-log entry \(a) is not the next one (\(e))"
        case .clientOutOfRange(let k): "client id \(k) is beyond 32 bits"
        case .unknownClient(let k): "\(k) was never added"
        case .clientRemoved(let k): "\(k) was removed"
        case .clientIDTaken(let k): "\(k) is already used (client ids are never reused)"
        case .badCommandSignature: "the command is not signed by the operator key"
        case .commandReplay(let c, let highest): "command number \(c) is not above the highest accepted command \(highest)"
        case .commandContested(let c): "command number \(c) is contested: another command with that number was approved"
        case .commandExpired(let c, let at, let now): "command \(c) expired at \(at) (now \(now), \(OperatorCommand.clockSkew) s skew allowed)"
        case .commandExpiryTooFar(let c, let at, let now): "command \(c) expires at \(at), more than \(OperatorCommand.maximumValidity / 86400) days after now (\(now))"
        case .unknownTarget(let what): "unknown target: \(what)"
        case .invalidCommand(let why): "invalid command: \(why)"
        case .clientMismatch(let sender, let named): "\(sender) sent a record naming \(named)"
        case .notAReplica: "only replicas may make this request"
        case .unknownCommand(let c): "command \(c) is not an accepted rotation naming this node"
        case .kindsNotRenewed(let what): "the rotation order requires new keys: \(what) unchanged"
        case .unexpectedClientEpoch(let k, let e): "client record \(k): expected epoch \(e)"
        case .badClientRecordSignature(let k): "client record \(k): binding or authority signature does not verify"
        case .clientApprovalConflict(let k): "client record \(k): a different record for this key name was already approved"
        case .pinTaken(let owner, let claimant): "\(claimant) names a TLS pin that is \(owner)'s"
        case .clientKeyUnavailable(let k): "the private keys of \(k) are not held (never created here, or destroyed)"
        }
    }
}
