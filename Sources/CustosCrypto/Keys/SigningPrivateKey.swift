import BLS12381
import Crypto
import Foundation
import _CryptoExtras
import SwiftASN1

/// A private signing key bound to exactly one `SignatureScheme`.
///
/// It can only sign; there is no way to use it for encryption or to sign under
/// another scheme. Its secret form (`secretMaterial`) exists only to be wrapped by
/// the keystore and is held in zeroize-on-free storage.
public struct SigningPrivateKey: Sendable {
    public let scheme: SignatureScheme
    let backing: Backing

    enum Backing: Sendable {
        case ed25519(Curve25519.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case secp256k1(Secp256k1.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
        case mlDSA65(MLDSA65.PrivateKey)
        case bls12381(BLS12381.PrivateKey)
    }

    /// Generates a fresh key. `rsaKeySize` applies to the RSA schemes only.
    public init(generating scheme: SignatureScheme, rsaKeySize: RSAKeySize = .bits3072) throws {
        self.scheme = scheme
        switch scheme.keyType {
        case .ed25519: backing = .ed25519(Curve25519.Signing.PrivateKey())
        case .p256: backing = .p256(P256.Signing.PrivateKey(compactRepresentable: false))
        case .p384: backing = .p384(P384.Signing.PrivateKey(compactRepresentable: false))
        case .secp256k1: backing = .secp256k1(Secp256k1.PrivateKey())
        case .rsa:
            backing = .rsa(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: rsaKeySize.rawValue)))
        case .mlDSA65: backing = .mlDSA65(try MLDSA65.PrivateKey())
        case .bls12381: backing = .bls12381(BLS12381.PrivateKey())
        case .x25519: throw CustosCryptoError.unknownScheme(scheme.rawValue)
        }
    }

