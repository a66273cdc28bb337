import Crypto
import CustosCrypto
import Foundation

/// The root key sealed under a recovery secret S that only SLIP-39 shares give back
/// (`root.recovery` in the data directory), so that losing the HSM, the KMS key, the TPM
/// or the passphrase loses nothing while a threshold of custodians remain.
///
/// S is a random 256-bit SLIP-39 master secret, split into N shares of which M recover it.
/// The root key is sealed with AES-256-GCM under HKDF-SHA256(S, salt, label), and the
/// associated data binds the root key id and every public parameter, so an edited file
/// opens nothing. Fewer than M shares carry no information about S (Shamir's scheme is
/// perfectly hiding below its threshold), and the sealing key is a PRF output of S.
public enum RecoveryEscrow {
    public static let fileName = "root.recovery"
    /// The escrow of the new root during a recovery or a migration, renamed over
    /// `root.recovery` once the new root is in place.
    public static let pendingFileName = "root.recovery.next"
    static let label = "custos.recovery-escrow.v1"

    /// What the escrow file says in clear; nothing in it is secret.
    public struct Parameters: Codable, Sendable, Equatable {
        public var format = "custos-recovery-escrow"
        public var version = 1
        public var shares: Int
        public var threshold: Int
        /// The SLIP-39 identifier every share of this set carries (15 bits).
        public var identifier: Int
        public var extendable: Bool
        public var iterationExponent: Int
        public var created: String
        public var rootKeyID: String
        var salt: String
        var sealedRootKey: String

        enum CodingKeys: String, CodingKey {
            case format, version, shares, threshold, identifier, extendable, created, salt
            case iterationExponent = "iteration_exponent"
            case rootKeyID = "root_key_id"
            case sealedRootKey = "sealed_root_key"
        }

        var associatedData: [UInt8] {
            BindingContext.make(RecoveryEscrow.label, [rootKeyID, String(identifier), String(extendable), String(iterationExponent),
                                                       String(threshold), String(shares), created])
        }
    }

    public static func path(directory: String) -> String { directory + "/" + fileName }

