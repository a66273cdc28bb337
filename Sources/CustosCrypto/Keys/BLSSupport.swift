import BLS12381
import Foundation

/// Parsing of BLS12-381 values with errors in the module's vocabulary, and the
/// multi-key checks that need more than one public key.
enum BLSSupport {
    static func signature(_ bytes: [UInt8]) throws -> BLS12381.Signature {
        guard bytes.count == BLS12381.signatureByteCount else {
            throw CustosCryptoError.malformedSignature("BLS12-381 signature must be 96 bytes (compressed G2), got \(bytes.count)")
        }
        do {
            return try BLS12381.Signature(compressedRepresentation: bytes)
        } catch {
            throw CustosCryptoError.malformedSignature("BLS12-381 signature rejected: \(error)")
        }
    }

    static func proof(_ bytes: [UInt8]) throws -> BLS12381.ProofOfPossession {
        guard bytes.count == BLS12381.signatureByteCount else {
            throw CustosCryptoError.malformedSignature("BLS12-381 proof of possession must be 96 bytes, got \(bytes.count)")
        }
        do {
            return try BLS12381.ProofOfPossession(compressedRepresentation: bytes)
        } catch {
            throw CustosCryptoError.malformedSignature("BLS12-381 proof of possession rejected: \(error)")
        }
    }
}

/// BLS12-381 aggregates: combining signatures, and verifying over several keys.
public enum BLSAggregation {
    /// Aggregate: the sum of the signatures (each checked to be a valid G2 point in
    /// the subgroup). The order of the inputs does not matter.
    public static func aggregate(_ signatures: [[UInt8]]) throws -> [UInt8] {
        guard !signatures.isEmpty else { throw CustosCryptoError.malformedSignature("nothing to aggregate") }
        let parsed = try signatures.enumerated().map { index, bytes in
            do {
                return try BLSSupport.signature(bytes)
            } catch let CustosCryptoError.malformedSignature(reason) {
                throw CustosCryptoError.malformedSignature("signature \(index): \(reason)")
            }
        }
        do {
            return try BLS12381.aggregate(parsed).compressedRepresentation
        } catch {
            throw CustosCryptoError.operationFailed("BLS aggregation failed: \(error)")
        }
    }

    /// FastAggregateVerify: one message signed by every key. Each key must come with a
    /// valid proof of possession and appear once, so no rogue key can cancel the others.
    public static func fastAggregateVerify(signature: [UInt8], message: [UInt8],
                                           publicKeys: [SigningPublicKey], proofsOfPossession: [[UInt8]]) throws -> Bool {
        let keys = try provenKeys(publicKeys, proofsOfPossession, form: "fast aggregate verification")
        return BLS12381.fastAggregateVerify(try BLSSupport.signature(signature), for: message, publicKeys: keys)
    }

    /// AggregateVerify: each key signed its own, distinct message. Every key needs a valid
    /// proof of possession too: without one, keys [pk_v, -pk_v, pk_a] over one message make
    /// the attacker's own signature verify as everyone's.
    public static func aggregateVerify(signature: [UInt8], messages: [[UInt8]], publicKeys: [SigningPublicKey],
                                       proofsOfPossession: [[UInt8]]) throws -> Bool {
        let keys = try provenKeys(publicKeys, proofsOfPossession, form: "aggregate verification")
        guard messages.count == keys.count else {
            throw CustosCryptoError.invalidPublicKey("aggregate verification needs one message per public key: \(keys.count) keys, \(messages.count) messages")
        }
        var seen: [[UInt8]: Int] = [:]
        for (index, message) in messages.enumerated() {
            if let first = seen.updateValue(index, forKey: message) {
                throw CustosCryptoError.invalidPublicKey("aggregate verification needs distinct messages: message \(index) repeats message \(first)")
            }
        }
        return BLS12381.aggregateVerify(try BLSSupport.signature(signature), messages: messages, publicKeys: keys)
    }

    /// The keys, once each is shown to have a valid proof of possession (rogue-key protection).
    private static func provenKeys(_ publicKeys: [SigningPublicKey], _ proofs: [[UInt8]], form: String) throws -> [BLS12381.PublicKey] {
        let keys = try blsKeys(publicKeys)
        guard proofs.count == keys.count else {
            throw CustosCryptoError.invalidPublicKey(
                "\(form) needs one proof of possession per public key (rogue-key protection): \(keys.count) keys, \(proofs.count) proofs")
        }
        for (index, (key, proof)) in zip(keys, proofs).enumerated() where !key.isValidProofOfPossession(try BLSSupport.proof(proof)) {
            throw CustosCryptoError.invalidPublicKey("public key \(index) has an invalid proof of possession")
        }
        return keys
    }

    private static func blsKeys(_ publicKeys: [SigningPublicKey]) throws -> [BLS12381.PublicKey] {
        guard !publicKeys.isEmpty else { throw CustosCryptoError.invalidPublicKey("an aggregate needs at least one public key") }
        let keys = try publicKeys.map { key -> BLS12381.PublicKey in
            guard let bls = key.blsPublicKey else {
                throw CustosCryptoError.keyDoesNotMatchScheme(expected: SignatureScheme.bls12381Pop.rawValue, found: key.scheme.rawValue)
            }
            return bls
        }
        guard Set(keys).count == keys.count else {
            throw CustosCryptoError.invalidPublicKey("the same public key appears twice (duplicate signer)")
        }
        return keys
    }
}
