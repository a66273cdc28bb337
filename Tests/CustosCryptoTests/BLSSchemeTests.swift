import Foundation
import Testing

@testable import CustosCrypto

/// `bls12381-pop` as a Custos scheme: typed keys, the batch verifier's BLS forms, and
/// rogue-key protection, checked against the py_ecc vectors in `vectors/bls`.
@Suite("bls12381-pop scheme")
struct BLSSchemeTests {
    static func vectors() throws -> [String: Any] {
        try #require(try TestVectors.json("bls/bls12381_pop.json") as? [String: Any])
    }

    static func line(_ object: [String: Any]) -> BatchVerifier.Result {
        let data = try! JSONSerialization.data(withJSONObject: object)
        return BatchVerifier.verify(line: data)
    }

    @Test func batchVerifyAgreesWithPublishedVectors() throws {
        let vectors = try Self.vectors()
        var checked = 0
        for case let item as [String: Any] in vectors["verify"] as? [Any] ?? [] {
            let result = Self.line(["id": "v", "scheme": "bls12381-pop", "public_key": item["pubkey"]!, "message": item["message"]!, "signature": item["signature"]!])
            #expect(result.valid == (item["valid"] as? Bool), "verify vector \(item)")
            checked += 1
        }
        for case let item as [String: Any] in vectors["pop_verify"] as? [Any] ?? [] {
            let result = Self.line(["id": "p", "scheme": "bls12381-pop", "public_key": item["pubkey"]!, "proof_of_possession": item["proof"]!])
            #expect(result.valid == (item["valid"] as? Bool), "pop_verify vector \(item)")
            checked += 1
        }
        // The published AggregateVerify vectors carry no proofs of possession, so the batch
        // verifier refuses them (the bare pairing check is tested in BLS12381Tests).
        for case let item as [String: Any] in vectors["aggregate_verify"] as? [Any] ?? [] {
            let result = Self.line(["id": "a", "scheme": "bls12381-pop", "public_keys": item["pubkeys"]!, "messages": item["messages"]!, "signature": item["signature"]!])
            #expect(!result.valid && result.error?.contains("proof of possession") == true, "aggregate_verify vector \(item)")
            checked += 1
        }
        // FastAggregateVerify needs a proof per key: use the cases whose keys all have
        // a published proof.
        var proofs: [String: String] = [:]
        for case let item as [String: Any] in vectors["pop"] as? [Any] ?? [] {
            proofs[item["pubkey"] as! String] = item["proof"] as? String
        }
        var fastChecked = 0
        for case let item as [String: Any] in vectors["fast_aggregate_verify"] as? [Any] ?? [] {
            let keys = item["pubkeys"] as? [String] ?? []
            guard !keys.isEmpty, keys.allSatisfy({ proofs[$0] != nil }) else { continue }
            let result = Self.line(["id": "f", "scheme": "bls12381-pop", "public_keys": keys, "proofs_of_possession": keys.map { proofs[$0]! },
                                    "message": item["message"]!, "signature": item["signature"]!])
            #expect(result.valid == (item["valid"] as? Bool), "fast_aggregate_verify vector \(item): \(result)")
            fastChecked += 1
        }
        #expect(checked >= 20 && fastChecked >= 1)
    }

    @Test func fastAggregateRefusesMissingBadOrDuplicateProofs() throws {
        let keys = try (0..<3).map { _ in try SigningPrivateKey(generating: .bls12381Pop) }
        let message = Array("checkpoint 7".utf8)
        let signatures = try keys.map { try $0.signature(for: message).bytes }
        let aggregate = try BLSTestSupport.aggregate(signatures)
        let publicKeys = keys.map { Hex.encode($0.publicKey.encodedRepresentation) }
        let proofs = try keys.map { Hex.encode(try $0.proofOfPossession()) }
        let base: [String: Any] = ["id": "q", "scheme": "bls12381-pop", "public_keys": publicKeys, "message": Hex.encode(message), "signature": Hex.encode(aggregate)]
        var good = base
        good["proofs_of_possession"] = proofs
        #expect(Self.line(good) == .init(id: "q", valid: true, error: nil))
        let missing = Self.line(base)
        #expect(!missing.valid && missing.error?.contains("proof of possession") == true)
        var swapped = good
        swapped["proofs_of_possession"] = [proofs[1], proofs[0], proofs[2]]
        let bad = Self.line(swapped)
        #expect(!bad.valid && bad.error?.contains("public key 0 has an invalid proof of possession") == true)
        var duplicated = good
        duplicated["public_keys"] = [publicKeys[0], publicKeys[0], publicKeys[2]]
        duplicated["proofs_of_possession"] = [proofs[0], proofs[0], proofs[2]]
        let duplicate = Self.line(duplicated)
        #expect(!duplicate.valid && duplicate.error?.contains("duplicate signer") == true)
        // A signer left out no longer matches the aggregate.
        var partial = good
        partial["public_keys"] = Array(publicKeys.prefix(2))
        partial["proofs_of_possession"] = Array(proofs.prefix(2))
        #expect(Self.line(partial) == .init(id: "q", valid: false, error: nil))
    }

