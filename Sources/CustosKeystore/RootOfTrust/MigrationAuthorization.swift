import Crypto
import CustosCrypto
import Foundation

/// The current root's authorisation of a root migration (`root.next.auth`): the SHA-256
/// of the new root's file (which names the new root key and every provider setting),
/// sealed by the old root key with the file name and both root key ids as associated
/// data. Only the holder of the old root key can write one that verifies, so a
/// `root.next.json` planted in the data directory is never resumed.
enum MigrationAuthorization {
    static let fileName = "root.next.auth"

    private struct File: Codable {
        var format = "custos-root-migration"
        var version = 1
        var next: String
        var fromRootKeyID: String
        var toRootKeyID: String
        var tag: String

        enum CodingKeys: String, CodingKey {
            case format, version, next, tag
            case fromRootKeyID = "from_root_key_id"
            case toRootKeyID = "to_root_key_id"
        }
    }

    static func path(directory: String) -> String { directory + "/" + fileName }

    private static func context(next: String, from: String, to: String) -> [UInt8] {
        BindingContext.make("custos.root-migration.v1", [next, from, to])
    }

    private static func digest(of path: String) throws -> [UInt8] {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw KeystoreError.unsealFailed("\((path as NSString).lastPathComponent) is missing or unreadable")
        }
        return Array(SHA256.hash(data: bytes))
    }

    /// Written by the old root before the new root's file is in place under `next`
    /// (read from `contentsPath`), so a pending file never lacks its authorisation.
    static func write(directory: String, next: String, contentsPath: String, old: any RootOfTrust, newRootKeyID: String) async throws {
        let tag = try await old.wrap(SecretBytes(try digest(of: contentsPath)),
                                     context: context(next: next, from: old.rootKeyID, to: newRootKeyID))
        let file = File(next: next, fromRootKeyID: old.rootKeyID, toRootKeyID: newRootKeyID, tag: Hex.encode(tag))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(file)) + [0x0a], to: path(directory: directory))
    }

    /// The new root key id the old root authorised for `nextPath`; throws, naming no
    /// secret, when the authorisation is missing, altered, or made under another root.
    static func verify(directory: String, nextPath: String, old: any RootOfTrust) async throws -> String {
        let next = (nextPath as NSString).lastPathComponent
        let refusal = KeystoreError.unsealFailed(
            "the pending root migration (\(next)) is not authorised by the current root of trust (\(fileName) is missing, altered or from another root); it was not resumed. If no migration was started here, remove \(next)")
        guard let data = FileManager.default.contents(atPath: path(directory: directory)),
              let file = try? JSONDecoder().decode(File.self, from: data),
              file.format == "custos-root-migration", file.version == 1, file.next == next,
              file.fromRootKeyID == old.rootKeyID, let tag = Hex.decode(file.tag) else {
            throw refusal
        }
        guard let sealed = try? await old.unwrap(tag, context: context(next: next, from: file.fromRootKeyID, to: file.toRootKeyID)),
              sealed.isEqual(to: SecretBytes(try digest(of: nextPath))) else {
            throw refusal
        }
        return file.toRootKeyID
    }
}
