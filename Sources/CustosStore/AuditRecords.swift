import CustosJSON
import Foundation

/// One sensitive operation, as the keystore or server describes it before the store
/// gives it a place in the chain. It holds no secret: request payloads and other
/// sensitive values arrive here already reduced to HMACs under the audit key.
public struct AuditEvent: Sendable, Equatable {
    public var time: Date
    /// Who acted: "token:<id>", "cli", "server".
    public var actor: String
    public var tenantID: String?
    public var operation: AuditOperation
    public var keyID: String?
    public var keyVersion: Int?
    public var outcome: AuditOutcome
    /// Non-secret context (scheme, error code, counts) and HMACs of payloads.
    public var details: [String: String]

    public init(time: Date, actor: String, tenantID: String? = nil, operation: AuditOperation, keyID: String? = nil,
                keyVersion: Int? = nil, outcome: AuditOutcome, details: [String: String] = [:]) {
        self.time = time
        self.actor = actor
        self.tenantID = tenantID
        self.operation = operation
        self.keyID = keyID
        self.keyVersion = keyVersion
        self.outcome = outcome
        self.details = details
    }
}

/// What an audit record is about. The raw values are what the log stores and seals,
/// so they never change.
public enum AuditOperation: String, Sendable, CaseIterable {
    case generate, `import`, export, sign, verify, encrypt, decrypt, hmac, rotate, disable, enable, destroy, unseal, authorization
    case tenantCreate = "tenant.create"
    case tokenCreate = "token.create"
    case tokenRevoke = "token.revoke"
    case tokenList = "token.list"
    case hsmRegister = "hsm.register"
    case securityLevelAssign = "security-level.assign"
    case auditRead = "audit.read"
    case auditVerify = "audit.verify"
    case rootMigrate = "root.migrate"
    case rootCheck = "root.check"
    /// A backup of the data directory was taken; names the snapshot's audit head.
    case backupCreate = "backup.create"
    /// The first record of a restored data directory: links the snapshot's head to the
    /// head of the log before the restore, so the fork is recorded, not silent.
    case backupRestore = "backup.restore"
    /// `custos serve` re-read its configuration (SIGHUP); the details say what changed.
    case serverReload = "server.reload"
    /// The database was migrated to a newer schema (details: from, to, the pre-migration backup).
    case storeMigrate = "store.migrate"
    case rootRecoveryCreate = "root.recovery.create"
    case rootRecover = "root.recover"
    case hmacVerify = "hmac.verify"
    /// Rows written before row MACs existed were MAC'd (once, on upgrade).
    case integrityUpgrade = "integrity.upgrade"
    case tlsCACreate = "tls.ca-create"
    case tlsIssue = "tls.issue"
    case tlsSignCSR = "tls.sign-csr"
    case tlsRotate = "tls.rotate"
    case tlsTrust = "tls.trust"
    case tlsRevoke = "tls.revoke"
    case tlsImport = "tls.import"
    case tlsList = "tls.list"
    // The replica network (docs/cluster.md).
    case clusterEnrol = "cluster.enrol"
    case clusterGenesis = "cluster.genesis"
    case clusterJoin = "cluster.join"
    case clusterPropose = "cluster.propose"
    case clusterApprove = "cluster.approve"
    case clusterCertify = "cluster.certify"
    case clusterSchedule = "cluster.schedule"
    case clusterShare = "cluster.share"
    case clusterCheckpoint = "cluster.checkpoint"
    case clusterCheckpointMismatch = "cluster.checkpoint-mismatch"
    case clusterKeysDestroyed = "cluster.keys-destroyed"
    // Operator commands and client nodes (cluster.command, below, is also the engine's record of a command received).
    case clusterCommandApprove = "cluster.command-approve"
    case clusterCommandContested = "cluster.command-contested"
    case clusterCommandCertify = "cluster.command-certify"
    case clusterCommandExecute = "cluster.command-execute"
    case clusterCommandComplete = "cluster.command-complete"
    case clusterClientRecord = "cluster.client-record"
    case clusterClientApprove = "cluster.client-approve"
    /// The operator's side: a command signed, an operator key promoted, a client set up.
    case clusterCommandSign = "cluster.command-sign"
    case clusterOperatorPromote = "cluster.operator-promote"
    case clusterOperatorDiscard = "cluster.operator-discard"
    case clusterClientInit = "cluster.client-init"
    /// Any other decision of the replica engine; its name is in the record's details.
    case clusterEvent = "cluster.event"
    /// The node's calls on the replica network, audited as the calling token (schedule, share
    /// and checkpoint notices share the names above).
    case clusterStatus = "cluster.status"
    case clusterCombine = "cluster.combine"
    case clusterVerify = "cluster.verify"
    case clusterLog = "cluster.log"
    /// An operator command handed to this replica (`POST /v1/cluster/commands`).
    case clusterCommand = "cluster.command"
    /// A message signed with a client node's signing key (`POST /v1/cluster/client/sign`).
    case clusterClientSign = "cluster.client-sign"
    /// Ethereum accounts (docs/ethereum.md): a transaction, an EIP-191 message, EIP-712 typed data.
    case ethSignTransaction = "eth.sign-transaction"
    case ethSignMessage = "eth.sign-message"
    case ethSignTypedData = "eth.sign-typed-data"
    /// The tenant's chain, an account's policy, an account's next nonce.
    case ethSetChain = "eth.set-chain"
    case ethSetPolicy = "eth.set-policy"
    case ethSetNonce = "eth.set-nonce"
}

