import Testing
@testable import BLS12381

private func cases(_ key: String) throws -> [[String: Any]] {
    let doc = try Vectors.json("bls/bls12381_pop.json")
    return doc[key] as! [[String: Any]]
}

/// Verification helper that treats a malformed key or signature as "invalid".
private func verifies(pubkey: String, message: String, signature: String) -> Bool {
    guard let pk = try? BLS12381.PublicKey(compressedRepresentation: hexBytes(pubkey)),
          let sig = try? BLS12381.Signature(compressedRepresentation: hexBytes(signature)) else { return false }
    return pk.isValidSignature(sig, for: hexBytes(message))
}

@Suite struct BLSVectorTests {
    @Test func ciphersuite() throws {
        let doc = try Vectors.json("bls/bls12381_pop.json")
        #expect(doc["ciphersuite"] as? String == BLS12381.ciphersuiteID)
        #expect(doc["pop_ciphersuite"] as? String == BLS12381.proofOfPossessionCiphersuiteID)
    }

    @Test func keygen() throws {
        let all = try cases("keygen")
        #expect(all.count == 8)
        for c in all {
            let sk = try BLS12381.PrivateKey(ikm: hexBytes(c["ikm"] as! String))
            #expect(hexString(sk.rawRepresentation) == c["sk"] as! String)
            #expect(hexString(sk.publicKey.compressedRepresentation) == c["pk"] as! String)
        }
    }

    @Test func sign() throws {
        let all = try cases("sign")
        #expect(all.count == 9)
        for c in all {
            let sk = try BLS12381.PrivateKey(rawRepresentation: hexBytes(c["sk"] as! String))
            let sig = sk.signature(for: hexBytes(c["message"] as! String))
            #expect(hexString(sig.compressedRepresentation) == c["signature"] as! String)
        }
    }

    @Test func verify() throws {
        let all = try cases("verify")
        #expect(all.count == 13)
        for c in all {
            let ok = verifies(pubkey: c["pubkey"] as! String, message: c["message"] as! String, signature: c["signature"] as! String)
            #expect(ok == (c["valid"] as! Bool), "\(c["why"] ?? "valid case")")
        }
    }

    @Test func aggregate() throws {
        let all = try cases("aggregate")
        #expect(all.count == 3)
        for c in all {
            let sigs = try (c["signatures"] as! [String]).map { try BLS12381.Signature(compressedRepresentation: hexBytes($0)) }
            let agg = try BLS12381.aggregate(sigs)
            #expect(hexString(agg.compressedRepresentation) == c["aggregate"] as! String)
        }
    }

    @Test func fastAggregateVerify() throws {
        let all = try cases("fast_aggregate_verify")
        #expect(all.count == 8)
        for c in all {
            let keys = try (c["pubkeys"] as! [String]).map { try BLS12381.PublicKey(compressedRepresentation: hexBytes($0)) }
            let sig = try BLS12381.Signature(compressedRepresentation: hexBytes(c["signature"] as! String))
            let ok = BLS12381.fastAggregateVerify(sig, for: hexBytes(c["message"] as! String), publicKeys: keys)
            #expect(ok == (c["valid"] as! Bool), "\(c["why"] ?? "valid case")")
        }
    }

    @Test func aggregateVerify() throws {
        let all = try cases("aggregate_verify")
        #expect(all.count == 2)
        for c in all {
            let keys = try (c["pubkeys"] as! [String]).map { try BLS12381.PublicKey(compressedRepresentation: hexBytes($0)) }
            let msgs = (c["messages"] as! [String]).map(hexBytes)
            let sig = try BLS12381.Signature(compressedRepresentation: hexBytes(c["signature"] as! String))
            #expect(BLS12381.aggregateVerify(sig, messages: msgs, publicKeys: keys) == (c["valid"] as! Bool), "\(c["why"] ?? "valid case")")
        }
    }

    @Test func proofOfPossession() throws {
        let proofs = try cases("pop")
        #expect(proofs.count == 3)
        for c in proofs {
            let sk = try BLS12381.PrivateKey(rawRepresentation: hexBytes(c["sk"] as! String))
            #expect(hexString(sk.publicKey.compressedRepresentation) == c["pubkey"] as! String)
            #expect(hexString(sk.proofOfPossession().compressedRepresentation) == c["proof"] as! String)
        }
        let checks = try cases("pop_verify")
        #expect(checks.count == 9)
        for c in checks {
            let pk = try BLS12381.PublicKey(compressedRepresentation: hexBytes(c["pubkey"] as! String))
            let ok = (try? BLS12381.ProofOfPossession(compressedRepresentation: hexBytes(c["proof"] as! String))).map(pk.isValidProofOfPossession) ?? false
            #expect(ok == (c["valid"] as! Bool), "\(c["why"] ?? "valid case")")
        }
    }

    @Test func deserializationG1() throws {
        let all = try cases("deserialization_g1")
        #expect(all.count == 9)
        for c in all {
            let bytes = hexBytes(c["bytes"] as! String)
            var decoded = false
            if let p = try? G1Affine(compressed: bytes), p.isIdentity || G1Projective(p).isInSubgroup { decoded = true }
            #expect(decoded == (c["valid"] as! Bool), "\(c["why"] ?? c["note"] ?? "valid case")")
            // KeyValidate additionally rejects the identity.
            let asKey = (try? BLS12381.PublicKey(compressedRepresentation: bytes)) != nil
            #expect(asKey == (decoded && !(bytes.first.map { $0 & 0x40 != 0 } ?? false)))
        }
    }

    @Test func deserializationG2() throws {
        let all = try cases("deserialization_g2")
        #expect(all.count == 5)
        for c in all {
            let ok = (try? BLS12381.Signature(compressedRepresentation: hexBytes(c["bytes"] as! String))) != nil
            #expect(ok == (c["valid"] as! Bool), "\(c["why"] ?? c["note"] ?? "valid case")")
        }
    }
}
