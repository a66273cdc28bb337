import CustosCluster
import CustosCrypto
import CustosPKI
import Foundation

/// A bootstrap bundle (docs/cluster.md, "Bundles"): the signed configuration, the replica it
/// is for, and that replica's bootstrap private keys sealed to it alone (HPKE to its enrolment
/// key, or AES-256-GCM under a scrypt key from a passphrase), with the genesis hash and the
/// replica id as associated data. A replacement bundle (generation g ≥ 1, written by
/// `custos cluster command replace-replica`) also carries the signed replace-replica command
/// naming the new keys, and its associated data names the generation.
public struct ClusterBundle: Sendable {
    public static let format = "custos-cluster-bundle-v1"
    /// A bundle of a 256-replica configuration is about 350 KiB.
    public static let maximumByteCount = 1 << 20
    /// HPKE `info`: binds the sealed keys to this use.
    static let hpkeInfo = Array("custos-cluster-bundle-v1".utf8)

    public enum SealedKeys: Sendable, Equatable {
        case hpke(encapsulatedKey: [UInt8], ciphertext: [UInt8])
        /// `ciphertext` is nonce ‖ AES-256-GCM ciphertext ‖ tag.
        case passphrase(salt: [UInt8], logN: Int, r: Int, p: Int, ciphertext: [UInt8])

        public var protection: String {
            switch self {
            case .hpke: "hpke-x25519"
            case .passphrase: "passphrase-scrypt"
            }
        }
    }

    public let configuration: ClusterConfiguration
    public let replica: ReplicaID
    /// 0 for a genesis bundle; g ≥ 1 for the keys of a replace-replica command.
    public let generation: UInt64
    /// The signed replace-replica command of a replacement bundle.
    public let command: OperatorCommand?
    public let sealed: SealedKeys

    init(configuration: ClusterConfiguration, replica: ReplicaID, generation: UInt64 = 0, command: OperatorCommand? = nil, sealed: SealedKeys) {
        self.configuration = configuration
        self.replica = replica
        self.generation = generation
        self.command = command
        self.sealed = sealed
    }

    /// The associated data of the sealed keys: genesis hash ‖ r (2 bytes, big-endian), and for
    /// a replacement ‖ g (8 bytes, big-endian), so keys sealed for one generation do not open
    /// as another's.
    static func associatedData(genesisHash: [UInt8], replica: ReplicaID, generation: UInt64 = 0) -> [UInt8] {
        let base = genesisHash + [UInt8(replica.rawValue >> 8), UInt8(replica.rawValue & 0xff)]
        guard generation > 0 else { return base }
        return base + (0..<8).reversed().map { UInt8(truncatingIfNeeded: generation >> (UInt64($0) * 8)) }
    }

    var associatedData: [UInt8] { Self.associatedData(genesisHash: configuration.genesisHash, replica: replica, generation: generation) }

    // MARK: The file

    private struct File: Codable {
        var format: String
        var configuration: String
        var replica: Int
        var generation: UInt64?
        /// The SignedCommand bytes, base64 (replacement bundles).
        var command: String?
        var keys: Keys
    }

    private struct Keys: Codable {
        var protection: String
        var encapsulatedKey: String?
        var salt: String?
        var logN: Int?
        var r: Int?
        var p: Int?
        var ciphertext: String

        enum CodingKeys: String, CodingKey {
            case protection, salt, r, p, ciphertext
            case encapsulatedKey = "encapsulated_key"
            case logN = "log_n"
        }
    }

    /// The JSON file, keys sorted.
    public var encoded: [UInt8] {
        let keys: Keys = switch sealed {
        case .hpke(let encapsulated, let ciphertext):
            Keys(protection: sealed.protection, encapsulatedKey: Data(encapsulated).base64EncodedString(), ciphertext: Data(ciphertext).base64EncodedString())
        case .passphrase(let salt, let logN, let r, let p, let ciphertext):
            Keys(protection: sealed.protection, salt: Data(salt).base64EncodedString(), logN: logN, r: r, p: p,
                 ciphertext: Data(ciphertext).base64EncodedString())
        }
        let file = File(format: Self.format, configuration: Data(configuration.signedBytes).base64EncodedString(), replica: replica.index,
                        generation: generation > 0 ? generation : nil, command: command.map { Data($0.bytes).base64EncodedString() }, keys: keys)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array((try? encoder.encode(file)) ?? Data()) + [0x0a]
    }