public enum AuditOutcome: String, Sendable, CaseIterable {
    case success, failure
    /// Refused for lack of permission or authentication.
    case denied
}

/// An event with its place in the chain, exactly as stored. `hash` seals every
/// other field and `previousHash`, so editing, removing, inserting or moving a
/// record breaks the chain at that record.
public struct AuditRecord: Sendable, Equatable {
    public var sequence: Int64
    /// Microseconds since 1970: an integer, so the sealed value survives storage exactly.
    public var timeMicros: Int64
    public var actor: String
    public var tenantID: String?
    public var operation: String
    public var keyID: String?
    public var keyVersion: Int?
    public var outcome: String
    /// Canonical JSON (sorted keys) of the event's details, sealed as stored.
    public var details: String
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public init(sequence: Int64, timeMicros: Int64, actor: String, tenantID: String?, operation: String,
                keyID: String?, keyVersion: Int?, outcome: String, details: String,
                previousHash: [UInt8], hash: [UInt8]) {
        self.sequence = sequence
        self.timeMicros = timeMicros
        self.actor = actor
        self.tenantID = tenantID
        self.operation = operation
        self.keyID = keyID
        self.keyVersion = keyVersion
        self.outcome = outcome
        self.details = details
        self.previousHash = previousHash
        self.hash = hash
    }

    public var time: Date { Date(timeIntervalSince1970: Double(timeMicros) / 1_000_000) }

    public var detailValues: [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(details.utf8))) ?? [:]
    }

    /// The bytes the chain seals: every field, each length-prefixed, in a fixed
    /// order, then the previous record's hash. Optional fields carry a presence byte.
    public var sealedBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + actor.utf8.count + (tenantID?.utf8.count ?? 0) + (keyID?.utf8.count ?? 0)
                            + details.utf8.count + previousHash.count)
        out.append(contentsOf: "custos.audit.v1".utf8)
        func length(_ count: Int) {
            let count = UInt32(count)
            out.append(UInt8(count >> 24)); out.append(UInt8(truncatingIfNeeded: count >> 16))
            out.append(UInt8(truncatingIfNeeded: count >> 8)); out.append(UInt8(truncatingIfNeeded: count))
        }
        func field(_ text: String) { length(text.utf8.count); out.append(contentsOf: text.utf8) }
        func integer(_ value: Int64) {
            length(8)
            withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
        }
        func optional(_ value: String?) {
            if let value { out.append(1); field(value) } else { out.append(0) }
        }
        integer(sequence)
        integer(timeMicros)
        field(actor)
        optional(tenantID)
        field(operation)
        optional(keyID)
        optional(keyVersion.map(String.init))
        field(outcome)
        field(details)
        length(previousHash.count)
        out.append(contentsOf: previousHash)
        return out
    }

    /// The all-zero hash the first record links to.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    static func encodeDetails(_ details: [String: String]) -> String {
        JSONText.sortedObject(details)
    }
}

/// Computes a record's hash. The keystore supplies a keyed one (HMAC under the
/// audit chain key), so someone who can write the database cannot forge a chain.
public protocol AuditSealer: Sendable {
    func seal(_ bytes: [UInt8]) -> [UInt8]
}

/// A signed statement "the chain had this head at this sequence", made periodically
/// by the node's audit signing key. Verifying against it also catches truncation.
public struct AuditCheckpoint: Sendable, Equatable {
    public var sequence: Int64
    public var headHash: [UInt8]
    public var time: Date
    public var signerFingerprint: String
    public var signature: [UInt8]

    public init(sequence: Int64, headHash: [UInt8], time: Date, signerFingerprint: String, signature: [UInt8]) {
        self.sequence = sequence
        self.headHash = headHash
        self.time = time
        self.signerFingerprint = signerFingerprint
        self.signature = signature
    }

    /// The time as whole microseconds: what is signed, and what survives storage exactly.
    public var timeMicros: Int64 { Self.micros(time) }

    public static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// What the audit signing key signs: every field the checkpoint claims (sequence,
    /// head, time, signer), each length-prefixed, so none can be edited unnoticed.
    public var signedBytes: [UInt8] {
        var out = Array("custos.audit-checkpoint.v2".utf8)
        func length(_ count: Int) { out += withUnsafeBytes(of: UInt32(count).bigEndian) { Array($0) } }
        out += withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
        length(headHash.count)
        out += headHash
        out += withUnsafeBytes(of: timeMicros.bigEndian) { Array($0) }
        let signer = Array(signerFingerprint.utf8)
        length(signer.count)
        out += signer
        return out
    }
}

public struct AuditQuery: Sendable, Equatable {
    /// Only records with a sequence above this.
    public var after: Int64
    public var limit: Int
    /// Only this tenant's records (nil: all).
    public var tenantID: String?
    public var keyID: String?
    public var operation: String?

    public init(after: Int64 = 0, limit: Int = 100, tenantID: String? = nil, keyID: String? = nil, operation: String? = nil) {
        self.after = after
        self.limit = limit
        self.tenantID = tenantID
        self.keyID = keyID
        self.operation = operation
    }
}

/// An API bearer token. Only a hash of its secret is ever stored.
public struct TokenRecord: Sendable, Equatable {
    public var id: String
    /// nil: valid for every tenant (operators of the whole node).
    public var tenantID: String?
    public var role: String
    public var secretHash: [UInt8]
    public var description: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?

    public init(id: String, tenantID: String?, role: String, secretHash: [UInt8], description: String?,
                createdAt: Date, expiresAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.role = role
        self.secretHash = secretHash
        self.description = description
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}
