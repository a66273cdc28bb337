@testable import CustosCrypto
import Foundation
import Testing

@Suite("SLIP-39 shares and PBKDF2-HMAC-SHA256")
struct SLIP39Tests {
    static func share(_ text: String) throws -> SLIP39.Share { try SLIP39.Share(mnemonic: Array(text.utf8)) }
    static func text(_ secret: SecretBytes) -> String { String(decoding: secret.copyBytes(), as: UTF8.self) }

    /// Every vector of python-shamir-mnemonic's vectors.json (passphrase "TREZOR"): a valid
    /// set recovers its master secret, an invalid one is refused by parsing or combining.
    @Test func everyPublishedVector() throws {
        guard let vectors = try TestVectors.json("slip39/vectors.json") as? [[Any]] else {
            Issue.record("vectors.json is not a list of lists")
            return
        }
        #expect(vectors.count == 45)
        var valid = 0, invalid = 0
        for vector in vectors {
            let name = vector[0] as! String
            let mnemonics = vector[1] as! [String]
            let secret = vector[2] as! String
            let passphrase = SecretBytes(Array("TREZOR".utf8))
            if secret.isEmpty {
                invalid += 1
                #expect(throws: SLIP39Error.self, "\(name)") {
                    let shares = try mnemonics.map { try Self.share($0) }
                    _ = try SLIP39.combine(shares, passphrase: passphrase)
                }
            } else {
                valid += 1
                let shares = try mnemonics.map { try Self.share($0) }
                let recovered = try SLIP39.combine(shares, passphrase: passphrase)
                #expect(recovered.copyBytes() == [UInt8](hex: secret), "\(name)")
                // Parsing then rendering gives the same words back.
                for (share, mnemonic) in zip(shares, mnemonics) {
                    #expect(Self.text(share.mnemonic()) == mnemonic, "\(name)")
                }
                // Without the passphrase the same shares give another secret: SLIP-39 cannot tell.
                #expect(try SLIP39.combine(shares).copyBytes() != [UInt8](hex: secret))
            }
        }
        #expect(valid == 15 && invalid == 30)
    }

    @Test func pbkdf2MatchesRFC7914AndOpenSSL() {
        func derive(_ password: String, _ salt: String, _ iterations: Int, _ length: Int) -> String {
            Array(password.utf8).withUnsafeBytes {
                PBKDF2SHA256.derive(password: $0, salt: Array(salt.utf8), iterations: iterations, byteCount: length).copyBytes().hexString
            }
        }
        #expect(derive("passwd", "salt", 1, 64) == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
        #expect(derive("Password", "NaCl", 80000, 64) == "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d")
        #expect(derive("password", "salt", 4096, 20) == "c5e478d59288c841aa530db6845c4c8d962893a0")
    }

    @Test(arguments: [true, false])
    func everyThresholdSubsetRecoversAndFewerDoNot(extendable: Bool) throws {
        let secret = SecretBytes(randomCount: 32)
        let passphrase = SecretBytes(Array("correct horse".utf8))
        let shares = try SLIP39.split(masterSecret: secret, passphrase: passphrase, groups: [(3, 5)], extendable: extendable, iterationExponent: 0)[0]
        #expect(shares.count == 5 && shares.allSatisfy { $0.memberThreshold == 3 && $0.value.count == 32 })
        // Round trip through words.
        let parsed = try shares.map { try SLIP39.Share(mnemonic: $0.mnemonic().copyBytes()) }
        for a in 0..<5 { for b in (a + 1)..<5 { for c in (b + 1)..<5 {
            #expect(try SLIP39.combine([parsed[a], parsed[b], parsed[c]], passphrase: passphrase).isEqual(to: secret))
        } } }
        #expect(throws: SLIP39Error.tooFewShares(needed: 3, given: 2, group: nil)) {
            _ = try SLIP39.combine([parsed[0], parsed[4]], passphrase: passphrase)
        }
        // All five, when extra shares are allowed, each checked against the others.
        #expect(try SLIP39.combine(parsed, passphrase: passphrase, allowingExtraShares: true).isEqual(to: secret))
        #expect(throws: SLIP39Error.tooManyShares("5 shares were given, the threshold is 3")) {
            _ = try SLIP39.combine(parsed, passphrase: passphrase)
        }
    }

    @Test func groupsOfMembers() throws {
        let secret = SecretBytes(randomCount: 16)
        let groups = try SLIP39.split(masterSecret: secret, groupThreshold: 2, groups: [(2, 3), (1, 1), (3, 5)], iterationExponent: 0)
        #expect(try SLIP39.combine([groups[0][2], groups[0][0], groups[1][0]]).isEqual(to: secret))
        #expect(try SLIP39.combine([groups[2][1], groups[2][3], groups[2][4], groups[1][0]]).isEqual(to: secret))
        #expect(throws: SLIP39Error.tooFewShares(needed: 3, given: 2, group: 2)) {
            _ = try SLIP39.combine([groups[2][1], groups[2][3], groups[1][0]])
        }
        #expect(throws: SLIP39Error.tooFewShares(needed: 2, given: 1, group: nil)) {
            _ = try SLIP39.combine([groups[1][0]])
        }
    }

    @Test func badSharesAreRefusedWithAReason() throws {
        let secret = SecretBytes(randomCount: 32)
        let a = try SLIP39.split(masterSecret: secret, groups: [(2, 3)], iterationExponent: 0)[0]
        let b = try SLIP39.split(masterSecret: secret, groups: [(2, 3)], iterationExponent: 0, identifier: (a[0].identifier + 1) & 0x7fff)[0]
        #expect(throws: SLIP39Error.differentSets("the shares belong to different sets (their identifiers differ)")) {
            _ = try SLIP39.combine([a[0], b[1]])
        }
        // A word changed: the RS1024 checksum catches it.
        var words = Self.text(a[0].mnemonic()).split(separator: " ").map(String.init)
        words[10] = words[10] == "academic" ? "acid" : "academic"
        #expect(throws: SLIP39Error.invalidChecksum) { _ = try Self.share(words.joined(separator: " ")) }
        words[10] = "notaword"
        #expect(throws: SLIP39Error.unknownWord(position: 11)) { _ = try Self.share(words.joined(separator: " ")) }
        #expect(throws: SLIP39Error.self) { _ = try Self.share(words.prefix(19).joined(separator: " ")) }
        // The same share twice is one share.
        #expect(throws: SLIP39Error.tooFewShares(needed: 2, given: 1, group: nil)) { _ = try SLIP39.combine([a[1], a[1]]) }
        // Upper case and extra white space are accepted.
        let loud = Self.text(a[2].mnemonic()).uppercased().replacingOccurrences(of: " ", with: " \n\t ")
        #expect(try SLIP39.combine([a[0], try Self.share(loud)]).isEqual(to: secret))
        // Refused parameters.
        #expect(throws: SLIP39Error.self) { _ = try SLIP39.split(masterSecret: secret, groups: [(1, 3)]) }
        #expect(throws: SLIP39Error.self) { _ = try SLIP39.split(masterSecret: secret, groups: [(4, 3)]) }
        #expect(throws: SLIP39Error.self) { _ = try SLIP39.split(masterSecret: secret, groups: [(2, 17)]) }
        #expect(throws: SLIP39Error.self) { _ = try SLIP39.split(masterSecret: SecretBytes(randomCount: 15), groups: [(2, 3)]) }
    }

    @Test func theCompiledWordListIsThePublishedOne() throws {
        let published = try String(contentsOf: TestVectors.existingFile("slip39/wordlist.txt"), encoding: .utf8)
            .split(whereSeparator: \.isNewline).map(String.init)
        #expect(published.count == 1024)
        #expect(SLIP39Wordlist.words.map { $0.description } == published)
        // Rendering index i gives word i, through the constant-time scan.
        for (index, word) in published.enumerated() {
            var text = [UInt8]()
            SLIP39.appendWord(index, to: &text)
            #expect(String(decoding: text, as: UTF8.self) == word)
            #expect(try SLIP39.wordIndices(Array(word.utf8)) == [index])
        }
    }

    @Test func galoisFieldInverse() {
        for a in 1...255 {
            #expect(GF256.multiply(UInt8(a), GF256.inverse(UInt8(a))) == 1)
        }
        #expect(GF256.multiply(0x57, 0x83) == 0xc1)  // FIPS 197 §4.2
    }
}