    /// The escrow's public parameters, or nil when the directory has none.
    public static func load(directory: String, pending: Bool = false) throws -> Parameters? {
        let path = directory + "/" + (pending ? pendingFileName : fileName)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path),
              let parameters = try? JSONDecoder().decode(Parameters.self, from: data),
              parameters.format == "custos-recovery-escrow", parameters.version == 1,
              (1...SLIP39.maximumShareCount).contains(parameters.shares), (1...parameters.shares).contains(parameters.threshold),
              (0..<(1 << 15)).contains(parameters.identifier), (0...15).contains(parameters.iterationExponent),
              Hex.decode(parameters.salt)?.count == 32, Hex.decode(parameters.sealedRootKey) != nil else {
            throw KeystoreError.invalidArgument("the recovery escrow \(path) is malformed")
        }
        return parameters
    }

    /// Checks the share counts the command line accepts: 1 ≤ M ≤ N ≤ 16, and not M = 1
    /// with N > 1 (every share would then be the whole secret; SLIP-39 refuses it too).
    public static func checkCounts(shares: Int, threshold: Int) throws {
        guard (1...SLIP39.maximumShareCount).contains(shares) else {
            throw KeystoreError.invalidArgument("the number of recovery shares must be between 1 and \(SLIP39.maximumShareCount), got \(shares)")
        }
        guard (1...shares).contains(threshold) else {
            throw KeystoreError.invalidArgument("the recovery threshold must be between 1 and the number of shares (\(shares)), got \(threshold)")
        }
        guard !(threshold == 1 && shares > 1) else {
            throw KeystoreError.invalidArgument("a recovery threshold of 1 with \(shares) shares would make every share the whole secret: use a threshold of at least 2, or a single share")
        }
    }

    /// Makes a new recovery secret, splits it, and writes the escrow of `root`'s key
    /// atomically (replacing any earlier escrow: its shares stop working). Returns the
    /// shares, which the caller hands out once and forgets.
    public static func create(directory: String, root: any RootOfTrust, shares: Int, threshold: Int,
                              passphrase: SecretBytes = SecretBytes([]), iterationExponent: Int = 1,
                              now: Date = Date()) throws -> (parameters: Parameters, shares: [SLIP39.Share]) {
        try checkCounts(shares: shares, threshold: threshold)
        let secret = SecretBytes(randomCount: 32)
        let split: [SLIP39.Share]
        do {
            split = try SLIP39.split(masterSecret: secret, passphrase: passphrase, groups: [(threshold, shares)],
                                     extendable: true, iterationExponent: iterationExponent)[0]
        } catch {
            throw KeystoreError.invalidArgument("cannot make recovery shares: \(error)")
        }
        let parameters = try seal(rootKey: try escrowableKey(of: root), rootKeyID: root.rootKeyID, secret: secret,
                                  shares: shares, threshold: threshold, identifier: split[0].identifier, iterationExponent: iterationExponent,
                                  created: now)
        try write(parameters, to: path(directory: directory))
        return (parameters, split)
    }

    static func seal(rootKey: AEADKey, rootKeyID: String, secret: SecretBytes, shares: Int, threshold: Int, identifier: Int,
                     iterationExponent: Int, created: Date) throws -> Parameters {
        let salt = SecretBytes(randomCount: 32).copyBytes()
        var parameters = Parameters(shares: shares, threshold: threshold, identifier: identifier, extendable: true,
                                    iterationExponent: iterationExponent, created: ISO8601DateFormatter().string(from: created),
                                    rootKeyID: rootKeyID, salt: Hex.encode(salt), sealedRootKey: "")
        let sealed = try rootKey.secretMaterial.withUnsafeBytes { material in
            try sealingKey(secret: secret, salt: salt).seal(material, associatedData: parameters.associatedData)
        }
        parameters.sealedRootKey = Hex.encode(sealed)
        return parameters
    }

    static func write(_ parameters: Parameters, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(parameters)) + [0x0a], to: path)
    }

    static func sealingKey(secret: SecretBytes, salt: [UInt8]) throws -> AEADKey {
        let key = secret.withUnsafeBytes { bytes in
            HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: bytes), salt: salt, info: Array(label.utf8), outputByteCount: 32)
        }
        return try AEADKey(secretMaterial: key.withUnsafeBytes { SecretBytes($0) })
    }

    /// The recovery secret from the shares, checked against the escrow's set before any
    /// combining: a share of another set is named as such, not opened into garbage.
    public static func recoverSecret(_ shares: [SLIP39.Share], passphrase: SecretBytes, parameters: Parameters) throws -> SecretBytes {
        guard !shares.isEmpty else {
            throw KeystoreError.invalidArgument("no recovery shares given: \(parameters.threshold) are needed")
        }
        for share in shares where share.identifier != parameters.identifier || share.groupCount != 1 {
            throw KeystoreError.invalidArgument("a share belongs to recovery set \(share.identifier), but this data directory's escrow was made for set \(parameters.identifier) (shares for another root, or replaced by a later 'root recovery create')")
        }
        let combined = Result { () throws(SLIP39Error) -> SecretBytes in
            try SLIP39.combine(shares, passphrase: passphrase, allowingExtraShares: true)
        }
        switch combined {
        case .success(let secret): return secret
        case .failure(let error): throw KeystoreError.invalidArgument("the recovery shares do not combine: \(error)")
        }
    }

    /// Opens the escrow with the recovery secret: the root key, held in memory.
    public static func open(_ parameters: Parameters, secret: SecretBytes) throws -> RecoveredRoot {
        guard let salt = Hex.decode(parameters.salt), let sealed = Hex.decode(parameters.sealedRootKey) else {
            throw KeystoreError.invalidArgument("the recovery escrow is malformed")
        }
        let material: SecretBytes
        do {
            material = try sealingKey(secret: secret, salt: salt).open(sealed, associatedData: parameters.associatedData)
        } catch {
            throw KeystoreError.unsealFailed("the recovery shares combine, but their secret does not open the escrow: the recovery passphrase is wrong (SLIP-39 cannot tell a wrong passphrase from a right one until the escrow refuses it), or root.recovery was altered")
        }
        let key = try AEADKey(secretMaterial: material)
        guard RootKeyIdentifier.of(key) == parameters.rootKeyID else {
            throw KeystoreError.unsealFailed("the recovery escrow is inconsistent: it opens a key other than root key \(parameters.rootKeyID)")
        }
        return RecoveredRoot(key: key, rootKeyID: parameters.rootKeyID)
    }

    /// The root key of an unsealed root, for sealing into an escrow; it never leaves this module.
    static func escrowableKey(of root: any RootOfTrust) throws -> AEADKey {
        switch root {
        case let root as PassphraseRoot: return root.rootKey
        case let root as SealedRoot: return try root.currentKey()
        case let root as RecoveredRoot: return root.key
        case let root as any RootKeyHolder: return try root.heldRootKey()
        default: throw KeystoreError.invalidArgument("the \(root.provider) root of trust cannot be escrowed")
        }
    }
}

/// A root that holds its key in memory (wrappers of the roots above).
protocol RootKeyHolder {
    func heldRootKey() throws -> AEADKey
}

/// A root key recovered from the escrow, held in memory only for as long as it takes to
/// re-seal it under a new provider.
public struct RecoveredRoot: RootOfTrust {
    public let provider = "recovery"
    public let rootKeyID: String
    let key: AEADKey

    init(key: AEADKey, rootKeyID: String) {
        self.key = key
        self.rootKeyID = rootKeyID
    }

    public func wrap(_ material: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
        try material.withUnsafeBytes { try key.seal($0, associatedData: context) }
    }

    public func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SecretBytes {
        try key.open(wrapped, associatedData: context)
    }
}

extension KeyService {
    /// Makes a new recovery secret and escrow for this service's root (`root.recovery` in
    /// `directory`), replacing any earlier one, whose shares then stop working. Audited as
    /// `root.recovery.create` with the counts and the set's identifier, never a share.
    public func createRecoveryEscrow(directory: String, shares: Int, threshold: Int, passphrase: SecretBytes = SecretBytes([]),
                                     by principal: Principal) async throws -> (parameters: RecoveryEscrow.Parameters, shares: [SLIP39.Share]) {
        try await audited(.rootRecoveryCreate, by: principal, tenant: nil) {
            try principal.authorize(.manageProtection, tenant: nil)
            let previous = try? RecoveryEscrow.load(directory: directory)
            let made = try RecoveryEscrow.create(directory: directory, root: root, shares: shares, threshold: threshold, passphrase: passphrase)
            var details = ["shares": String(shares), "threshold": String(threshold), "identifier": String(made.parameters.identifier),
                           "root_key_id": root.rootKeyID]
            if let previous = previous.flatMap({ $0 }) { details["replaced"] = String(previous.identifier) }
            try await audit.recordNow([event(.rootRecoveryCreate, by: principal, tenant: nil, details: details)])
            return made
        }
    }
}
