import BLS12381
import Crypto
import CustosCrypto

/// An operator-signed command (docs/cluster.md, "Operator commands"):
///     CommandBody   = [1, cluster id, number c ≥ 1, expires at, action]
///     SignedCommand = [CommandBody bytes, operator signature]
/// Decoding checks shapes only; the operator signature, the targets and the action's own rules
/// are checked against a key log (`KeyLog.checkCommand`), expiry by approvers only.
public struct OperatorCommand: Equatable, Sendable {
    public static let formatVersion: UInt64 = 1
    public static let maximumByteCount = 4096
    /// Clock skew tolerated between the operator and the approvers, seconds.
    public static let clockSkew: UInt64 = 120
    /// The longest an operator may make a command valid for, seconds.
    public static let maximumValidity: UInt64 = 31 * 86400
    /// The most targets a command names.
    public static let maximumTargets = 256

    public enum Action: Equatable, Sendable {
        /// nil targets: every replica.
        case rotateReplicaKeys(targets: [ReplicaID]?, kinds: ReplicaKeyKinds)
        /// nil targets: every client registered when the command executes.
        case rotateClientKeys(targets: [ClientID]?, kinds: ClientKeyKinds)
        case addClient(ClientDescriptor)
        case removeClient(ClientID)
        /// The replica's new generation with its epoch-0 keys, in the configuration's replica form.
        case replaceReplica(ReplicaDescriptor)
        /// The new operator key and its signature over the operator-key-binding message.
        case rotateOperatorKey(OperatorKey, proof: [UInt8])

        public var name: String {
            switch self {
            case .rotateReplicaKeys: "rotate-replica-keys"
            case .rotateClientKeys: "rotate-client-keys"
            case .addClient: "add-client"
            case .removeClient: "remove-client"
            case .replaceReplica: "replace-replica"
            case .rotateOperatorKey: "rotate-operator-key"
            }
        }

        /// Whether the command orders rotations (and so completes only when its targets answered).
        public var isRotation: Bool {
            switch self {
            case .rotateReplicaKeys, .rotateClientKeys: true
            default: false
            }
        }

        var cbor: CBORValue {
            switch self {
            case .rotateReplicaKeys(let targets, let kinds):
                .array([.unsigned(0), targets.map { .array($0.map { .unsigned(UInt64($0.rawValue)) }) } ?? .null, .unsigned(kinds.rawValue)])
            case .rotateClientKeys(let targets, let kinds):
                .array([.unsigned(1), targets.map { .array($0.map { .unsigned(UInt64($0.rawValue)) }) } ?? .null, .unsigned(kinds.rawValue)])
            case .addClient(let descriptor): .array([.unsigned(2), descriptor.cbor])
            case .removeClient(let k): .array([.unsigned(3), .unsigned(UInt64(k.rawValue))])
            case .replaceReplica(let r): .array([.unsigned(4), r.cbor])
            case .rotateOperatorKey(let key, let proof): .array([.unsigned(5), key.cbor, .bytes(proof)])
            }
        }

