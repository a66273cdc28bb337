import CustosPKI
import Foundation
import Testing

/// The RFC 7469 pin of a key checked against `openssl pkey -pubout | openssl dgst -sha256`,
/// computed outside Custos for the fixture below.
@Suite struct PublicKeyPinTests {
    // A P-256 SubjectPublicKeyInfo (from `openssl ecparam -genkey -name prime256v1 | openssl pkey -pubout -outform DER`)
    // and its SHA-256, computed by openssl dgst.
    static let spki = Array(Data(base64Encoded: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdUPuk6gWMFFvH6uPHc1ze9H6s0JpbnCTi3wpCN2x2f2YY1ITVhJRUPuVTBwTEWCvJ3/vOK/pbAEYf0qbhzZOeQ==")!)
    static let pinHex = "171781374f1d687b422205514509acfb7beed7d41a03ea22f7fdfdf6811f2c21"

    @Test func pinIsSHA256OfTheSubjectPublicKeyInfo() throws {
        let pin = PublicKeyPin(subjectPublicKeyInfo: Self.spki)
        #expect(pin.hex == Self.pinHex)
        #expect(try PublicKeyPin(parsing: pin.base64) == pin)
        #expect(try PublicKeyPin(parsing: "sha256/" + pin.base64) == pin)
        #expect(try PublicKeyPin(parsing: pin.hex.uppercased()) == pin)
        let colons = stride(from: 0, to: 64, by: 2).map { i in String(Array(pin.hex)[i..<i + 2]) }.joined(separator: ":")
        #expect(try PublicKeyPin(parsing: colons) == pin)
    }

    @Test(arguments: ["", "abc", String(repeating: "g", count: 64), String(repeating: "0", count: 62),
                      "AAAA", "sha256/" + String(repeating: "A", count: 43), "\u{1b}[31m" + String(repeating: "0", count: 60)])
    func malformedPinsAreRefused(_ text: String) {
        #expect(throws: PKIError.self) { try PublicKeyPin(parsing: text) }
    }

    @Test func errorsDoNotEchoControlCharacters() {
        do {
            _ = try PublicKeyPin(parsing: "\u{1b}[2J\n")
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("\u{1b}"))
            #expect(!"\(error)".contains("\n"))
        }
    }
}
