import Crypto
import Foundation
import Testing
import _CryptoExtras

@testable import CustosCrypto

@Suite("Signing keys")
struct SigningKeyTests {
    static let fastSchemes = SignatureScheme.allCases

    @Test(arguments: SignatureScheme.allCases)
    func encodingsRoundTrip(scheme: SignatureScheme) throws {
        let key = try SigningPrivateKey(generating: scheme, rsaKeySize: .bits2048)
        let publicKey = key.publicKey
        #expect(publicKey.scheme == scheme)
        // SPKI DER and PEM round trip to the same key (BLS12-381 has no SPKI form).
        if scheme.hasSubjectPublicKeyInfo {
            let der = try #require(publicKey.derRepresentation)
            let pem = try #require(publicKey.pemRepresentation)
            #expect(try SigningPublicKey(derRepresentation: der, scheme: scheme) == publicKey)
            #expect(try SigningPublicKey(pemRepresentation: pem, scheme: scheme) == publicKey)
            #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
            #expect(publicKey.encodedRepresentation == der)
        } else {
            #expect(publicKey.derRepresentation == nil && publicKey.pemRepresentation == nil)
            #expect(publicKey.encodedRepresentation.count == 48)
        }
        #expect(try SigningPublicKey(encodedRepresentation: publicKey.encodedRepresentation, scheme: scheme) == publicKey)
        // The raw form, where the scheme has one.
        if let raw = publicKey.rawRepresentation {
            #expect(try SigningPublicKey(rawRepresentation: raw, scheme: scheme) == publicKey)
            #expect(try SigningPublicKey(encoded: Hex.encode(raw), scheme: scheme) == publicKey)
        } else {
            #expect(scheme.isRSA)
        }
        #expect(try SigningPublicKey(encoded: Hex.encode(publicKey.encodedRepresentation), scheme: scheme) == publicKey)
        // The secret material restores the same key, which signs verifiably.
        let restored = try SigningPrivateKey(secretMaterial: key.secretMaterial, scheme: scheme)
        #expect(restored.publicKey == publicKey)
        let message = Array("custos".utf8)
        let signature = try restored.signature(for: message)
        #expect(try publicKey.isValidSignature(signature.bytes, for: message, format: signature.format))
        #expect(try !publicKey.isValidSignature(signature.bytes, for: message + [1], format: signature.format))
    }

    @Test(arguments: [SignatureScheme.ecdsaP256SHA256, .ecdsaP384SHA384, .ecdsaSecp256k1SHA256])
    func ecdsaRawAndDERFormats(scheme: SignatureScheme) throws {
        let key = try SigningPrivateKey(generating: scheme)
        let message = Array("formats".utf8)
        let raw = try key.signature(for: message, format: .raw)
        let der = try key.signature(for: message, format: .der)
        #expect(raw.bytes.count == (scheme == .ecdsaP384SHA384 ? 96 : 64))
        #expect(der.bytes.first == 0x30)
        #expect(try key.publicKey.isValidSignature(raw.bytes, for: message, format: .raw))
        #expect(try key.publicKey.isValidSignature(der.bytes, for: message, format: .der))
        // Each layout is refused where the other is expected.
        #expect(throws: CustosCryptoError.self) { try key.publicKey.isValidSignature(raw.bytes, for: message, format: .der) }
    }