        init(value: CBORValue) throws {
            let f = try value.array("command action")
            guard let code = try f.first?.unsigned("command action kind") else { throw ClusterError.malformed("command action is empty") }
            func fields(_ count: Int) throws {
                guard f.count == count else { throw ClusterError.malformed("command action \(code) must have \(count) fields, has \(f.count)") }
            }
            switch code {
            case 0:
                try fields(3)
                let targets = try Self.targets(f[1], bound: UInt64(UInt16.max)).map { $0.map { ReplicaID(rawValue: UInt16($0)) } }
                guard let kinds = ReplicaKeyKinds(validating: try f[2].unsigned("command kinds")) else {
                    throw ClusterError.malformed("replica key kinds must be nonzero and name only consensus, main, tls")
                }
                self = .rotateReplicaKeys(targets: targets, kinds: kinds)
            case 1:
                try fields(3)
                let targets = try Self.targets(f[1], bound: UInt64(UInt32.max)).map { $0.map { ClientID(rawValue: UInt32($0)) } }
                guard let kinds = ClientKeyKinds(validating: try f[2].unsigned("command kinds")) else {
                    throw ClusterError.malformed("client key kinds must be nonzero and name only signing, tls, api-tls")
                }
                self = .rotateClientKeys(targets: targets, kinds: kinds)
            case 2:
                try fields(2)
                self = .addClient(try ClientDescriptor(value: f[1], encoded: f[1].encoded))
            case 3:
                try fields(2)
                self = .removeClient(try ClientID(value: f[1], what: "removed client"))
            case 4:
                try fields(2)
                self = .replaceReplica(try Self.replica(f[1]))
            case 5:
                try fields(3)
                let key = try f[1].array("new operator key", count: 2)
                let schemeText = try key[0].text("new operator key scheme", maximum: 32)
                guard let scheme = SignatureScheme(rawValue: schemeText) else { throw ClusterError.unsupportedOperatorScheme }
                let operatorKey = try OperatorKey(scheme: scheme, rawRepresentation: try key[1].bytes("new operator public key", maximum: 97))
                self = .rotateOperatorKey(operatorKey, proof: try f[2].bytes("operator key proof", maximum: 96))
            default:
                throw ClusterError.malformed("unknown command action \(code)")
            }
        }

        /// null, or a non-empty, ascending, distinct list of at most 256 ids ≤ `bound`.
        private static func targets(_ value: CBORValue, bound: UInt64) throws -> [UInt64]? {
            if value.isNull { return nil }
            let items = try value.array("command targets")
            guard (1...OperatorCommand.maximumTargets).contains(items.count) else {
                throw ClusterError.malformed("command targets must list 1 to \(OperatorCommand.maximumTargets) ids, lists \(items.count)")
            }
            var ids: [UInt64] = []
            for item in items {
                let id = try item.unsigned("command target")
                guard id <= bound else { throw ClusterError.malformed("command target \(id) is beyond the id range") }
                if let last = ids.last, id <= last { throw ClusterError.malformed("command targets must be ascending and distinct") }
                ids.append(id)
            }
            return ids
        }

        /// The replica's shape as in the configuration; the address and the proof of possession
        /// are checked with the action's own rules (`invalid-command`), not here.
        private static func replica(_ value: CBORValue) throws -> ReplicaDescriptor {
            let f = try value.array("replacement replica", count: 6)
            let id = try f[0].unsigned("replacement replica id")
            guard id <= UInt64(UInt16.max) else { throw ClusterError.replicaOutOfRange(id) }
            let replica = ReplicaID(rawValue: UInt16(id))
            let address = try f[1].text("replacement replica address", maximum: 255)
            let main = try f[2].bytes("replacement main key", count: 32)
            guard let consensus = try? BLS12381.PublicKey(compressedRepresentation: try f[3].bytes("replacement consensus key", count: 48)) else {
                throw ClusterError.invalidConsensusKey(what: "replacement \(replica)")
            }
            guard let pop = try? BLS12381.ProofOfPossession(compressedRepresentation: try f[4].bytes("replacement proof of possession", count: 96)) else {
                throw ClusterError.badProofOfPossession(what: "replacement \(replica)")
            }
            let pin = try f[5].bytes("replacement TLS pin", count: 32)
            return ReplicaDescriptor(id: replica, address: address, mainKey: main, consensusKey: consensus, proofOfPossession: pop, tlsPin: pin)
        }
    }

    public let clusterID: [UInt8]
    public let number: UInt64
    /// Unix seconds.
    public let expiresAt: UInt64
    public let action: Action
    public let bodyBytes: [UInt8]
    public let operatorSignature: [UInt8]
    /// The exact SignedCommand bytes.
    public let bytes: [UInt8]
    /// SHA-256 of `bytes`.
    public let digest: [UInt8]

