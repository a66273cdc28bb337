import CustosCrypto
import Foundation
import Testing

@testable import CustosKeystore

/// A private key imported into Custos must never appear in clear anywhere under the
/// data directory: database, WAL, journal, root file.
@Suite("No plaintext at rest")
struct PlaintextScanTests {
    @Test func importedPrivateBytesAppearNowhereOnDisk() async throws {
        let fixture = try await Fixture.make()
        // A known Ed25519 seed and secp256k1 scalar, with recognisable patterns.
        let seed = (0..<32).map { UInt8(0xa0 &+ $0) }
        let scalar = (0..<32).map { UInt8(truncatingIfNeeded: 0x11 &* ($0 &+ 1)) }
        let edPEM = Array(try Curve25519.Signing.PrivateKey(rawRepresentation: seed).pemRepresentationForTest.utf8)
        _ = try await fixture.service.importKey(KeySpec(tenant: "node-1", alias: "ed", algorithm: .signing(.ed25519)), privateKey: SecretBytes(edPEM), by: .local)
        let sec1 = [0x30, 0x2e, 0x02, 0x01, 0x01, 0x04, 0x20] + scalar + [0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]
        let secPEM = "-----BEGIN EC PRIVATE KEY-----\n" + Data(sec1).base64EncodedString() + "\n-----END EC PRIVATE KEY-----\n"
        _ = try await fixture.service.importKey(KeySpec(tenant: "node-1", alias: "eth", algorithm: .signing(.ecdsaSecp256k1Keccak256)),
                                                privateKey: SecretBytes(Array(secPEM.utf8)), by: .local)
        // Use the keys so caches, WAL frames and journals have had their chance.
        for alias: KeyAlias in ["ed", "eth"] {
            _ = try await fixture.service.sign(tenant: "node-1", alias: alias, message: [1, 2, 3], by: .local)
            _ = try await fixture.service.rotate(tenant: "node-1", alias: alias, by: .local)
        }
        let needles: [(String, [UInt8])] = [
            ("ed25519 seed", seed), ("secp256k1 scalar", scalar),
            ("ed25519 seed hex", Array(Hex.encode(seed).utf8)), ("secp256k1 scalar hex", Array(Hex.encode(scalar).utf8)),
            ("ed25519 PEM body", Array(edPEM[28..<60])),
        ]
        // Scan while the store is open (WAL present) and again after closing.
        for phase in ["open", "closed"] {
            if phase == "closed" { try await fixture.service.close() }
            let files = try FileManager.default.subpathsOfDirectory(atPath: fixture.directory)
            var scanned = 0
            for file in files {
                let path = fixture.directory + "/" + file
                guard let contents = FileManager.default.contents(atPath: path) else { continue }
                scanned += 1
                let bytes = Array(contents)
                for (name, needle) in needles {
                    #expect(!bytes.contains(subsequence: needle), "\(name) found in \(file) (\(phase))")
                }
            }
            #expect(scanned >= 2, "expected at least the root file and the database")
        }
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if self[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}

import Crypto