    @Test func formatIsRefusedForSchemesWithOneLayout() throws {
        let key = try SigningPrivateKey(generating: .ed25519)
        #expect(throws: CustosCryptoError.signatureFormatNotApplicable(.ed25519)) {
            try key.signature(for: [1], format: .der)
        }
        let eth = try SigningPrivateKey(generating: .ecdsaSecp256k1Keccak256)
        #expect(throws: CustosCryptoError.self) { try eth.signature(for: [1], format: .der) }
        #expect(try eth.signature(for: [1], format: .raw).bytes.count == 65)
    }

    @Test func ethereumSignaturesAreLowSAndRecoverable() throws {
        let key = try SigningPrivateKey(generating: .ecdsaSecp256k1Keccak256)
        for index in 0..<20 {
            let message = Array("message \(index)".utf8)
            let signature = try key.signature(for: message).bytes
            #expect(signature.count == 65 && (signature[64] == 27 || signature[64] == 28))
            let recoverable = try Secp256k1.RecoverableSignature(ethereumRepresentation: signature)
            #expect(recoverable.signature.isLowS)
            let recovered = try Secp256k1.PublicKey.recover(from: recoverable, forDigest: Keccak256.hash(data: message))
            #expect(recovered.x963Representation == key.publicKey.rawRepresentation)
            // A flipped recovery id no longer verifies as this key.
            var flipped = signature
            flipped[64] = flipped[64] == 27 ? 28 : 27
            #expect(try !key.publicKey.isValidSignature(flipped, for: message))
        }
    }

    @Test func rsaKeySizes() throws {
        for size in [RSAKeySize.bits2048, .bits3072] {
            let key = try SigningPrivateKey(generating: .rsaPSSSHA256, rsaKeySize: size)
            #expect(key.rsaKeySize == size)
            #expect(try key.signature(for: [1]).bytes.count == size.rawValue / 8)
        }
        #expect(throws: CustosCryptoError.unsupportedKeySize(1024)) { try RSAKeySize(bits: 1024) }
    }

    @Test func fingerprintIsSHA256OverPurposeAndSPKI() throws {
        let key = try SigningPrivateKey(generating: .ed25519).publicKey
        var hasher = SHA256()
        hasher.update(data: [0, 0, 0, 12])
        hasher.update(data: key.derRepresentation!)
        let expected = "1220" + Hex.encode(Array(hasher.finalize()))
        #expect(key.fingerprint.description == expected)
        #expect(key.fingerprint.shortID == String(expected.dropFirst(4).prefix(12)))
        #expect(Fingerprint(string: expected) == key.fingerprint)
        #expect(Fingerprint(string: "1221" + expected.dropFirst(4)) == nil)
    }

    @Test func jwkMatchesTheKey() throws {
        let p256 = P256.Signing.PrivateKey()
        let key = try SigningPublicKey(derRepresentation: p256.publicKey.derRepresentation, scheme: .ecdsaP256SHA256)
        let jwk = key.jwk
        #expect(jwk["kty"] == "EC" && jwk["crv"] == "P-256" && jwk["alg"] == "ES256")
        let x963 = Array(p256.publicKey.x963Representation)
        #expect(jwk["x"] == Base64URL.encode(x963[1...32]) && jwk["y"] == Base64URL.encode(x963[33...64]))
        let ed = try SigningPrivateKey(generating: .ed25519).publicKey
        #expect(ed.jwk["kty"] == "OKP" && ed.jwk["crv"] == "Ed25519" && ed.jwk["x"] == Base64URL.encode(ed.rawRepresentation!))
        let rsa = try SigningPrivateKey(generating: .rsaPKCS1SHA256, rsaKeySize: .bits2048).publicKey
        #expect(rsa.jwk["kty"] == "RSA" && rsa.jwk["e"] == "AQAB" && rsa.jwk["alg"] == "RS256")
    }

    @Test func importsPKCS8FromOtherLibraries() throws {
        // swift-crypto's PKCS#8 PEM for P-256 and P-384, RSA in PKCS#1 and PKCS#8.
        let p256 = P256.Signing.PrivateKey()
        let imported = try SigningPrivateKey(importing: SecretBytes(Array(p256.pemRepresentation.utf8)), scheme: .ecdsaP256SHA256)
        #expect(imported.publicKey.derRepresentation == Array(p256.publicKey.derRepresentation))
        let p384 = P384.Signing.PrivateKey()
        let importedDER = try SigningPrivateKey(importing: SecretBytes(p384.derRepresentation), scheme: .ecdsaP384SHA384)
        #expect(importedDER.publicKey.derRepresentation == Array(p384.publicKey.derRepresentation))
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        for pem in [rsa.pemRepresentation, rsa.pkcs8PEMRepresentation] {
            let key = try SigningPrivateKey(importing: SecretBytes(Array(pem.utf8)), scheme: .rsaPSSSHA256)
            #expect(key.publicKey.derRepresentation == Array(rsa.publicKey.derRepresentation))
        }
    }

    /// A SEC1 key names its curve; a P-256 key must not import as secp256k1 even though
    /// its scalar would be a valid secp256k1 scalar.
    @Test func sec1CurveMustMatchTheScheme() throws {
        let p256 = P256.Signing.PrivateKey()
        let sec1PEM = Array(p256.pemRepresentationSEC1.utf8)
        #expect(throws: CustosCryptoError.keyDoesNotMatchScheme(expected: "ECDSA secp256k1", found: "ECDSA P-256")) {
            try SigningPrivateKey(importing: SecretBytes(sec1PEM), scheme: .ecdsaSecp256k1SHA256)
        }
        let imported = try SigningPrivateKey(importing: SecretBytes(sec1PEM), scheme: .ecdsaP256SHA256)
        #expect(imported.publicKey.derRepresentation == Array(p256.publicKey.derRepresentation))
    }

    /// Bare DER names no format: PKCS#8 is tried first, then SEC1 / PKCS#1.
    @Test func traditionalDERImports() throws {
        let p256 = P256.Signing.PrivateKey()
        let pem = p256.pemRepresentationSEC1
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = try #require(Data(base64Encoded: body, options: .ignoreUnknownCharacters))
        let imported = try SigningPrivateKey(importing: SecretBytes(der), scheme: .ecdsaP256SHA256)
        #expect(imported.publicKey.derRepresentation == Array(p256.publicKey.derRepresentation))
        // Garbage gets a named error, not a library's internal one.
        #expect(throws: CustosCryptoError.malformedDER("PKCS#8 private key is incomplete")) {
            try SigningPrivateKey(importing: SecretBytes([0x30, 0x03, 0x04, 0x01, 0x00]), scheme: .ed25519)
        }
        #expect(throws: CustosCryptoError.malformedDER("AlgorithmIdentifier has an unexpected structure")) {
            try SigningPrivateKey(importing: SecretBytes([0x30, 0x09, 0x02, 0x01, 0x00, 0x04, 0x01, 0x00, 0x04, 0x01, 0x00]), scheme: .ed25519)
        }
        // A PKCS#8 key of another type keeps its precise error.
        #expect(throws: CustosCryptoError.keyDoesNotMatchScheme(expected: "rsa-pss-sha256", found: "ECDSA P-256")) {
            try SigningPrivateKey(importing: SecretBytes(p256.derRepresentation), scheme: .rsaPSSSHA256)
        }
    }

    @Test func badPublicKeysAreNamed() throws {
        #expect(throws: CustosCryptoError.invalidPublicKey("Ed25519 public key must be 32 bytes, got 31")) {
            try SigningPublicKey(rawRepresentation: [UInt8](repeating: 1, count: 31), scheme: .ed25519)
        }
        // A point not on the curve.
        var point = [UInt8](repeating: 0, count: 65)
        point[0] = 4
        point[64] = 7
        #expect(throws: CustosCryptoError.self) { try SigningPublicKey(rawRepresentation: point, scheme: .ecdsaP256SHA256) }
        // A P-256 SPKI offered as P-384.
        let p256 = P256.Signing.PrivateKey().publicKey.derRepresentation
        #expect(throws: CustosCryptoError.keyDoesNotMatchScheme(expected: "ecdsa-p384-sha384", found: "ECDSA P-256")) {
            try SigningPublicKey(derRepresentation: p256, scheme: .ecdsaP384SHA384)
        }
        // Trailing bytes after the SPKI.
        #expect(throws: CustosCryptoError.self) { try SigningPublicKey(derRepresentation: Array(p256) + [0], scheme: .ecdsaP256SHA256) }
        #expect(throws: CustosCryptoError.malformedPEM("found 'CERTIFICATE', expected PUBLIC KEY")) {
            try SigningPublicKey(pemRepresentation: "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----", scheme: .ed25519)
        }
        #expect(throws: CustosCryptoError.self) { try SigningPublicKey(encoded: "zz", scheme: .ed25519) }
    }

    @Test func unknownSchemesAreNamed() throws {
        #expect(throws: CustosCryptoError.unknownScheme("ed448")) { try SignatureScheme(identifier: "ed448") }
        let error = CustosCryptoError.unknownScheme("ed448").description
        #expect(error.contains("ed25519") && error.contains("ml-dsa-65"))
        #expect(try KeyAlgorithm(identifier: "aes-256-gcm") == .symmetric(.aes256GCM))
    }

    @Test(arguments: [(SignatureScheme.ed25519, 63), (.ecdsaSecp256k1Keccak256, 64), (.mlDSA65, 3308), (.rsaPSSSHA256, 255)])
    func wrongLengthSignaturesAreMalformed(scheme: SignatureScheme, length: Int) throws {
        let key = try SigningPrivateKey(generating: scheme, rsaKeySize: .bits2048).publicKey
        #expect(throws: CustosCryptoError.self) {
            try key.isValidSignature([UInt8](repeating: 1, count: length), for: [1])
        }
    }
}

