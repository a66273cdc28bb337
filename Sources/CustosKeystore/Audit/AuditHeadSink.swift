import CustosCrypto
import CustosStore
import Foundation

/// Somewhere off the node that keeps the newest signed chain head, so that a rollback
/// of the whole data directory (database and high-water mark together) is still
/// caught: the restored log lacks the head the sink holds.
///
/// `publish` is called after each checkpoint; `latest` is what verification checks the
/// log against. A sink must never let its head move back: the keystore refuses to
/// checkpoint a log that does not contain the sink's head.
public protocol AuditHeadSink: Sendable {
    /// Where heads go, for messages ("file /backup/head.json", "https://…").
    var location: String { get }
    func publish(_ head: AuditCheckpoint, publicKey: SigningPublicKey) async throws
    /// The newest head published, or nil if none yet.
    func latest() async throws -> AuditCheckpoint?
}

/// The wire and file form of a signed head: JSON with hex fields. The public key is
/// included for checkers off the node; the keystore verifies with its own key.
enum SignedHeadJSON {
    static func encode(_ head: AuditCheckpoint, publicKey: SigningPublicKey) -> [UInt8] {
        let key = publicKey.rawRepresentation.map { Hex.encode($0) } ?? ""
        let text = #"{"format":"custos-audit-head","version":1,"sequence":\#(head.sequence),"head":"\#(Hex.encode(head.headHash))","time_us":\#(head.timeMicros),"signer":"\#(head.signerFingerprint)","signature":"\#(Hex.encode(head.signature))","public_key":"\#(key)"}"#
        return Array(text.utf8) + [0x0a]
    }

    private struct Body: Decodable {
        var format: String
        var version: Int
        var sequence: Int64
        var head: String
        var time_us: Int64
        var signer: String
        var signature: String
    }

    static func decode(_ data: Data) throws -> AuditCheckpoint {
        guard data.count <= 16_384, let body = try? JSONDecoder().decode(Body.self, from: data),
              body.format == "custos-audit-head", body.version == 1,
              let head = Hex.decode(body.head), let signature = Hex.decode(body.signature) else {
            throw KeystoreError.invalidArgument("the off-node audit head is malformed")
        }
        return AuditCheckpoint(sequence: body.sequence, headHash: head, time: Date(timeIntervalSince1970: Double(body.time_us) / 1_000_000),
                               signerFingerprint: body.signer, signature: signature)
    }
}

/// Keeps the head in a file, written atomically. Useful only when the file is off the
/// node's data directory: a mounted share, another host's volume, write-once storage.
public struct FileHeadSink: AuditHeadSink {
    public let path: String
    public var location: String { "file \(path)" }

    public init(path: String) throws {
        guard path.hasPrefix("/") else { throw KeystoreError.invalidArgument("the audit sink file must be an absolute path") }
        self.path = path
    }

    public func publish(_ head: AuditCheckpoint, publicKey: SigningPublicKey) async throws {
        try AtomicFile.write(SignedHeadJSON.encode(head, publicKey: publicKey), to: path, permissions: 0o644)
    }

    public func latest() async throws -> AuditCheckpoint? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeystoreError.invalidArgument("cannot read the audit sink file \(path)")
        }
        return try SignedHeadJSON.decode(data)
    }
}

public enum AuditHeadSinks {
    /// The sink an operator configured: an `https://` URL (or `http://` on loopback
    /// when `allowHTTPLoopback`), else an absolute file path.
    public static func make(_ setting: String, allowHTTPLoopback: Bool = false) throws -> any AuditHeadSink {
        if setting.hasPrefix("https://") || setting.hasPrefix("http://") {
            return try URLHeadSink(url: setting, allowHTTPLoopback: allowHTTPLoopback)
        }
        return try FileHeadSink(path: setting)
    }
}