    /// Restores a key from the canonical secret form produced by `secretMaterial`.
    public init(secretMaterial secret: SecretBytes, scheme: SignatureScheme) throws {
        self.scheme = scheme
        do {
            backing = try secret.withUnsafeBytes { bytes -> Backing in
                switch scheme.keyType {
                case .ed25519:
                    guard bytes.count == 32 else { throw CustosCryptoError.invalidKeyLength(expected: 32, actual: bytes.count) }
                    return .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: bytes))
                case .p256:
                    guard bytes.count == 32 else { throw CustosCryptoError.invalidKeyLength(expected: 32, actual: bytes.count) }
                    return .p256(try P256.Signing.PrivateKey(rawRepresentation: bytes))
                case .p384:
                    guard bytes.count == 48 else { throw CustosCryptoError.invalidKeyLength(expected: 48, actual: bytes.count) }
                    return .p384(try P384.Signing.PrivateKey(rawRepresentation: bytes))
                case .secp256k1:
                    return .secp256k1(try Secp256k1.PrivateKey(rawRepresentation: bytes))
                case .rsa:
                    let key = try _RSA.Signing.PrivateKey(derRepresentation: bytes)
                    _ = try RSAKeySize(bits: key.keySizeInBits)
                    return .rsa(key)
                case .mlDSA65:
                    guard bytes.count == 32 else { throw CustosCryptoError.invalidKeyLength(expected: 32, actual: bytes.count) }
                    return .mlDSA65(try MLDSA65.PrivateKey(seedRepresentation: bytes, publicKey: nil))
                case .bls12381:
                    guard bytes.count == 32 else { throw CustosCryptoError.invalidKeyLength(expected: 32, actual: bytes.count) }
                    return .bls12381(try BLS12381.PrivateKey(rawRepresentation: bytes))
                case .x25519:
                    throw CustosCryptoError.unknownScheme(scheme.rawValue)
                }
            }
        } catch let error as CustosCryptoError {
            throw error
        } catch {
            throw CustosCryptoError.invalidPrivateKey("not a valid \(scheme) private key")
        }
    }

    /// Imports a PKCS#8 (or SEC1 / PKCS#1) private key in DER or PEM, made elsewhere
    /// (for example by `openssl genpkey`). The key must be of the scheme's type.
    public init(importing encoded: SecretBytes, scheme: SignatureScheme) throws {
        guard scheme != .bls12381Pop else {
            throw CustosCryptoError.invalidPrivateKey("BLS12-381 keys have no PKCS#8 encoding to import; generate them in Custos")
        }
        let isPEM = encoded.withUnsafeBytes { PrivateKeyPEM.looksLikePEM($0) }
        var label = "PRIVATE KEY"
        var der = encoded
        if isPEM {
            (label, der) = try PrivateKeyPEM.decode(encoded)
        }
        let material: SecretBytes
        switch label {
        case "EC PRIVATE KEY":
            guard let curve = Self.curve(of: scheme) else {
                throw CustosCryptoError.keyDoesNotMatchScheme(expected: scheme.rawValue, found: "an EC key")
            }
            material = try PrivateKeyInfo.ecScalar(fromECPrivateKey: der, byteCount: scheme.keyType == .p384 ? 48 : 32, expectedCurve: curve)
        case "RSA PRIVATE KEY":
            guard scheme.isRSA else {
                throw CustosCryptoError.keyDoesNotMatchScheme(expected: scheme.rawValue, found: "RSA")
            }
            material = der
        case "PRIVATE KEY" where !isPEM:
            // Bare DER names no format: PKCS#8 first, then the scheme's traditional form.
            do {
                material = try Self.material(fromPKCS8: der, scheme: scheme)
            } catch let pkcs8Error as CustosCryptoError {
                // Only input that is not PKCS#8 at all gets the second reading; a PKCS#8
                // key of the wrong type keeps its precise error.
                guard case .malformedDER = pkcs8Error else { throw pkcs8Error }
                switch scheme.keyType {
                case .p256, .p384, .secp256k1:
                    guard let scalar = try? PrivateKeyInfo.ecScalar(fromECPrivateKey: der, byteCount: scheme.keyType == .p384 ? 48 : 32,
                                                                   expectedCurve: Self.curve(of: scheme)) else { throw pkcs8Error }
                    material = scalar
                case .rsa:
                    // swift-crypto reads PKCS#1 RSAPrivateKey as well.
                    material = der
                default:
                    throw pkcs8Error
                }
            }
        default:
            material = try Self.material(fromPKCS8: der, scheme: scheme)
        }
        try self.init(secretMaterial: material, scheme: scheme)
    }

    private static func curve(of scheme: SignatureScheme) -> ASN1ObjectIdentifier? {
        switch scheme.keyType {
        case .p256: OID.prime256v1
        case .p384: OID.secp384r1
        case .secp256k1: OID.secp256k1
        default: nil
        }
    }

    /// The canonical secret material inside a PKCS#8 `PrivateKeyInfo`.
    private static func material(fromPKCS8 der: SecretBytes, scheme: SignatureScheme) throws -> SecretBytes {
        let material: SecretBytes
        do {
            let info = try der.withUnsafeBytes { try PrivateKeyInfo(derEncoded: Array($0)) }
            guard let found = info.algorithm.keyType, found == scheme.keyType else {
                throw CustosCryptoError.keyDoesNotMatchScheme(expected: scheme.rawValue, found: info.algorithm.humanName)
            }
            switch found {
            case .ed25519: material = try PrivateKeyInfo.curvePrivateKey(from: info.privateKey)
            case .p256: material = try PrivateKeyInfo.ecScalar(fromECPrivateKey: info.privateKey, byteCount: 32)
            case .p384: material = try PrivateKeyInfo.ecScalar(fromECPrivateKey: info.privateKey, byteCount: 48)
            case .secp256k1: material = try PrivateKeyInfo.ecScalar(fromECPrivateKey: info.privateKey, byteCount: 32)
            case .rsa: material = der
            case .mlDSA65: material = try PrivateKeyInfo.mlDSASeed(from: info.privateKey)
            case .bls12381, .x25519: throw CustosCryptoError.keyDoesNotMatchScheme(expected: scheme.rawValue, found: "X25519")
            }
        }
        return material
    }

    /// The canonical secret form that the keystore wraps: the Ed25519 seed, the EC
    /// scalar, the RSA PKCS#8 DER or the ML-DSA seed.
    public var secretMaterial: SecretBytes {
        switch backing {
        case .ed25519(let key): return SecretBytes.consuming(key.rawRepresentation)
        case .p256(let key): return SecretBytes.consuming(key.rawRepresentation)
        case .p384(let key): return SecretBytes.consuming(key.rawRepresentation)
        case .secp256k1(let key): return key.rawRepresentation
        case .rsa(let key): return SecretBytes.consuming(key.pkcs8DERRepresentation)
        case .mlDSA65(let key): return SecretBytes.consuming(key.seedRepresentation)
        case .bls12381(let key):
            var raw = key.rawRepresentation
            defer { SecretBytes.zeroize(&raw) }
            return SecretBytes(raw)
        }
    }

    /// A BLS proof of possession (PopProve): a signature over the public key under the
    /// PoP domain, which others check before admitting the key to an aggregate.
    public func proofOfPossession() throws -> [UInt8] {
        guard case .bls12381(let key) = backing else {
            throw CustosCryptoError.operationFailed("proofs of possession exist for bls12381-pop keys only, not \(scheme)")
        }
        return key.proofOfPossession().compressedRepresentation
    }

    /// A BLS signature under a protocol's own hash-to-curve domain separation tag (the
    /// replica network signs each message type under its own).
    public func blsSignature(for message: [UInt8], domain: BLS12381.DomainSeparationTag) throws -> BLS12381.Signature {
        guard case .bls12381(let key) = backing else {
            throw CustosCryptoError.operationFailed("domain-separated BLS signatures need a bls12381-pop key, not \(scheme)")
        }
        return key.signature(for: message, domain: domain)
    }

    /// The domain-separated BLS signer of a bls12381-pop key (nil for other schemes), for
    /// callers that hold the key only through a closure.
    public var blsDomainSigner: (@Sendable ([UInt8], BLS12381.DomainSeparationTag) -> BLS12381.Signature)? {
        guard case .bls12381(let key) = backing else { return nil }
        return { message, domain in key.signature(for: message, domain: domain) }
    }

    /// The proof of possession as the BLS module's type.
    public func blsProofOfPossession() throws -> BLS12381.ProofOfPossession {
        guard case .bls12381(let key) = backing else {
            throw CustosCryptoError.operationFailed("proofs of possession exist for bls12381-pop keys only, not \(scheme)")
        }
        return key.proofOfPossession()
    }

    /// The modulus size of an RSA key; nil for other schemes.
    public var rsaKeySize: RSAKeySize? {
        guard case .rsa(let key) = backing else { return nil }
        return RSAKeySize(rawValue: key.keySizeInBits)
    }

    public var publicKey: SigningPublicKey {
        switch backing {
        case .ed25519(let key): SigningPublicKey(scheme: scheme, backing: .ed25519(key.publicKey))
        case .p256(let key): SigningPublicKey(scheme: scheme, backing: .p256(key.publicKey))
        case .p384(let key): SigningPublicKey(scheme: scheme, backing: .p384(key.publicKey))
        case .secp256k1(let key): SigningPublicKey(scheme: scheme, backing: .secp256k1(key.publicKey))
        case .rsa(let key): SigningPublicKey(scheme: scheme, backing: .rsa(key.publicKey))
        case .mlDSA65(let key): SigningPublicKey(scheme: scheme, backing: .mlDSA65(key.publicKey))
        case .bls12381(let key): SigningPublicKey(scheme: scheme, backing: .bls12381(key.publicKey))
        }
    }

    /// An Ethereum signature over a 32-byte digest the caller computed (a transaction's
    /// signing hash, an EIP-191 or EIP-712 digest). Only keys of the Ethereum scheme sign
    /// digests: a key of another scheme must never sign bytes it did not hash itself.
    public func ethereumSignature(forDigest digest: [UInt8]) throws -> Secp256k1.RecoverableSignature {
        guard scheme == .ecdsaSecp256k1Keccak256, case .secp256k1(let key) = backing else {
            throw CustosCryptoError.keyDoesNotMatchScheme(expected: SignatureScheme.ecdsaSecp256k1Keccak256.rawValue, found: scheme.rawValue)
        }
        guard digest.count == 32 else { throw CustosCryptoError.operationFailed("an Ethereum digest is 32 bytes") }
        do {
            return try key.recoverableSignature(forDigest: digest)
        } catch {
            throw CustosCryptoError.operationFailed("secp256k1 signing failed")
        }
    }

    /// Signs `message` under the key's scheme. Ed25519 and ML-DSA sign the message
    /// itself; the other schemes hash it with the scheme's digest first.
    public func signature<M: DataProtocol>(for message: M, format: SignatureFormat? = nil) throws -> Signature {
        let format = try scheme.resolvedFormat(format)
        let bytes: [UInt8]
        do {
            switch backing {
            case .ed25519(let key):
                bytes = Array(try key.signature(for: message))
            case .p256(let key):
                let signature = try key.signature(for: message)
                bytes = Array(format == .raw ? signature.rawRepresentation : signature.derRepresentation)
            case .p384(let key):
                let signature = try key.signature(for: message)
                bytes = Array(format == .raw ? signature.rawRepresentation : signature.derRepresentation)
            case .secp256k1(let key):
                if scheme == .ecdsaSecp256k1Keccak256 {
                    bytes = try key.recoverableSignature(forDigest: Keccak256.hash(data: message)).ethereumRepresentation
                } else {
                    let signature = try key.signature(forDigest: Array(SHA256.hash(data: message)))
                    bytes = format == .raw ? signature.rawRepresentation : signature.derRepresentation
                }
            case .rsa(let key):
                let padding: _RSA.Signing.Padding = scheme == .rsaPSSSHA256 ? .PSS : .insecurePKCS1v1_5
                bytes = Array(try key.signature(for: SHA256.hash(data: message), padding: padding).rawRepresentation)
            case .mlDSA65(let key):
                bytes = Array(try key.signature(for: message))
            case .bls12381(let key):
                bytes = key.signature(for: message).compressedRepresentation
            }
        } catch let error as CustosCryptoError {
            throw error
        } catch {
            throw CustosCryptoError.operationFailed("\(scheme) signing failed")
        }
        return Signature(scheme: scheme, format: format, bytes: bytes)
    }
}

extension SecretBytes {
    /// Moves bytes from a `Data` that a library handed back into secret storage,
    /// overwriting the `Data`'s buffer.
    static func consuming(_ data: Data) -> SecretBytes {
        var data = data
        let secret = SecretBytes(data)
        data.withUnsafeMutableBytes { SecretBytes.zeroize($0) }
        return secret
    }
}