    /// Reads a bundle file and verifies its configuration (operator signature and every rule
    /// of docs/cluster.md); the sealed keys are opened by `join`.
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count <= Self.maximumByteCount else {
            throw KeystoreError.invalidArgument("the bundle is \(bytes.count) bytes, over the limit of \(Self.maximumByteCount)")
        }
        guard let file = try? JSONDecoder().decode(File.self, from: Data(bytes)) else {
            throw KeystoreError.invalidArgument("the bundle is not a \(Self.format) JSON file")
        }
        guard file.format == Self.format else { throw KeystoreError.invalidArgument("the bundle's format is not \(Self.format)") }
        guard let signed = Data(base64Encoded: file.configuration) else {
            throw KeystoreError.invalidArgument("the bundle's configuration is not base64")
        }
        do {
            configuration = try ClusterConfiguration(signedBytes: Array(signed))
        } catch {
            throw KeystoreError.invalidArgument("the bundle's configuration is refused: \(error)")
        }
        guard (0..<configuration.n).contains(file.replica) else {
            throw KeystoreError.invalidArgument("the bundle names replica \(file.replica), outside the configuration's 0…\(configuration.n - 1)")
        }
        replica = ReplicaID(file.replica)
        generation = file.generation ?? 0
        switch (generation, file.command) {
        case (0, nil):
            command = nil
        case (0, .some):
            throw KeystoreError.invalidArgument("the bundle carries a command but no generation: a genesis bundle has none")
        case (_, nil):
            throw KeystoreError.invalidArgument("the replacement bundle (generation \(generation)) carries no replace-replica command")
        case (_, .some(let text)):
            guard let bytes = Data(base64Encoded: text), bytes.count <= OperatorCommand.maximumByteCount else {
                throw KeystoreError.invalidArgument("the bundle's command is not base64 or over \(OperatorCommand.maximumByteCount) bytes")
            }
            do {
                command = try OperatorCommand(bytes: Array(bytes))
            } catch {
                throw KeystoreError.invalidArgument("the bundle's command is refused: \(error)")
            }
        }
        func base64(_ field: String, _ value: String?) throws -> [UInt8] {
            guard let value, let decoded = Data(base64Encoded: value) else {
                throw KeystoreError.invalidArgument("the bundle's keys.\(field) is missing or not base64")
            }
            return Array(decoded)
        }
        let ciphertext = try base64("ciphertext", file.keys.ciphertext)
        guard ciphertext.count == BootstrapKeySet.byteCount + 16 + (file.keys.protection == "passphrase-scrypt" ? AEADKey.nonceByteCount : 0) else {
            throw KeystoreError.invalidArgument("the bundle's sealed keys have the wrong length")
        }
        switch file.keys.protection {
        case "hpke-x25519":
            let encapsulated = try base64("encapsulated_key", file.keys.encapsulatedKey)
            guard encapsulated.count == 32 else { throw KeystoreError.invalidArgument("the bundle's encapsulated key is not 32 bytes") }
            sealed = .hpke(encapsulatedKey: encapsulated, ciphertext: ciphertext)
        case "passphrase-scrypt":
            let salt = try base64("salt", file.keys.salt)
            guard salt.count >= 16, let logN = file.keys.logN, (10...22).contains(logN), let r = file.keys.r, (1...32).contains(r),
                  let p = file.keys.p, (1...16).contains(p) else {
                throw KeystoreError.invalidArgument("the bundle's scrypt parameters are missing or out of range")
            }
            sealed = .passphrase(salt: salt, logN: logN, r: r, p: p, ciphertext: ciphertext)
        default:
            throw KeystoreError.invalidArgument("the bundle's keys use an unknown protection (hpke-x25519 or passphrase-scrypt)")
        }
    }

    // MARK: Sealing

    static func seal(_ keys: BootstrapKeySet, configuration: ClusterConfiguration, replica: ReplicaID, generation: UInt64 = 0,
                     command: OperatorCommand? = nil, to recipient: BundleRecipient) throws -> ClusterBundle {
        let associatedData = Self.associatedData(genesisHash: configuration.genesisHash, replica: replica, generation: generation)
        let plaintext = keys.sealedForm
        let sealed: SealedKeys
        switch recipient {
        case .enrolmentKey(let key):
            let (encapsulated, ciphertext) = try HPKESealing.seal(plaintext, to: key, info: hpkeInfo, associatedData: associatedData)
            sealed = .hpke(encapsulatedKey: encapsulated, ciphertext: ciphertext)
        case .passphrase(let passphrase, let cost):
            let salt = SecretBytes(randomCount: 32).copyBytes()
            let key = try PassphraseRoot.deriveSealingKey(passphrase: passphrase, salt: salt, cost: cost)
            let ciphertext = try plaintext.withUnsafeBytes { try key.seal($0, associatedData: associatedData) }
            sealed = .passphrase(salt: salt, logN: cost.logN, r: cost.r, p: cost.p, ciphertext: ciphertext)
        }
        return ClusterBundle(configuration: configuration, replica: replica, generation: generation, command: command, sealed: sealed)
    }

    /// Opens the sealed keys. A bundle altered, moved to another replica or cluster, sealed to
    /// another enrolment key, or a wrong passphrase all fail the same authentication.
    func open(enrolmentKey: () async throws -> KeyAgreementPrivateKey, passphrase: SecretBytes?) async throws -> BootstrapKeySet {
        let plaintext: SecretBytes
        let refusal = "the bundle's keys do not open: the bundle was altered or is for another replica, or "
        switch sealed {
        case .hpke(let encapsulated, let ciphertext):
            let key = try await enrolmentKey()
            do {
                plaintext = try HPKESealing.open(ciphertext, encapsulatedKey: encapsulated, with: key, info: Self.hpkeInfo, associatedData: associatedData)
            } catch {
                throw KeystoreError.invalidArgument(refusal + "it was sealed to another data directory's enrolment key")
            }
        case .passphrase(let salt, let logN, let r, let p, let ciphertext):
            guard let passphrase else {
                throw KeystoreError.invalidArgument("this bundle is sealed under a passphrase: give the passphrase file")
            }
            let key = try PassphraseRoot.deriveSealingKey(passphrase: passphrase, salt: salt, cost: PassphraseRoot.Cost(logN: logN, r: r, p: p))
            do {
                plaintext = try key.open(ciphertext, associatedData: associatedData)
            } catch {
                throw KeystoreError.invalidArgument(refusal + "the passphrase is wrong")
            }
        }
        return try BootstrapKeySet(sealedForm: plaintext)
    }
}