@Suite("Digests, AEAD, key agreement")
struct PrimitiveTests {
    /// Known answers from FIPS 180-4 / FIPS 202 examples ("abc").
    @Test func digestKnownAnswers() {
        let abc = Array("abc".utf8)
        #expect(Hex.encode(DigestAlgorithm.sha256.hash(abc)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(DigestAlgorithm.sha3_256.hash(abc)) == "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        #expect(Hex.encode(DigestAlgorithm.keccak256.hash(abc)) == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
        #expect(Hex.encode(DigestAlgorithm.doubleSHA256.hash(abc)) == "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358")
        #expect(Hex.encode(DigestAlgorithm.sha3_512.hash(abc)).hasPrefix("b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e"))
        for algorithm in DigestAlgorithm.allCases {
            #expect(algorithm.hash(abc).count == algorithm.byteCount)
        }
    }

    @Test func aeadNoncesAreFreshAndTamperingFails() throws {
        let key = AEADKey()
        let first = try key.seal(Array("hello".utf8), associatedData: [1])
        let second = try key.seal(Array("hello".utf8), associatedData: [1])
        #expect(first.prefix(12) != second.prefix(12))
        #expect(try key.open(first, associatedData: [1]).copyBytes() == Array("hello".utf8))
        #expect(throws: CustosCryptoError.authenticationFailed) { try key.open(first, associatedData: [2]) }
        #expect(throws: CustosCryptoError.self) { try key.open(Array(first.prefix(20)), associatedData: [1]) }
        #expect(throws: CustosCryptoError.invalidKeyLength(expected: 32, actual: 16)) { try AEADKey(secretMaterial: SecretBytes(randomCount: 16)) }
    }

