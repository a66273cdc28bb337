import Crypto
import Foundation
import Testing

@testable import CustosCrypto

/// Project Wycheproof vectors (`vectors/wycheproof`): every `valid` case must be
/// accepted and every `invalid` one rejected. `acceptable` cases (legal but unusual
/// inputs) are handled per file as documented in `docs/crypto.md`: either rejected, or
/// accepted with exactly the expected result.
@Suite("Wycheproof")
struct WycheproofTests {
    struct Case {
        var group: [String: Any]
        var test: [String: Any]
        var id: Int { test["tcId"] as? Int ?? -1 }
        var result: String { test["result"] as? String ?? "" }
        func hex(_ name: String) -> [UInt8] { [UInt8](hex: test[name] as? String ?? "") }
    }

    static func cases(_ file: String) throws -> [Case] {
        let root = try #require(try TestVectors.json("wycheproof/\(file)") as? [String: Any])
        let groups = try #require(root["testGroups"] as? [[String: Any]])
        return groups.flatMap { group in
            (group["tests"] as? [[String: Any]] ?? []).map { Case(group: group, test: $0) }
        }
    }

    /// Runs `accepts` on each case and returns the ids that disagree with the vector.
    /// `accepts` returns nil for a case outside what Custos offers (counted as "n/a").
    static func check(_ file: String, acceptable: AcceptablePolicy = .eitherButCorrect,
                      accepts: (Case) throws -> Bool?) throws -> (failures: [Int], counts: [String: Int]) {
        var failures: [Int] = []
        var counts: [String: Int] = [:]
        for item in try cases(file) {
            let outcome: Bool?
            do { outcome = try accepts(item) } catch { outcome = false }
            guard let accepted = outcome else {
                counts["n/a", default: 0] += 1
                continue
            }
            counts[item.result, default: 0] += 1
            switch item.result {
            case "valid": if !accepted { failures.append(item.id) }
            case "invalid": if accepted { failures.append(item.id) }
            default:
                if acceptable == .reject && accepted { failures.append(item.id) }
            }
        }
        return (failures, counts)
    }

    enum AcceptablePolicy { case reject, eitherButCorrect }

    @Test func ed25519() throws {
        let (failures, counts) = try Self.check("ed25519_test.json") { item in
            let pk = try #require((item.group["publicKey"] as? [String: Any])?["pk"] as? String)
            let key = try SigningPublicKey(rawRepresentation: [UInt8](hex: pk), scheme: .ed25519)
            return try key.isValidSignature(item.hex("sig"), for: item.hex("msg"))
        }
        #expect(failures.isEmpty, "Ed25519 disagreements: \(failures)")
        #expect(counts["valid", default: 0] > 50 && counts["invalid", default: 0] > 50)
    }

