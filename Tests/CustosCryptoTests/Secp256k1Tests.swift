import Crypto
import CustosCrypto
import Foundation
import Testing

private let groupOrder = [UInt8](hex: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")

/// n - s for a 32-byte big-endian s < n.
private func negate(_ s: ArraySlice<UInt8>) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: 32)
    var borrow = 0
    for index in stride(from: 31, through: 0, by: -1) {
        var difference = Int(groupOrder[index]) - Int(s[s.startIndex + index]) - borrow
        borrow = difference < 0 ? 1 : 0
        if difference < 0 { difference += 256 }
        result[index] = UInt8(difference)
    }
    return result
}

private func sha256(_ bytes: [UInt8]) -> [UInt8] {
    Array(SHA256.hash(data: bytes))
}

@Suite("secp256k1 Wycheproof")
struct Secp256k1WycheproofTests {
    /// Every `valid` case verifies (with high s allowed, as generic ECDSA must) and every
    /// `invalid` one is refused, either by the strict DER parser or by verification.
    ///
    /// `acceptable` cases: this file (v1, 463 tests) has none. Wycheproof uses the label for
    /// legacy encodings such as BER; our policy is strict DER, so any that appear in a future
    /// version are expected to be rejected, and the count is pinned so a change is noticed.
    @Test("ecdsa_secp256k1_sha256_test.json")
    func wycheproof() throws {
        let root = try #require(try TestVectors.json("wycheproof/ecdsa_secp256k1_sha256_test.json") as? [String: Any])
        let groups = try #require(root["testGroups"] as? [[String: Any]])
        var counts: [String: Int] = [:]
        var rejectedByParser = 0
        var validHighS = 0

        for group in groups {
            let keyInfo = try #require(group["publicKey"] as? [String: Any])
            let fromDER = try Secp256k1.PublicKey(derRepresentation: [UInt8](hex: try #require(group["publicKeyDer"] as? String)))
            let fromPoint = try Secp256k1.PublicKey(x963Representation: [UInt8](hex: try #require(keyInfo["uncompressed"] as? String)))
            let fromPEM = try Secp256k1.PublicKey(pemRepresentation: try #require(group["publicKeyPem"] as? String))
            #expect(fromDER == fromPoint)
            #expect(fromPEM == fromPoint)
            #expect(fromPoint.derRepresentation.hexString == group["publicKeyDer"] as? String)

            for test in try #require(group["tests"] as? [[String: Any]]) {
                let id = try #require(test["tcId"] as? Int)
                let result = try #require(test["result"] as? String)
                let flags = test["flags"] as? [String] ?? []
                let digest = sha256([UInt8](hex: try #require(test["msg"] as? String)))
                counts[result, default: 0] += 1

                let accepted: Bool
                if let signature = try? Secp256k1.ECDSASignature(derRepresentation: [UInt8](hex: try #require(test["sig"] as? String))) {
                    accepted = fromPoint.isValidSignature(signature, forDigest: digest, allowHighS: true)
                    if result == "valid" && !signature.isLowS {
                        // Valid only as generic ECDSA: the Ethereum (EIP-2) policy refuses it.
                        validHighS += 1
                        #expect(!fromPoint.isValidSignature(signature, forDigest: digest, allowHighS: false), "tcId \(id)")
                    }
                    // Our DER output is canonical, so a parsed signature re-encodes to its input.
                    #expect(signature.derRepresentation.hexString == test["sig"] as? String, "tcId \(id) re-encoding")
                } else {
                    accepted = false
                    rejectedByParser += 1
                    #expect(result != "valid", "tcId \(id): valid signature refused by the DER parser")
                }

                switch result {
                case "valid": #expect(accepted, "tcId \(id) \(flags) should verify")
                case "invalid": #expect(!accepted, "tcId \(id) \(flags) should be rejected")
                default: #expect(!accepted, "tcId \(id) acceptable: strict policy rejects it")
                }
            }
        }

        #expect(counts["valid"] == 164)
        #expect(counts["invalid"] == 299)
        #expect(counts["acceptable", default: 0] == 0)
        #expect(counts.values.reduce(0, +) == 463)
        // 282 of the 299 invalid cases are encoding or range faults refused by the parser;
        // the other 17 parse and fail verification.
        #expect(rejectedByParser == 282)
        #expect(validHighS == 69)
    }

    /// Encoding faults must be caught by the parser itself, not only by a failing verification.
    @Test("encoding faults are refused at parse time")
    func encodingFaultsRejectedByParser() throws {
        let root = try #require(try TestVectors.json("wycheproof/ecdsa_secp256k1_sha256_test.json") as? [String: Any])
        let groups = try #require(root["testGroups"] as? [[String: Any]])
        let encodingFlags: Set = ["BerEncodedSignature", "InvalidEncoding", "InvalidTypesInSignature", "MissingZero"]
        var checked = 0
        for group in groups {
            for test in try #require(group["tests"] as? [[String: Any]]) {
                let flags = Set(test["flags"] as? [String] ?? [])
                guard test["result"] as? String == "invalid", !flags.isDisjoint(with: encodingFlags) else { continue }
                checked += 1
                let sig = [UInt8](hex: try #require(test["sig"] as? String))
                #expect(throws: Secp256k1Error.self, "tcId \(test["tcId"] ?? "?") \(flags.sorted())") {
                    try Secp256k1.ECDSASignature(derRepresentation: sig)
                }
            }
        }
        #expect(checked > 0)
    }
}

@Suite("secp256k1 Ethereum vectors")
struct Secp256k1EthereumTests {
    static func vectors() throws -> [String: Any] {
        try #require(try TestVectors.json("ethereum/transactions.json") as? [String: Any])
    }

    static func personalSignDigest(_ message: [UInt8]) -> [UInt8] {
        Keccak256.hash(data: Array("\u{19}Ethereum Signed Message:\n\(message.count)".utf8) + message)
    }

    @Test("EIP-191 personal_sign: recovery yields the signer")
    func personalSign() throws {
        let cases = try #require(try Self.vectors()["personal_sign"] as? [[String: Any]])
        #expect(cases.count == 3)
        for item in cases {
            let message = Array(try #require(item["message"] as? String).utf8)
            let signer = try #require(item["signer"] as? String)
            let valid = try #require(item["valid"] as? Bool)
            let digest = Self.personalSignDigest(message)
            let outcome = Result { () throws -> String in
                let signature = try Secp256k1.RecoverableSignature(
                    ethereumRepresentation: [UInt8](hex: try #require(item["signature"] as? String)))
                return try Secp256k1.PublicKey.recover(from: signature, forDigest: digest).ethereumChecksumAddress
            }
            if valid {
                // Exact string comparison also checks the EIP-55 checksum casing.
                #expect(try outcome.get() == signer)
            } else {
                #expect((try? outcome.get()) != signer)
            }
        }
    }

    @Test("EIP-191 personal_sign: tampered messages and signatures do not yield the signer")
    func personalSignTampered() throws {
        let cases = try #require(try Self.vectors()["personal_sign"] as? [[String: Any]])
        for item in cases where item["valid"] as? Bool == true {
            let message = Array(try #require(item["message"] as? String).utf8)
            let signer = try #require(item["signer"] as? String)
            let bytes = [UInt8](hex: try #require(item["signature"] as? String))
            let signature = try Secp256k1.RecoverableSignature(ethereumRepresentation: bytes)

            var otherMessage = message
            otherMessage[0] ^= 0x01
            let fromOtherMessage = try? Secp256k1.PublicKey.recover(from: signature, forDigest: Self.personalSignDigest(otherMessage))
            #expect(fromOtherMessage?.ethereumChecksumAddress != signer)

            // The same bytes without the EIP-191 prefix hash to a different digest.
            let unprefixed = try? Secp256k1.PublicKey.recover(from: signature, forDigest: Keccak256.hash(data: message))
            #expect(unprefixed?.ethereumChecksumAddress != signer)

            var flippedV = bytes
            flippedV[64] = flippedV[64] == 27 ? 28 : 27
            let wrongParity = try Secp256k1.RecoverableSignature(ethereumRepresentation: flippedV)
            let fromWrongParity = try? Secp256k1.PublicKey.recover(from: wrongParity, forDigest: Self.personalSignDigest(message))
            #expect(fromWrongParity?.ethereumChecksumAddress != signer)

            var badV = bytes
            badV[64] = 29
            #expect(throws: Secp256k1Error.invalidRecoveryID(29)) {
                try Secp256k1.RecoverableSignature(ethereumRepresentation: badV)
            }

            var truncated = bytes
            truncated.removeLast()
            #expect(throws: Secp256k1Error.self) { try Secp256k1.RecoverableSignature(ethereumRepresentation: truncated) }

            // (r, n - s) with the other parity recovers the same key but is refused under EIP-2.
            var malleated = Array(bytes[0..<32]) + negate(bytes[32..<64])
            malleated.append(bytes[64] == 27 ? 28 : 27)
            #expect(throws: Secp256k1Error.highS) { try Secp256k1.RecoverableSignature(ethereumRepresentation: malleated) }
            let highS = try Secp256k1.RecoverableSignature(
                rawRepresentation: malleated[0..<64], recoveryID: malleated[64] - 27)
            #expect(try Secp256k1.PublicKey.recover(from: highS, forDigest: Self.personalSignDigest(message)).ethereumChecksumAddress == signer)
        }
    }

    @Test("signed transactions: recovery from the signing hash yields the sender")
    func transactions() throws {
        let transactions = try #require(try Self.vectors()["transactions"] as? [[String: Any]])
        var recovered = 0, rejected = 0
        for transaction in transactions {
            let kind = try #require(transaction["kind"] as? String)
            let sender = try #require(transaction["sender"] as? String)
            let raw = [UInt8](hex: try #require(transaction["raw"] as? String))
            let valid = try #require(transaction["valid"] as? Bool)

            let outcome = Result { () throws -> String in
                let signed = try EthereumTransaction.signingHash(raw)
                let signature = try Secp256k1.RecoverableSignature(
                    rawRepresentation: signed.r + signed.s, recoveryID: signed.recoveryID)
                if valid, let r = transaction["r"] as? String, let s = transaction["s"] as? String {
                    #expect(signed.r == EthereumTransaction.word(r), "\(kind) r")
                    #expect(signed.s == EthereumTransaction.word(s), "\(kind) s")
                }
                return try Secp256k1.PublicKey.recover(from: signature, forDigest: signed.hash).ethereumChecksumAddress
            }
            if valid {
                #expect(try outcome.get() == sender, "\(kind)")
                recovered += 1
            } else {
                #expect((try? outcome.get()) != sender, "\(kind): \(transaction["why"] ?? "")")
                rejected += 1
            }
        }
        #expect(recovered == 19)
        #expect(rejected == 3)
    }
}

/// Just enough RLP to rebuild the payload a transaction's signature covers.
private enum EthereumTransaction {
    struct Malformed: Error {}

    struct Signed {
        var hash: [UInt8]
        var r: [UInt8]
        var s: [UInt8]
        var recoveryID: UInt8
    }

    /// A 0x-prefixed quantity as 32 big-endian bytes.
    static func word(_ quantity: String) -> [UInt8] {
        var digits = String(quantity.dropFirst(2))
        if digits.count % 2 == 1 { digits = "0" + digits }
        let bytes = [UInt8](hex: digits)
        return [UInt8](repeating: 0, count: 32 - bytes.count) + bytes
    }

    static func signingHash(_ raw: [UInt8]) throws -> Signed {
        guard let first = raw.first else { throw Malformed() }
        if first >= 0xc0 {
            let items = try listItems(raw[...])
            guard items.count == 9 else { throw Malformed() }
            let v = try integer(items[6])
            if v == 27 || v == 28 {
                return Signed(hash: Keccak256.hash(data: encodeList(items[0..<6].map(Array.init))),
                              r: try word(items[7]), s: try word(items[8]), recoveryID: UInt8(v - 27))
            }
            guard v >= 35 else { throw Malformed() }
            // EIP-155: the signature covers the six fields followed by (chainId, 0, 0).
            let chainID = (v - 35) / 2
            let fields = items[0..<6].map(Array.init) + [encodeInteger(chainID), [0x80], [0x80]]
            return Signed(hash: Keccak256.hash(data: encodeList(fields)),
                          r: try word(items[7]), s: try word(items[8]), recoveryID: UInt8((v - 35) % 2))
        }
        // EIP-2718 typed transactions: type ‖ rlp([fields…, yParity, r, s]); the signature
        // covers type ‖ rlp([fields…]).
        guard first == 0x01 || first == 0x02 else { throw Malformed() }
        let items = try listItems(raw[1...])
        guard items.count >= 3 else { throw Malformed() }
        let parity = try integer(items[items.count - 3])
        guard parity <= 1 else { throw Malformed() }
        let payload = [first] + encodeList(items.dropLast(3).map(Array.init))
        return Signed(hash: Keccak256.hash(data: payload),
                      r: try word(items[items.count - 2]), s: try word(items[items.count - 1]),
                      recoveryID: UInt8(parity))
    }

    /// (offset of the payload, payload length) of the item starting at `data.startIndex`.
    static func header(_ data: ArraySlice<UInt8>) throws -> (isList: Bool, payloadStart: Int, payloadCount: Int) {
        guard let prefix = data.first else { throw Malformed() }
        let start = data.startIndex
        func longLength(_ lengthOfLength: Int) throws -> Int {
            guard data.count > lengthOfLength else { throw Malformed() }
            return data[(start + 1)...(start + lengthOfLength)].reduce(0) { $0 << 8 | Int($1) }
        }
        let result: (Bool, Int, Int)
        switch prefix {
        case 0x00...0x7f: result = (false, start, 1)
        case 0x80...0xb7: result = (false, start + 1, Int(prefix) - 0x80)
        case 0xb8...0xbf: let n = Int(prefix) - 0xb7; result = (false, start + 1 + n, try longLength(n))
        case 0xc0...0xf7: result = (true, start + 1, Int(prefix) - 0xc0)
        default: let n = Int(prefix) - 0xf7; result = (true, start + 1 + n, try longLength(n))
        }
        guard result.1 + result.2 <= data.endIndex else { throw Malformed() }
        return result
    }

    /// The full encodings of the items of the list that is exactly `data`.
    static func listItems(_ data: ArraySlice<UInt8>) throws -> [ArraySlice<UInt8>] {
        let (isList, start, count) = try header(data)
        guard isList, start + count == data.endIndex else { throw Malformed() }
        var items: [ArraySlice<UInt8>] = []
        var offset = start
        while offset < data.endIndex {
            let (_, payloadStart, payloadCount) = try header(data[offset...])
            items.append(data[offset..<(payloadStart + payloadCount)])
            offset = payloadStart + payloadCount
        }
        return items
    }

    static func payload(_ item: ArraySlice<UInt8>) throws -> ArraySlice<UInt8> {
        let (isList, start, count) = try header(item)
        guard !isList else { throw Malformed() }
        return item[start..<(start + count)]
    }

    static func integer(_ item: ArraySlice<UInt8>) throws -> Int {
        let bytes = try payload(item)
        guard bytes.count <= 7 else { throw Malformed() }
        return bytes.reduce(0) { $0 << 8 | Int($1) }
    }

    static func word(_ item: ArraySlice<UInt8>) throws -> [UInt8] {
        let bytes = try payload(item)
        guard bytes.count <= 32 else { throw Malformed() }
        return [UInt8](repeating: 0, count: 32 - bytes.count) + bytes
    }

    static func encodeInteger(_ value: Int) -> [UInt8] {
        if value == 0 { return [0x80] }
        var bytes: [UInt8] = []
        var rest = value
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xff), at: 0)
            rest >>= 8
        }
        return bytes.count == 1 && bytes[0] < 0x80 ? bytes : [0x80 + UInt8(bytes.count)] + bytes
    }

    static func encodeList(_ items: [[UInt8]]) -> [UInt8] {
        let body = items.flatMap { $0 }
        if body.count <= 55 { return [0xc0 + UInt8(body.count)] + body }
        var length: [UInt8] = []
        var rest = body.count
        while rest > 0 {
            length.insert(UInt8(rest & 0xff), at: 0)
            rest >>= 8
        }
        return [0xf7 + UInt8(length.count)] + length + body
    }
}

@Suite("secp256k1 round trips")
struct Secp256k1RoundTripTests {
    @Test("sign and verify with random keys; encodings round-trip")
    func signVerifyRandomKeys() throws {
        for round in 0..<25 {
            let key = Secp256k1.PrivateKey()
            let publicKey = key.publicKey
            let digest = sha256(Array("message \(round)".utf8))
            let signature = try key.signature(forDigest: digest)

            #expect(signature.isLowS)
            #expect(publicKey.isValidSignature(signature, forDigest: digest, allowHighS: false))
            #expect(publicKey.isValidSignature(signature, forDigest: digest, allowHighS: true))
            #expect(!publicKey.isValidSignature(signature, forDigest: sha256(Array("other".utf8)), allowHighS: true))
            #expect(!Secp256k1.PrivateKey().publicKey.isValidSignature(signature, forDigest: digest, allowHighS: true))

            // Deterministic nonce: the same key and digest give the same signature.
            #expect(try key.signature(forDigest: digest) == signature)

            #expect(try Secp256k1.ECDSASignature(derRepresentation: signature.derRepresentation) == signature)
            #expect(try Secp256k1.ECDSASignature(rawRepresentation: signature.rawRepresentation) == signature)
            #expect(signature.rawRepresentation.count == 64)

            #expect(try Secp256k1.PublicKey(compressedRepresentation: publicKey.compressedRepresentation) == publicKey)
            #expect(try Secp256k1.PublicKey(x963Representation: publicKey.x963Representation) == publicKey)
            #expect(try Secp256k1.PublicKey(derRepresentation: publicKey.derRepresentation) == publicKey)
            #expect(try Secp256k1.PublicKey(pemRepresentation: publicKey.pemRepresentation) == publicKey)

            let restored = try Secp256k1.PrivateKey(rawRepresentation: key.rawRepresentation.copyBytes())
            #expect(restored.rawRepresentation.isEqual(to: key.rawRepresentation))
            #expect(restored.publicKey == publicKey)
        }
    }

    @Test("recovery yields the signer")
    func recoverSigner() throws {
        for round in 0..<25 {
            let key = Secp256k1.PrivateKey()
            let digest = Keccak256.hash(data: Array("recover \(round)".utf8))
            let signature = try key.recoverableSignature(forDigest: digest)
            #expect(signature.recoveryID <= 1)
            #expect(signature.signature.isLowS)
            #expect(try Secp256k1.PublicKey.recover(from: signature, forDigest: digest) == key.publicKey)
            #expect(key.publicKey.isValidSignature(signature.signature, forDigest: digest, allowHighS: false))
            // Recoverable and plain signing use the same nonce.
            #expect(try key.signature(forDigest: digest) == signature.signature)

            let ethereum = signature.ethereumRepresentation
            #expect(ethereum.count == 65 && ethereum[64] == 27 + signature.recoveryID)
            #expect(try Secp256k1.RecoverableSignature(ethereumRepresentation: ethereum) == signature)
            var zeroBased = ethereum
            zeroBased[64] -= 27
            #expect(try Secp256k1.RecoverableSignature(ethereumRepresentation: zeroBased) == signature)
            #expect(try Secp256k1.RecoverableSignature(
                rawRepresentation: signature.rawRepresentation, recoveryID: signature.recoveryID) == signature)
        }
    }

    @Test("RFC 6979 known answer: key 1, SHA-256(\"Satoshi Nakamoto\")")
    func rfc6979KnownAnswer() throws {
        let key = try Secp256k1.PrivateKey(rawRepresentation: [UInt8](repeating: 0, count: 31) + [1])
        let signature = try key.signature(forDigest: sha256(Array("Satoshi Nakamoto".utf8)))
        #expect(signature.derRepresentation.hexString
            == "3045022100934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d802202442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5")
    }

    @Test("Ethereum address of a known key")
    func knownAddress() throws {
        // Private key 1: its address is a well-known constant.
        let key = try Secp256k1.PrivateKey(rawRepresentation: [UInt8](repeating: 0, count: 31) + [1])
        #expect(key.publicKey.ethereumChecksumAddress == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
        #expect(key.publicKey.ethereumAddress.hexString == "7e5f4552091a69125d5dfcb7b8c2659029395bdf")
        #expect(key.publicKey.compressedRepresentation.hexString
            == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    }

    @Test("PEM of a Wycheproof key parses and re-encodes")
    func pemRoundTrip() throws {
        let pem = """
            -----BEGIN PUBLIC KEY-----
            MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEeCyO0X47Kng7VGTzOwllKnHGeOBexR6E
            4rz8Zjo96WOvmstCgLjH98QvTvmrpiRewewXEv04oPqWQY2M1qphUg==
            -----END PUBLIC KEY-----
            """
        let key = try Secp256k1.PublicKey(pemRepresentation: pem)
        #expect(key.pemRepresentation.trimmingCharacters(in: .whitespacesAndNewlines) == pem)
        let compressedSPKI = [UInt8](hex: "3036301006072a8648ce3d020106052b8104000a032200") + key.compressedRepresentation
        #expect(try Secp256k1.PublicKey(derRepresentation: compressedSPKI) == key)
    }

    @Test("concurrent signing on the shared context")
    func concurrentSigning() async throws {
        let key = Secp256k1.PrivateKey()
        let publicKey = key.publicKey
        let allValid = await withTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for round in 0..<50 {
                        let digest = sha256(Array("\(task)-\(round)".utf8))
                        guard let signature = try? key.signature(forDigest: digest),
                              publicKey.isValidSignature(signature, forDigest: digest, allowHighS: false)
                        else { return false }
                    }
                    return true
                }
            }
            return await group.allSatisfy { $0 }
        }
        #expect(allValid)
    }
}

@Suite("secp256k1 bad input")
struct Secp256k1BadInputTests {
    let digest = sha256(Array("bad input".utf8))

    @Test("private key of the wrong length", arguments: [0, 31, 33, 64])
    func wrongLengthPrivateKey(length: Int) {
        #expect(throws: Secp256k1Error.invalidPrivateKey) {
            try Secp256k1.PrivateKey(rawRepresentation: [UInt8](repeating: 1, count: length))
        }
    }

    @Test("private key zero")
    func zeroPrivateKey() {
        #expect(throws: Secp256k1Error.invalidPrivateKey) {
            try Secp256k1.PrivateKey(rawRepresentation: [UInt8](repeating: 0, count: 32))
        }
    }

