import Crypto
import _CryptoExtras

extension SigningPublicKey {
    /// The public key as a JSON Web Key (RFC 7517/7518/8037/8812; ML-DSA per
    /// draft-ietf-cose-dilithium), with `kid` set to the fingerprint.
    public var jwk: [String: String] {
        var jwk: [String: String] = ["kid": fingerprint.description, "use": "sig"]
        func ecCoordinates(_ x963: [UInt8], curve: String) {
            let size = (x963.count - 1) / 2
            jwk["kty"] = "EC"
            jwk["crv"] = curve
            jwk["x"] = Base64URL.encode(x963[1...size])
            jwk["y"] = Base64URL.encode(x963[(size + 1)...])
        }
        switch backing {
        case .ed25519(let key):
            jwk["kty"] = "OKP"; jwk["crv"] = "Ed25519"; jwk["alg"] = "EdDSA"
            jwk["x"] = Base64URL.encode(key.rawRepresentation)
        case .p256(let key):
            ecCoordinates(Array(key.x963Representation), curve: "P-256"); jwk["alg"] = "ES256"
        case .p384(let key):
            ecCoordinates(Array(key.x963Representation), curve: "P-384"); jwk["alg"] = "ES384"
        case .secp256k1(let key):
            ecCoordinates(key.x963Representation, curve: "secp256k1")
            jwk["alg"] = scheme == .ecdsaSecp256k1SHA256 ? "ES256K" : "ES256K-R"
        case .rsa(let key):
            jwk["kty"] = "RSA"
            jwk["alg"] = scheme == .rsaPSSSHA256 ? "PS256" : "RS256"
            if let primitives = try? key.getKeyPrimitives() {
                jwk["n"] = Base64URL.encode(primitives.modulus.drop { $0 == 0 })
                jwk["e"] = Base64URL.encode(primitives.publicExponent.drop { $0 == 0 })
            }
        case .mlDSA65(let key):
            jwk["kty"] = "AKP"; jwk["alg"] = "ML-DSA-65"
            jwk["pub"] = Base64URL.encode(key.rawRepresentation)
        case .bls12381(let key):
            // draft-ietf-cose-bls-key-representations: OKP on BLS12381G1, compressed point.
            jwk["kty"] = "OKP"; jwk["crv"] = "BLS12381G1"
            jwk["x"] = Base64URL.encode(key.compressedRepresentation)
        }
        return jwk
    }
}
