import Crypto
import CustosCrypto
import CustosPKI
import Foundation

/// The client trust given by options: `tls.client_pins`, and two files reread when they
/// change: `tls.client_ca` (a PEM bundle of CAs) and `tls.client_pins_file` (one pin a
/// line, `#` comments), so a pin or a CA is added or removed without a restart.
struct PEMTrustFiles: Sendable {
    let clientCAPath: String?
    var clientPinsPath: String? = nil
    let pins: Set<PublicKeyPin>

    func changeMarker() async throws -> String {
        [clientCAPath, clientPinsPath].map { path in
            guard let path else { return "-" }
            return Hex.encode(Array(SHA256.hash(data: (try? PEMFileSource.read(path, what: "TLS trust file")) ?? [])))
        }.joined(separator: "/")
    }

    func load() throws -> ClientTrust {
        var trust = ClientTrust(pins: pins)
        if let clientCAPath {
            trust.caCertificates = try PEMFileSource.certificates(path: clientCAPath, what: "tls.client_ca file")
        }
        if let clientPinsPath {
            trust.pins.formUnion(try Self.pins(clientPinsPath))
        }
        return trust
    }

    static func pins(_ path: String) throws -> Set<PublicKeyPin> {
        let bytes = try PEMFileSource.read(path, what: "tls.client_pins_file")
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TLSMaterialError("cannot load tls.client_pins_file \(path): not UTF-8 text")
        }
        var pins: Set<PublicKeyPin> = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let entry = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty else { continue }
            do {
                pins.insert(try PublicKeyPin(parsing: entry))
            } catch {
                throw TLSMaterialError("tls.client_pins_file \(path) line \(number + 1): \(error)")
            }
        }
        return pins
    }
}