    @Test("private key ≥ n", arguments: [
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ])
    func privateKeyNotBelowOrder(hex: String) {
        #expect(throws: Secp256k1Error.invalidPrivateKey) {
            try Secp256k1.PrivateKey(rawRepresentation: [UInt8](hex: hex))
        }
    }

    @Test("private key n - 1 is accepted")
    func largestPrivateKey() throws {
        let key = try Secp256k1.PrivateKey(rawRepresentation: [UInt8](hex: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"))
        #expect(key.publicKey.compressedRepresentation.hexString
            == "0379be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    }

    @Test("error descriptions carry no key bytes")
    func errorDescriptions() {
        let secret = [UInt8](repeating: 0xab, count: 33)
        do {
            _ = try Secp256k1.PrivateKey(rawRepresentation: secret)
            Issue.record("accepted a 33-byte key")
        } catch {
            #expect(!"\(error)".lowercased().contains("abab"))
            #expect(!String(reflecting: error).lowercased().contains("abab"))
        }
    }

    @Test("compressed public key off the curve")
    func offCurveCompressed() {
        // x = 5: x³ + 7 = 132 is not a square mod p.
        let bytes = [0x02] + [UInt8](repeating: 0, count: 31) + [5]
        #expect(throws: Secp256k1Error.invalidPublicKey(reason: "not a point on secp256k1")) {
            try Secp256k1.PublicKey(compressedRepresentation: bytes)
        }
    }

    @Test("compressed public key with a bad prefix or length")
    func malformedCompressed() {
        let valid = [UInt8](hex: "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(compressedRepresentation: [0x04] + valid.dropFirst()) }
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(compressedRepresentation: valid.dropLast()) }
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(compressedRepresentation: valid + [0]) }
        // x ≥ p
        #expect(throws: Secp256k1Error.self) {
            try Secp256k1.PublicKey(compressedRepresentation: [0x02] + [UInt8](repeating: 0xff, count: 32))
        }
    }

    @Test("uncompressed public key off the curve")
    func offCurveUncompressed() throws {
        var bytes = Secp256k1.PrivateKey().publicKey.x963Representation
        bytes[64] ^= 0x01
        #expect(throws: Secp256k1Error.invalidPublicKey(reason: "not a point on secp256k1")) {
            try Secp256k1.PublicKey(x963Representation: bytes)
        }
    }

    @Test("uncompressed public key: hybrid prefix, wrong length, all zero")
    func malformedUncompressed() {
        let point = Secp256k1.PrivateKey().publicKey.x963Representation
        let hybrid = [0x06 | (point[64] & 1)] + point.dropFirst()
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(x963Representation: hybrid) }
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(x963Representation: point.dropLast()) }
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(x963Representation: [0x04] + [UInt8](repeating: 0, count: 64)) }
    }

    @Test("SPKI with the P-256 curve OID")
    func spkiP256() throws {
        // The Wycheproof secp256r1 key: id-ecPublicKey with prime256v1 (1.2.840.10045.3.1.7).
        let root = try #require(try TestVectors.json("wycheproof/ecdsa_secp256r1_sha256_test.json") as? [String: Any])
        let group = try #require((root["testGroups"] as? [[String: Any]])?.first)
        let der = [UInt8](hex: try #require(group["publicKeyDer"] as? String))
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(derRepresentation: der) }
        do {
            _ = try Secp256k1.PublicKey(derRepresentation: der)
        } catch {
            #expect("\(error)".contains("1.2.840.10045.3.1.7"))
        }
    }

    @Test("SPKI with trailing bytes")
    func spkiTrailingBytes() {
        let der = Secp256k1.PrivateKey().publicKey.derRepresentation
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(derRepresentation: der + [0x00]) }
    }

    @Test("SPKI with a malformed BIT STRING or algorithm")
    func spkiMalformed() {
        let der = Secp256k1.PrivateKey().publicKey.derRepresentation
        var unusedBits = der
        unusedBits[22] = 0x01  // the BIT STRING's unused-bits count
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(derRepresentation: unusedBits) }
        var wrongAlgorithm = der
        wrongAlgorithm[12] = 0x02  // id-ecPublicKey 1.2.840.10045.2.1 → …2.2
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(derRepresentation: wrongAlgorithm) }
        var offCurve = der
        offCurve[der.count - 1] ^= 0x01
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(derRepresentation: offCurve) }
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(derRepresentation: der.dropLast()) }
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(pemRepresentation: "not pem") }
        let privatePEM = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----"
        #expect(throws: Secp256k1Error.self) { try Secp256k1.PublicKey(pemRepresentation: privatePEM) }
    }

    @Test("high s is rejected when allowHighS is false and accepted when true")
    func highS() throws {
        let key = Secp256k1.PrivateKey()
        let low = try key.signature(forDigest: digest)
        let raw = low.rawRepresentation
        let high = try Secp256k1.ECDSASignature(rawRepresentation: Array(raw[0..<32]) + negate(raw[32..<64]))
        #expect(!high.isLowS)
        #expect(!key.publicKey.isValidSignature(high, forDigest: digest, allowHighS: false))
        #expect(key.publicKey.isValidSignature(high, forDigest: digest, allowHighS: true))
    }

    @Test("recovery id 4")
    func recoveryIDFour() throws {
        let raw = try Secp256k1.PrivateKey().signature(forDigest: digest).rawRepresentation
        #expect(throws: Secp256k1Error.invalidRecoveryID(4)) {
            try Secp256k1.RecoverableSignature(rawRepresentation: raw, recoveryID: 4)
        }
        #expect(throws: Secp256k1Error.invalidRecoveryID(4)) {
            try Secp256k1.RecoverableSignature(ethereumRepresentation: raw + [4])
        }
    }

    @Test("31-byte digest")
    func shortDigest() throws {
        let key = Secp256k1.PrivateKey()
        let short = [UInt8](repeating: 7, count: 31)
        #expect(throws: Secp256k1Error.digestLength(31)) { try key.signature(forDigest: short) }
        #expect(throws: Secp256k1Error.digestLength(31)) { try key.recoverableSignature(forDigest: short) }
        let recoverable = try key.recoverableSignature(forDigest: digest)
        #expect(throws: Secp256k1Error.digestLength(31)) { try Secp256k1.PublicKey.recover(from: recoverable, forDigest: short) }
        #expect(!key.publicKey.isValidSignature(recoverable.signature, forDigest: short, allowHighS: true))
        #expect(throws: Secp256k1Error.digestLength(33)) { try key.signature(forDigest: self.digest + [0]) }
    }

    @Test("raw signature with r or s out of range or the wrong length")
    func rawSignatureRange() {
        let one = [UInt8](repeating: 0, count: 31) + [1]
        let zero = [UInt8](repeating: 0, count: 32)
        for bad in [zero + one, one + zero, groupOrder + one, one + groupOrder, one + one + [0], Array(one + one).dropLast()] {
            #expect(throws: Secp256k1Error.self) { try Secp256k1.ECDSASignature(rawRepresentation: bad) }
        }
        #expect(throws: Never.self) { try Secp256k1.ECDSASignature(rawRepresentation: one + one) }
    }

    @Test("DER signatures that are not strict DER", arguments: [
        ("", "empty"),
        ("3006020101020101", "valid baseline"),
        ("300702010102010100", "trailing byte inside the sequence"),
        ("300602010102010100", "trailing byte after the sequence"),
        ("308106020101020101", "long-form sequence length"),
        ("3080020101020101" + "0000", "indefinite length"),
        ("300702020001020101", "leading zero on r"),
        ("3006020181020101", "negative r"),
        ("3006020100020101", "r = 0"),
        ("3006020101020100", "s = 0"),
        ("3005020101020101", "sequence length too short"),
        ("3106020101020101", "SET instead of SEQUENCE"),
        ("3006030101020101", "BIT STRING instead of INTEGER"),
        ("300702810101020101", "long-form integer length"),
    ])
    func strictDER(hex: String, label: String) {
        let bytes = [UInt8](hex: hex)
        if label == "valid baseline" {
            #expect(throws: Never.self) { try Secp256k1.ECDSASignature(derRepresentation: bytes) }
        } else {
            #expect(throws: Secp256k1Error.self, "\(label)") { try Secp256k1.ECDSASignature(derRepresentation: bytes) }
        }
    }

    @Test("DER signature with r = n")
    func derROrder() {
        let der = [UInt8](hex: "3026022100") + groupOrder + [0x02, 0x01, 0x01]
        #expect(throws: Secp256k1Error.invalidSignatureEncoding(reason: "r is not below the group order")) {
            try Secp256k1.ECDSASignature(derRepresentation: der)
        }
    }
}