/// Who a bundle is sealed for.
enum BundleRecipient: Sendable {
    case enrolmentKey(KeyAgreementPublicKey)
    case passphrase(SecretBytes, PassphraseRoot.Cost)
}

/// A replica's bootstrap private keys. Sealed form: the BLS12-381 secret scalar (32 bytes,
/// big-endian) ‖ the Ed25519 seed (32) ‖ the P-384 secret scalar (48).
struct BootstrapKeySet: Sendable {
    static let byteCount = 32 + 32 + 48
    let consensus: SigningPrivateKey
    let main: SigningPrivateKey
    let tls: SigningPrivateKey

    var keys: [SigningPrivateKey] { [consensus, main, tls] }

    static func generate() throws -> BootstrapKeySet {
        BootstrapKeySet(consensus: try SigningPrivateKey(generating: .bls12381Pop), main: try SigningPrivateKey(generating: .ed25519),
                        tls: try SigningPrivateKey(generating: .ecdsaP384SHA384))
    }

    init(consensus: SigningPrivateKey, main: SigningPrivateKey, tls: SigningPrivateKey) {
        self.consensus = consensus
        self.main = main
        self.tls = tls
    }

    init(sealedForm: SecretBytes) throws {
        guard sealedForm.count == Self.byteCount else { throw KeystoreError.invalidArgument("the bundle's key set has the wrong length") }
        func part(_ range: Range<Int>) -> SecretBytes {
            sealedForm.withUnsafeBytes { SecretBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
        }
        do {
            consensus = try SigningPrivateKey(secretMaterial: part(0..<32), scheme: .bls12381Pop)
            main = try SigningPrivateKey(secretMaterial: part(32..<64), scheme: .ed25519)
            tls = try SigningPrivateKey(secretMaterial: part(64..<112), scheme: .ecdsaP384SHA384)
        } catch {
            throw KeystoreError.invalidArgument("the bundle's key set does not hold valid keys")
        }
    }

    var sealedForm: SecretBytes {
        let parts = keys.map(\.secretMaterial)
        var joined = [UInt8]()
        joined.reserveCapacity(Self.byteCount)
        for part in parts { part.withUnsafeBytes { joined.append(contentsOf: $0) } }
        defer { SecretBytes.zeroize(&joined) }
        return SecretBytes(joined)
    }

    /// The public parts as the configuration names them.
    func descriptor(id: ReplicaID, address: String) throws -> ReplicaDescriptor {
        guard let consensusKey = consensus.publicKey.blsPublicKey, let mainKey = main.publicKey.rawRepresentation,
              let tlsInfo = tls.publicKey.derRepresentation else {
            throw KeystoreError.invalidArgument("a bootstrap key set has keys of the wrong kinds")
        }
        return ReplicaDescriptor(id: id, address: address, mainKey: mainKey, consensusKey: consensusKey,
                                 proofOfPossession: try consensus.blsProofOfPossession(),
                                 tlsPin: PublicKeyPin(subjectPublicKeyInfo: tlsInfo).digest)
    }

    /// Whether these are the keys the configuration names for the replica.
    func matches(_ descriptor: ReplicaDescriptor) -> Bool {
        guard let consensusKey = consensus.publicKey.blsPublicKey, let mainKey = main.publicKey.rawRepresentation,
              let tlsInfo = tls.publicKey.derRepresentation else { return false }
        return consensusKey == descriptor.consensusKey && mainKey == descriptor.mainKey
            && PublicKeyPin(subjectPublicKeyInfo: tlsInfo).digest == descriptor.tlsPin
    }
}