    @Test(arguments: KeyAgreementAlgorithm.allCases)
    func keyAgreementIsSymmetric(algorithm: KeyAgreementAlgorithm) throws {
        let alice = KeyAgreementPrivateKey(generating: algorithm)
        let bob = KeyAgreementPrivateKey(generating: algorithm)
        let bobPublic = try KeyAgreementPublicKey(derRepresentation: bob.publicKey.derRepresentation, algorithm: algorithm)
        #expect(try alice.sharedSecret(with: bobPublic).isEqual(to: try bob.sharedSecret(with: alice.publicKey)))
        let other: KeyAgreementAlgorithm = algorithm == .x25519 ? .ecdhP256 : .x25519
        #expect(throws: CustosCryptoError.self) { try alice.sharedSecret(with: KeyAgreementPrivateKey(generating: other).publicKey) }
    }

    @Test func secretBytesCompareInConstantTimeAndZeroize() {
        let a = SecretBytes([1, 2, 3]), b = SecretBytes([1, 2, 3]), c = SecretBytes([1, 2, 4])
        #expect(a.isEqual(to: b) && !a.isEqual(to: c) && !a.isEqual(to: SecretBytes([1, 2])))
        var scratch: [UInt8] = [9, 9, 9]
        SecretBytes.zeroize(&scratch)
        #expect(scratch.isEmpty)
        var buffer: [UInt8] = [5, 5, 5]
        buffer.withUnsafeMutableBytes { SecretBytes.zeroize($0) }
        #expect(buffer == [0, 0, 0])
    }

    @Test func hexEncodesEveryByteAsFoundationFormatsIt() {
        let every = (0...255).map { UInt8($0) }
        #expect(Hex.encode(every) == every.map { String(format: "%02x", $0) }.joined())
        #expect(Hex.encode(every[250...]) == "fafbfcfdfeff")
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.decode(Hex.encode(every)) == every)
    }

    @Test func hexRejectsBadInput() {
        #expect(Hex.decode("0x0aFF") == [0x0a, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test func batchVerifierGivesOneResultPerLine() throws {
        let key = try SigningPrivateKey(generating: .ed25519)
        let signature = try key.signature(for: [1, 2]).bytes
        let publicKey = Hex.encode(key.publicKey.rawRepresentation!)
        let good = #"{"id":"a","scheme":"ed25519","public_key":"\#(publicKey)","message":"0102","signature":"\#(Hex.encode(signature))"}"#
        let bad = #"{"id":7,"scheme":"ed25519","public_key":"\#(publicKey)","message":"0103","signature":"\#(Hex.encode(signature))"}"#
        let unknown = #"{"id":"c","scheme":"ed448","public_key":"00","message":"","signature":""}"#
        let results = [good, bad, unknown, "not json"].map { BatchVerifier.verify(line: Array($0.utf8)) }
        #expect(results[0] == .init(id: "a", valid: true, error: nil))
        #expect(results[1] == .init(id: "7", valid: false, error: nil))
        #expect(results[2].id == "c" && results[2].valid == false && results[2].error?.contains("unknown scheme") == true)
        #expect(results[3].id == nil && results[3].error == "line is not a JSON object")
        #expect(results[0].jsonLine == #"{"id":"a","valid":true}"#)
    }
}

extension P256.Signing.PrivateKey {
    /// RFC 5915 `EC PRIVATE KEY` with the named curve in `[0]`, as `openssl ec` writes it.
    var pemRepresentationSEC1: String {
        let scalar = Array(rawRepresentation)
        let point = Array(publicKey.x963Representation)
        let der: [UInt8] = [0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20] + scalar
            + [0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
            + [0xa1, 0x44, 0x03, 0x42, 0x00] + point
        return "-----BEGIN EC PRIVATE KEY-----\n" + Data(der).base64EncodedString(options: .lineLength64Characters) + "\n-----END EC PRIVATE KEY-----\n"
    }
}