    /// Encodes the body, has the operator sign M(command, cluster, body bytes) and decodes the
    /// result (the signature is checked against a key log, not here).
    public static func sign(cluster: [UInt8], number: UInt64, expiresAt: UInt64, action: Action,
                            signer: ([UInt8]) async throws -> [UInt8]) async throws -> OperatorCommand {
        let body = CBORValue.array([.unsigned(formatVersion), .bytes(cluster), .unsigned(number), .unsigned(expiresAt), action.cbor]).encoded
        let signature = try await signer(signedMessage(cluster: cluster, bodyBytes: body))
        return try OperatorCommand(bytes: CBORValue.array([.bytes(body), .bytes(signature)]).encoded)
    }

    /// Decodes, refusing more than 4096 bytes, a version other than 1, number 0 and any field of
    /// the wrong shape.
    public init(bytes: [UInt8]) throws {
        let outer = try CBORValue.decode(bytes, what: "command", limit: Self.maximumByteCount).array("command", count: 2)
        let bodyBytes = try outer[0].bytes("command body", maximum: Self.maximumByteCount)
        operatorSignature = try outer[1].bytes("command operator signature", maximum: 96)
        let f = try CBORValue.decode(bodyBytes, what: "command body", limit: Self.maximumByteCount).array("command body", count: 5)
        let version = try f[0].unsigned("command version")
        guard version == Self.formatVersion else { throw ClusterError.unsupportedVersion(what: "command", version: version) }
        clusterID = try f[1].bytes("command cluster id", count: 16)
        number = try f[2].unsigned("command number")
        guard number >= 1 else { throw ClusterError.malformed("command number must be at least 1") }
        expiresAt = try f[3].unsigned("command expiry")
        action = try Action(value: f[4])
        self.bodyBytes = bodyBytes
        self.bytes = bytes
        digest = Array(SHA256.hash(data: bytes))
    }

    /// M(command, cluster, CommandBody bytes as bstr): what the operator signs.
    public static func signedMessage(cluster: [UInt8], bodyBytes: [UInt8]) -> [UInt8] {
        SignatureTag.command.message(cluster: cluster, body: .bytes(bodyBytes))
    }

    /// M(command-approval, cluster, [c, command digest]), signed under the command-approval DST.
    public static func approvalMessage(cluster: [UInt8], command: OperatorCommand) -> [UInt8] {
        SignatureTag.commandApproval.message(cluster: cluster, body: .array([.unsigned(command.number), .bytes(command.digest)]))
    }

    /// M(operator-key-binding, cluster, [c, [scheme, public key]]): what a new operator key signs
    /// to prove possession in rotate-operator-key command c.
    public static func operatorKeyBindingMessage(cluster: [UInt8], number: UInt64, key: OperatorKey) -> [UInt8] {
        SignatureTag.operatorKeyBinding.message(cluster: cluster, body: .array([.unsigned(number), key.cbor]))
    }

    /// Refuses a signature that is not the operator key's over this command.
    public func verify(operatorKey: OperatorKey) throws {
        guard operatorKey.isValidSignature(operatorSignature, for: Self.signedMessage(cluster: clusterID, bodyBytes: bodyBytes)) else {
            throw ClusterError.badCommandSignature
        }
    }

    /// The approvers' expiry rule: refused when `now` is past the expiry by more than the clock
    /// skew, or the expiry is further than the maximum validity (plus skew) from `now`.
    public func checkExpiry(now: UInt64) throws {
        let (latest, lateOverflow) = expiresAt.addingReportingOverflow(Self.clockSkew)
        if !lateOverflow, now > latest { throw ClusterError.commandExpired(number: number, expiresAt: expiresAt, now: now) }
        let (furthest, farOverflow) = now.addingReportingOverflow(Self.maximumValidity + Self.clockSkew)
        if !farOverflow, expiresAt > furthest { throw ClusterError.commandExpiryTooFar(number: number, expiresAt: expiresAt, now: now) }
    }

    public static func == (a: OperatorCommand, b: OperatorCommand) -> Bool { a.bytes == b.bytes }
}
