import CustosCrypto
import Foundation

/// The data directory's description of a provider-sealed root of trust (`root.json`):
/// which provider, how to reach it, and the sealed root key. Nothing in it is secret:
/// the sealed key opens only through the provider. (The passphrase root keeps its own
/// `root.seal` file.)
public struct RootFile: Codable, Sendable, Equatable {
    public static let fileName = "root.json"

    public var format = "custos-root"
    public var version = 1
    public var provider: String
    public var rootKeyID: String
    public var sealedRootKey: String
    public var pkcs11: PKCS11Configuration?
    public var kms: KMSConfiguration?
    public var tpm: TPMConfiguration?

    enum CodingKeys: String, CodingKey {
        case format, version, provider, pkcs11, kms, tpm
        case rootKeyID = "root_key_id"
        case sealedRootKey = "sealed_root_key"
    }

    public init(root: SealedRoot, pkcs11: PKCS11Configuration? = nil, kms: KMSConfiguration? = nil, tpm: TPMConfiguration? = nil) {
        provider = root.provider
        rootKeyID = root.rootKeyID
        sealedRootKey = Hex.encode(root.sealedRootKey)
        self.pkcs11 = pkcs11
        self.kms = kms
        self.tpm = tpm
    }

    public static func load(_ path: String) throws -> RootFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeystoreError.unsealFailed("root file \(path) is missing or unreadable")
        }
        guard let file = try? JSONDecoder().decode(RootFile.self, from: data), file.format == "custos-root", file.version == 1,
              Hex.decode(file.sealedRootKey) != nil else {
            throw KeystoreError.unsealFailed("root file \(path) is malformed")
        }
        let configured: Bool = switch file.provider {
        case "pkcs11": file.pkcs11 != nil
        case "kms": file.kms != nil
        case "tpm": file.tpm != nil
        default: false
        }
        guard configured else {
            throw KeystoreError.unsealFailed("root file \(path) names provider '\(file.provider.prefix(40))' without its configuration")
        }
        return file
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(Array(try encoder.encode(self)) + [0x0a], to: path)
    }

    public var sealedBytes: [UInt8] { Hex.decode(sealedRootKey) ?? [] }
}