    /// The rogue-key attack on AggregateVerify: with keys [pk_v, -pk_v, pk_a] over one message
    /// the victim's terms cancel, so the attacker's own signature is a valid aggregate for a
    /// verifier that checks only the pairing equation.
    @Test func aggregateVerifyRefusesTheRogueKeyAttack() throws {
        let victim = try SigningPrivateKey(generating: .bls12381Pop)
        let attacker = try SigningPrivateKey(generating: .bls12381Pop)
        let message = Array("transfer 1000".utf8)
        let victimKey = victim.publicKey.encodedRepresentation
        var negated = victimKey
        negated[0] ^= 0x20 // the sign of y in the compressed form: -pk_v
        let attackerSignature = try attacker.signature(for: message).bytes
        let keys = [victimKey, negated, attacker.publicKey.encodedRepresentation].map(Hex.encode)
        let messages = Array(repeating: Hex.encode(message), count: 3)
        // The inputs really are a valid aggregate for a bare pairing check.
        let bare = try keys.map { try BLS12381.PublicKey(compressedRepresentation: Hex.decode($0)!) }
        #expect(BLS12381.aggregateVerify(try BLS12381.Signature(compressedRepresentation: attackerSignature),
                                         messages: [message, message, message], publicKeys: bare))

        let attack: [String: Any] = ["id": "rogue", "scheme": "bls12381-pop", "public_keys": keys, "messages": messages,
                                     "signature": Hex.encode(attackerSignature)]
        let noProofs = Self.line(attack)
        #expect(!noProofs.valid && noProofs.error?.contains("proof of possession") == true, "\(noProofs)")
        // The victim's real proof is public; no proof exists for -pk_v, so reusing one fails.
        var withProofs = attack
        let victimProof = Hex.encode(try victim.proofOfPossession())
        withProofs["proofs_of_possession"] = [victimProof, victimProof, Hex.encode(try attacker.proofOfPossession())]
        let refused = Self.line(withProofs)
        #expect(!refused.valid && refused.error != nil, "\(refused)")
    }

    @Test func aggregateVerifyNeedsProofsAndDistinctMessages() throws {
        let keys = try (0..<3).map { _ in try SigningPrivateKey(generating: .bls12381Pop) }
        let messages = (0..<3).map { Array("block \($0)".utf8) }
        let aggregate = try BLSTestSupport.aggregate(zip(keys, messages).map { try $0.signature(for: $1).bytes })
        let proofs = try keys.map { Hex.encode(try $0.proofOfPossession()) }
        var good: [String: Any] = ["id": "a", "scheme": "bls12381-pop", "public_keys": keys.map { Hex.encode($0.publicKey.encodedRepresentation) },
                                   "messages": messages.map(Hex.encode), "signature": Hex.encode(aggregate), "proofs_of_possession": proofs]
        #expect(Self.line(good) == .init(id: "a", valid: true, error: nil))
        var swapped = good
        swapped["proofs_of_possession"] = [proofs[1], proofs[0], proofs[2]]
        let badProof = Self.line(swapped)
        #expect(!badProof.valid && badProof.error?.contains("public key 0 has an invalid proof of possession") == true, "\(badProof)")
        var short = good
        short["proofs_of_possession"] = Array(proofs.prefix(2))
        let missing = Self.line(short)
        #expect(!missing.valid && missing.error?.contains("proof of possession") == true)
        // Two keys over one message: a valid aggregate, but the documented form needs distinct messages.
        let same = Array("same".utf8)
        let sameAggregate = try BLSTestSupport.aggregate([keys[0].signature(for: same).bytes, keys[1].signature(for: same).bytes])
        good["public_keys"] = Array((good["public_keys"] as! [String]).prefix(2))
        good["proofs_of_possession"] = Array(proofs.prefix(2))
        good["messages"] = [Hex.encode(same), Hex.encode(same)]
        good["signature"] = Hex.encode(sameAggregate)
        let repeated = Self.line(good)
        #expect(!repeated.valid && repeated.error?.contains("distinct") == true, "\(repeated)")
    }

    @Test func keysSignVerifyAndRefuseForeignForms() throws {
        let key = try SigningPrivateKey(generating: .bls12381Pop)
        let signature = try key.signature(for: [1, 2, 3])
        #expect(signature.bytes.count == 96)
        #expect(try key.publicKey.isValidSignature(signature.bytes, for: [1, 2, 3]))
        #expect(try !key.publicKey.isValidSignature(signature.bytes, for: [1, 2, 4]))
        #expect(try key.publicKey.isValidProofOfPossession(try key.proofOfPossession()))
        // A proof is not a signature over the key under the message DST.
        #expect(try !key.publicKey.isValidSignature(try key.proofOfPossession(), for: key.publicKey.encodedRepresentation))
        #expect(throws: CustosCryptoError.self) { try key.publicKey.isValidSignature(Array(signature.bytes.dropLast()), for: [1, 2, 3]) }
        #expect(throws: CustosCryptoError.self) { try SigningPrivateKey(generating: .ed25519).proofOfPossession() }
        #expect(throws: CustosCryptoError.self) { try SigningPrivateKey(importing: SecretBytes([1, 2, 3]), scheme: .bls12381Pop) }
        // The identity point (0xc0 followed by zeros) is not a public key.
        #expect(throws: CustosCryptoError.self) {
            try SigningPublicKey(rawRepresentation: [0xc0] + [UInt8](repeating: 0, count: 47), scheme: .bls12381Pop)
        }
        #expect(key.publicKey.jwk["crv"] == "BLS12381G1")
    }
}

import BLS12381

enum BLSTestSupport {
    static func aggregate(_ signatures: [[UInt8]]) throws -> [UInt8] {
        try BLS12381.aggregate(signatures.map { try BLS12381.Signature(compressedRepresentation: $0) }).compressedRepresentation
    }
}
