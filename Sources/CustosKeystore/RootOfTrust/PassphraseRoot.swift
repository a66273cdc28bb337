import Crypto
import CustosCrypto
import Foundation
import _CryptoExtras

/// The minimal root of trust: a random 256-bit root key sealed in a file with
/// AES-256-GCM under a key derived from a passphrase by scrypt.
///
/// The file holds only public parameters and the sealed box. A wrong passphrase
/// fails GCM authentication; nothing about the key leaks through the error.
public struct PassphraseRoot: RootOfTrust {
    public static let fileName = "root.seal"
    public let provider = "passphrase"
    public let rootKeyID: String
    let rootKey: AEADKey

    /// The sealed file's format. All byte fields are hex.
    struct SealedFile: Codable {
        var format = "custos-passphrase-root"
        var version = 1
        var kdf = "scrypt"
        var logN: Int
        var r: Int
        var p: Int
        var salt: String
        var rootKeyID: String
        var sealedRootKey: String

        enum CodingKeys: String, CodingKey {
            case format, version, kdf, salt
            case logN = "log_n", r, p
            case rootKeyID = "root_key_id"
            case sealedRootKey = "sealed_root_key"
        }
    }

    /// Scrypt cost. The default (N = 2^16, r = 8, p = 1) takes 64 MiB and a fraction of
    /// a second; lower it only for tests.
    public struct Cost: Sendable {
        public var logN: Int
        public var r: Int
        public var p: Int
        public static let standard = Cost(logN: 16, r: 8, p: 1)
        public init(logN: Int, r: Int = 8, p: Int = 1) {
            self.logN = logN
            self.r = r
            self.p = p
        }
    }

    /// Creates a new root key and seals it to `passphrase` in `path`. Refuses to
    /// overwrite an existing file.
    public static func create(at path: String, passphrase: SecretBytes, cost: Cost = .standard) throws -> PassphraseRoot {
        guard (10...22).contains(cost.logN) else {
            throw KeystoreError.invalidArgument("scrypt log N must be between 10 and 22, got \(cost.logN)")
        }
        guard passphrase.count >= 8 else {
            throw KeystoreError.invalidArgument("the passphrase must be at least 8 bytes long")
        }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw KeystoreError.alreadyInitialized(path)
        }
        let rootKey = AEADKey()
        let rootKeyID = identifier(of: rootKey)
        let salt = SecretBytes(randomCount: 32).copyBytes()
        let sealing = try deriveSealingKey(passphrase: passphrase, salt: salt, cost: cost)
        let sealed = try rootKey.secretMaterial.withUnsafeBytes { material in
            try sealing.seal(material, associatedData: sealingContext(rootKeyID))
        }
        let file = SealedFile(logN: cost.logN, r: cost.r, p: cost.p, salt: Hex.encode(salt), rootKeyID: rootKeyID, sealedRootKey: Hex.encode(sealed))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(file)) + [0x0a], to: path)
        return PassphraseRoot(rootKeyID: rootKeyID, rootKey: rootKey)
    }

    /// Unseals the root key in `path` with `passphrase`.
    public static func unseal(at path: String, passphrase: SecretBytes) throws -> PassphraseRoot {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeystoreError.unsealFailed("root file \(path) is missing or unreadable")
        }
        guard let file = try? JSONDecoder().decode(SealedFile.self, from: data),
              file.format == "custos-passphrase-root", file.version == 1, file.kdf == "scrypt",
              (10...22).contains(file.logN), (1...32).contains(file.r), (1...16).contains(file.p),
              let salt = Hex.decode(file.salt), salt.count >= 16,
              let sealed = Hex.decode(file.sealedRootKey) else {
            throw KeystoreError.unsealFailed("root file \(path) is malformed")
        }
        let sealing = try deriveSealingKey(passphrase: passphrase, salt: salt, cost: Cost(logN: file.logN, r: file.r, p: file.p))
        let material: SecretBytes
        do {
            material = try sealing.open(sealed, associatedData: sealingContext(file.rootKeyID))
        } catch {
            throw KeystoreError.unsealFailed("wrong passphrase, or the root file was altered")
        }
        let rootKey = try AEADKey(secretMaterial: material)
        guard identifier(of: rootKey) == file.rootKeyID else {
            throw KeystoreError.unsealFailed("root file \(path) is inconsistent")
        }
        return PassphraseRoot(rootKeyID: file.rootKeyID, rootKey: rootKey)
    }

    private init(rootKeyID: String, rootKey: AEADKey) {
        self.rootKeyID = rootKeyID
        self.rootKey = rootKey
    }

    public func wrap(_ key: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
        try key.withUnsafeBytes { try rootKey.seal($0, associatedData: context) }
    }

    public func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SecretBytes {
        try rootKey.open(wrapped, associatedData: context)
    }

    static func deriveSealingKey(passphrase: SecretBytes, salt: [UInt8], cost: Cost) throws -> AEADKey {
        do {
            let key = try passphrase.withUnsafeBytes { bytes in
                try KDF.Scrypt.deriveKey(from: bytes, salt: salt, outputByteCount: 32, rounds: 1 << cost.logN, blockSize: cost.r, parallelism: cost.p)
            }
            return try AEADKey(secretMaterial: key.withUnsafeBytes { SecretBytes($0) })
        } catch let error as KeystoreError {
            throw error
        } catch {
            throw KeystoreError.unsealFailed("scrypt key derivation failed")
        }
    }

    private static func sealingContext(_ rootKeyID: String) -> [UInt8] {
        BindingContext.make("custos.passphrase-root.v1", [rootKeyID])
    }

    private static func identifier(of key: AEADKey) -> String {
        RootKeyIdentifier.of(key)
    }
}