    @Test(arguments: [("ecdsa_secp256r1_sha256_test.json", SignatureScheme.ecdsaP256SHA256),
                      ("ecdsa_secp384r1_sha384_test.json", SignatureScheme.ecdsaP384SHA384),
                      ("ecdsa_secp256k1_sha256_test.json", SignatureScheme.ecdsaSecp256k1SHA256)])
    func ecdsaDER(file: String, scheme: SignatureScheme) throws {
        let (failures, counts) = try Self.check(file) { item in
            let der = [UInt8](hex: try #require(item.group["publicKeyDer"] as? String))
            let key = try SigningPublicKey(derRepresentation: der, scheme: scheme)
            // The SPKI and the uncompressed point must describe the same key.
            let point = [UInt8](hex: try #require((item.group["publicKey"] as? [String: Any])?["uncompressed"] as? String))
            guard try SigningPublicKey(rawRepresentation: point, scheme: scheme) == key else { return false }
            return try key.isValidSignature(item.hex("sig"), for: item.hex("msg"), format: .der)
        }
        #expect(failures.isEmpty, "\(file) disagreements: \(failures)")
        #expect(counts["valid", default: 0] > 100 && counts["invalid", default: 0] > 250)
    }

    @Test func rsaPSS() throws {
        let (failures, counts) = try Self.check("rsa_pss_2048_sha256_mgf1_32_test.json") { item in
            let der = [UInt8](hex: try #require(item.group["publicKeyDer"] as? String))
            let key = try SigningPublicKey(derRepresentation: der, scheme: .rsaPSSSHA256)
            return try key.isValidSignature(item.hex("sig"), for: item.hex("msg"))
        }
        #expect(failures.isEmpty, "RSA-PSS disagreements: \(failures)")
        #expect(counts["valid", default: 0] > 50 && counts["invalid", default: 0] > 40)
    }

    /// The one `acceptable` case (an AlgorithmIdentifier without NULL inside the
    /// DigestInfo) is rejected: Custos accepts only the canonical PKCS#1 v1.5 encoding.
    @Test func rsaPKCS1() throws {
        let (failures, counts) = try Self.check("rsa_signature_2048_sha256_test.json", acceptable: .reject) { item in
            let der = [UInt8](hex: try #require(item.group["publicKeyDer"] as? String))
            let key = try SigningPublicKey(derRepresentation: der, scheme: .rsaPKCS1SHA256)
            return try key.isValidSignature(item.hex("sig"), for: item.hex("msg"))
        }
        #expect(failures.isEmpty, "RSA PKCS#1 disagreements: \(failures)")
        #expect(counts["valid", default: 0] >= 9 && counts["invalid", default: 0] > 200)
    }

    /// Custos's AES-256-GCM keys are 256-bit with 96-bit nonces and 128-bit tags; the
    /// groups with those sizes are run through seal and open, the others must be
    /// refused by the key or nonce length checks.
    @Test func aesGCM() throws {
        var exercised = 0
        let (failures, _) = try Self.check("aes_gcm_test.json") { item in
            let keyBytes = item.hex("key"), iv = item.hex("iv")
            guard keyBytes.count == 32 else {
                #expect(throws: CustosCryptoError.self) { try AEADKey(secretMaterial: SecretBytes(keyBytes)) }
                return nil
            }
            let key = try AEADKey(secretMaterial: SecretBytes(keyBytes))
            guard iv.count == 12 else { return nil }
            let expected = iv + item.hex("ct") + item.hex("tag")
            exercised += 1
            let opened = try key.open(expected, associatedData: item.hex("aad"))
            guard opened.copyBytes() == item.hex("msg") else { return false }
            let sealed = try key.seal(item.hex("msg"), nonce: AES.GCM.Nonce(data: iv), associatedData: item.hex("aad"))
            return sealed == expected
        }
        #expect(failures.isEmpty, "AES-GCM disagreements: \(failures)")
        #expect(exercised > 40)
    }

    /// The three `acceptable` cases wrap an 8-byte key; Custos requires at least 16.
    @Test func aesKeyWrap() throws {
        let (failures, counts) = try Self.check("aes_wrap_test.json", acceptable: .reject) { item in
            let kek = SecretBytes(item.hex("key"))
            let unwrapped = try KeyWrap.unwrap(item.hex("ct"), with: kek)
            guard unwrapped.copyBytes() == item.hex("msg") else { return false }
            return try KeyWrap.wrap(SecretBytes(item.hex("msg")), with: kek) == item.hex("ct")
        }
        #expect(failures.isEmpty, "AES key wrap disagreements: \(failures)")
        #expect(counts["valid", default: 0] > 30 && counts["invalid", default: 0] > 100)
    }

    @Test func hmacSHA256() throws {
        var exercised = 0
        let (failures, _) = try Self.check("hmac_sha256_test.json") { item in
            let keyBytes = item.hex("key")
            guard keyBytes.count >= 16 else {
                // Keys under 128 bits are refused outright.
                #expect(throws: CustosCryptoError.self) { try MACKey(secretMaterial: SecretBytes(keyBytes), algorithm: .hmacSHA256) }
                return nil
            }
            exercised += 1
            let key = try MACKey(secretMaterial: SecretBytes(keyBytes), algorithm: .hmacSHA256)
            let tag = item.hex("tag")
            let mac = key.authenticationCode(for: item.hex("msg"))
            if tag.count == 32 { return key.isValidAuthenticationCode(tag, for: item.hex("msg")) }
            return ConstantTime.equals(Array(mac.prefix(tag.count)), tag)
        }
        #expect(failures.isEmpty, "HMAC-SHA256 disagreements: \(failures)")
        #expect(exercised > 100)
    }

    @Test func hkdfSHA256() throws {
        let (failures, _) = try Self.check("hkdf_sha256_test.json") { item in
            let size = try #require(item.test["size"] as? Int)
            let okm = try KeyDerivation.hkdfSHA256(inputKeyMaterial: SecretBytes(item.hex("ikm")), salt: item.hex("salt"),
                                                   info: item.hex("info"), outputByteCount: size)
            return okm.copyBytes() == item.hex("okm")
        }
        #expect(failures.isEmpty, "HKDF disagreements: \(failures)")
    }

    /// `acceptable` cases (compressed points and the like) may be refused; if accepted,
    /// the shared secret must be the expected one.
    @Test func ecdhP256() throws {
        var acceptedUnusual = 0
        let (failures, counts) = try Self.check("ecdh_secp256r1_test.json") { item in
            var scalar = item.hex("private")
            while scalar.count > 32, scalar.first == 0 { scalar.removeFirst() }
            scalar = [UInt8](repeating: 0, count: max(0, 32 - scalar.count)) + scalar
            let privateKey = try KeyAgreementPrivateKey(secretMaterial: SecretBytes(scalar), algorithm: .ecdhP256)
            let peer = try KeyAgreementPublicKey(derRepresentation: item.hex("public"), algorithm: .ecdhP256)
            let shared = try privateKey.sharedSecret(with: peer).copyBytes()
            if item.result == "acceptable" {
                acceptedUnusual += 1
                #expect(shared == item.hex("shared"), "acceptable case \(item.id) accepted with a wrong secret")
            }
            return shared == item.hex("shared")
        }
        #expect(failures.isEmpty, "ECDH P-256 disagreements: \(failures)")
        #expect(counts["valid", default: 0] > 300)
    }

    @Test func x25519() throws {
        let (failures, counts) = try Self.check("x25519_test.json") { item in
            let privateKey = try KeyAgreementPrivateKey(secretMaterial: SecretBytes(item.hex("private")), algorithm: .x25519)
            let peer = try KeyAgreementPublicKey(rawRepresentation: item.hex("public"), algorithm: .x25519)
            let shared = try privateKey.sharedSecret(with: peer).copyBytes()
            if item.result == "acceptable" {
                #expect(shared == item.hex("shared"), "acceptable case \(item.id) accepted with a wrong secret")
            }
            return shared == item.hex("shared")
        }
        #expect(failures.isEmpty, "X25519 disagreements: \(failures)")
        #expect(counts["valid", default: 0] > 200)
    }
}
