import CustosCrypto
import Foundation

/// The audit log's sealed high-water mark: the newest signed checkpoint (sequence,
/// head hash, time), kept in a file beside the database and MAC'd under a key derived
/// from the audit secret, which only the root of trust opens.
///
/// Someone who can write the database but not the root can delete the newest records
/// and checkpoints together; the mark, outside the database, still names the later
/// head, so the verifier refuses the shorter log. The mark is written when a new data
/// directory's audit keys are made, and after each checkpoint; it never moves back.
struct AuditMark: Sendable, Equatable {
    var sequence: Int64
    var headHash: [UInt8]
    var timeMicros: Int64

    /// What reading the mark file found.
    enum State: Sendable, Equatable {
        case absent
        /// Present but not a mark this log sealed (forged, from another node, damaged).
        case invalid(String)
        case valid(AuditMark)
    }

    static let label = "custos.audit-mark.v1"

    /// The bytes the MAC covers: a domain label, then each field at a fixed width or
    /// length-prefixed.
    var macBytes: [UInt8] {
        var out = Array(Self.label.utf8)
        out += withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
        out += withUnsafeBytes(of: UInt32(headHash.count).bigEndian) { Array($0) }
        out += headHash
        out += withUnsafeBytes(of: timeMicros.bigEndian) { Array($0) }
        return out
    }

    func encoded(key: MACKey) -> [UInt8] {
        let mac = Hex.encode(key.authenticationCode(for: macBytes))
        let text = #"{"format":"custos-audit-mark","version":1,"sequence":\#(sequence),"head":"\#(Hex.encode(headHash))","time_us":\#(timeMicros),"mac":"\#(mac)"}"#
        return Array(text.utf8) + [0x0a]
    }

    private struct File: Decodable {
        var format: String
        var version: Int
        var sequence: Int64
        var head: String
        var time_us: Int64
        var mac: String
    }

    static func read(_ path: String, key: MACKey) -> State {
        guard FileManager.default.fileExists(atPath: path) else { return .absent }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 4096,
              let file = try? JSONDecoder().decode(File.self, from: data),
              file.format == "custos-audit-mark", file.version == 1,
              let head = Hex.decode(file.head), let mac = Hex.decode(file.mac) else {
            return .invalid("the high-water mark file is unreadable")
        }
        let mark = AuditMark(sequence: file.sequence, headHash: head, timeMicros: file.time_us)
        guard key.isValidAuthenticationCode(mac, for: mark.macBytes) else {
            return .invalid("the high-water mark's seal does not verify (forged, or from another data directory)")
        }
        return .valid(mark)
    }

    func write(to path: String, key: MACKey) throws {
        try AtomicFile.write(encoded(key: key), to: path)
    }
}
