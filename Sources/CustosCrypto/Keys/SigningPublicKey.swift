import BLS12381
import Crypto
import Foundation
import _CryptoExtras

/// A public verification key bound to exactly one `SignatureScheme`.
public struct SigningPublicKey: Sendable, Hashable {
    public let scheme: SignatureScheme
    let backing: Backing

    enum Backing: Sendable {
        case ed25519(Curve25519.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case secp256k1(Secp256k1.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
        case mlDSA65(MLDSA65.PublicKey)
        case bls12381(BLS12381.PublicKey)
    }

    init(scheme: SignatureScheme, backing: Backing) {
        self.scheme = scheme
        self.backing = backing
    }

    /// Reads a DER `SubjectPublicKeyInfo`; the key must be of the scheme's type.
    public init<Bytes: DataProtocol>(derRepresentation der: Bytes, scheme: SignatureScheme) throws {
        guard scheme.hasSubjectPublicKeyInfo else {
            throw CustosCryptoError.invalidPublicKey("\(scheme) keys have no SubjectPublicKeyInfo form; use the raw compressed point")
        }
        let spki = try SubjectPublicKeyInfo(derEncoded: der)
        guard let found = spki.algorithm.keyType, found == scheme.keyType else {
            throw CustosCryptoError.keyDoesNotMatchScheme(expected: scheme.rawValue, found: spki.algorithm.humanName)
        }
        if found == .rsa {
            // swift-crypto parses the whole SPKI for RSA (and enforces ≥ 2048 bits).
            let key: _RSA.Signing.PublicKey
            do {
                key = try _RSA.Signing.PublicKey(derRepresentation: Array(der))
            } catch {
                throw CustosCryptoError.invalidPublicKey("not a valid RSA public key of 2048 bits or more")
            }
            _ = try RSAKeySize(bits: key.keySizeInBits)
            self.init(scheme: scheme, backing: .rsa(key))
        } else {
            try self.init(rawRepresentation: spki.key, scheme: scheme)
        }
    }

    /// Reads a `-----BEGIN PUBLIC KEY-----` document.
    public init(pemRepresentation pem: String, scheme: SignatureScheme) throws {
        let (_, der) = try PEM.decode(pem, expecting: ["PUBLIC KEY"])
        try self.init(derRepresentation: der, scheme: scheme)
    }

    /// Reads the scheme's raw form: 32 bytes for Ed25519, an X9.63 point
    /// (uncompressed 0x04‖X‖Y or compressed) for ECDSA, the FIPS 204 encoding for
    /// ML-DSA-65. RSA has no raw form.
    public init<Bytes: DataProtocol>(rawRepresentation raw: Bytes, scheme: SignatureScheme) throws {
        let bytes = Array(raw)
        do {
            switch scheme.keyType {
            case .ed25519:
                guard bytes.count == 32 else { throw CustosCryptoError.invalidPublicKey("Ed25519 public key must be 32 bytes, got \(bytes.count)") }
                self.init(scheme: scheme, backing: .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: bytes)))
            case .p256:
                switch bytes.count {
                case 65: self.init(scheme: scheme, backing: .p256(try P256.Signing.PublicKey(x963Representation: bytes)))
                case 33: self.init(scheme: scheme, backing: .p256(try P256.Signing.PublicKey(compressedRepresentation: bytes)))
                default: throw CustosCryptoError.invalidPublicKey("P-256 point must be 65 (uncompressed) or 33 (compressed) bytes, got \(bytes.count)")
                }
            case .p384:
                switch bytes.count {
                case 97: self.init(scheme: scheme, backing: .p384(try P384.Signing.PublicKey(x963Representation: bytes)))
                case 49: self.init(scheme: scheme, backing: .p384(try P384.Signing.PublicKey(compressedRepresentation: bytes)))
                default: throw CustosCryptoError.invalidPublicKey("P-384 point must be 97 (uncompressed) or 49 (compressed) bytes, got \(bytes.count)")
                }
            case .secp256k1:
                switch bytes.count {
                case 65: self.init(scheme: scheme, backing: .secp256k1(try Secp256k1.PublicKey(x963Representation: bytes)))
                case 33: self.init(scheme: scheme, backing: .secp256k1(try Secp256k1.PublicKey(compressedRepresentation: bytes)))
                default: throw CustosCryptoError.invalidPublicKey("secp256k1 point must be 65 (uncompressed) or 33 (compressed) bytes, got \(bytes.count)")
                }
            case .mlDSA65:
                guard bytes.count == 1952 else { throw CustosCryptoError.invalidPublicKey("ML-DSA-65 public key must be 1952 bytes, got \(bytes.count)") }
                self.init(scheme: scheme, backing: .mlDSA65(try MLDSA65.PublicKey(rawRepresentation: bytes)))
            case .bls12381:
                guard bytes.count == 48 else { throw CustosCryptoError.invalidPublicKey("BLS12-381 public key must be 48 bytes (compressed G1), got \(bytes.count)") }
                do {
                    self.init(scheme: scheme, backing: .bls12381(try BLS12381.PublicKey(compressedRepresentation: bytes)))
                } catch {
                    throw CustosCryptoError.invalidPublicKey("BLS12-381 public key rejected: \(error)")
                }
            case .rsa:
                throw CustosCryptoError.invalidPublicKey("RSA public keys have no raw form; use SPKI DER or PEM")
            case .x25519:
                throw CustosCryptoError.unknownScheme(scheme.rawValue)
            }
        } catch let error as CustosCryptoError {
            throw error
        } catch {
            throw CustosCryptoError.invalidPublicKey("not a valid point or key for \(scheme)")
        }
    }

    /// Accepts whatever a client is likely to hold: PEM text, or hex of an SPKI DER or
    /// of the raw form. An SPKI is tried first, then the raw form.
    public init(encoded text: String, scheme: SignatureScheme) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("-----BEGIN") {
            try self.init(pemRepresentation: trimmed, scheme: scheme)
            return
        }
        guard let bytes = Hex.decode(trimmed) else {
            throw CustosCryptoError.invalidPublicKey("expected PEM, or hex of SPKI DER or raw key bytes")
        }
        if bytes.first == 0x30, let key = try? SigningPublicKey(derRepresentation: bytes, scheme: scheme) {
            self = key
        } else if scheme.isRSA {
            try self.init(derRepresentation: bytes, scheme: scheme)
        } else {
            try self.init(rawRepresentation: bytes, scheme: scheme)
        }
    }

    /// The form Custos stores and fingerprints: the DER `SubjectPublicKeyInfo`, or for
    /// BLS12-381 (which has no registered SPKI algorithm) the 48-byte compressed point.
    public var encodedRepresentation: [UInt8] {
        if case .bls12381(let key) = backing { return key.compressedRepresentation }
        return spki
    }

    /// Reads what `encodedRepresentation` produced.
    public init<Bytes: DataProtocol>(encodedRepresentation encoded: Bytes, scheme: SignatureScheme) throws {
        if scheme.hasSubjectPublicKeyInfo {
            try self.init(derRepresentation: encoded, scheme: scheme)
        } else {
            try self.init(rawRepresentation: encoded, scheme: scheme)
        }
    }

    /// DER `SubjectPublicKeyInfo`, as OpenSSL writes it (uncompressed EC points); nil
    /// for BLS12-381, which has no registered SPKI algorithm.
    public var derRepresentation: [UInt8]? {
        scheme.hasSubjectPublicKeyInfo ? spki : nil
    }

    private var spki: [UInt8] {
        switch backing {
        case .ed25519(let key): return SubjectPublicKeyInfo(algorithm: .ed25519, key: Array(key.rawRepresentation)).derRepresentation
        case .p256(let key): return Array(key.derRepresentation)
        case .p384(let key): return Array(key.derRepresentation)
        case .secp256k1(let key): return key.derRepresentation
        case .rsa(let key): return Array(key.derRepresentation)
        case .mlDSA65(let key): return SubjectPublicKeyInfo(algorithm: .mlDSA65, key: Array(key.rawRepresentation)).derRepresentation
        case .bls12381(let key): return key.compressedRepresentation
        }
    }

    /// `-----BEGIN PUBLIC KEY-----`; nil for BLS12-381.
    public var pemRepresentation: String? { derRepresentation.map { PEM.encode($0, label: "PUBLIC KEY") } }

    /// The scheme's raw form, `nil` for RSA (which has none).
    public var rawRepresentation: [UInt8]? {
        switch backing {
        case .ed25519(let key): Array(key.rawRepresentation)
        case .p256(let key): Array(key.x963Representation)
        case .p384(let key): Array(key.x963Representation)
        case .secp256k1(let key): key.x963Representation
        case .rsa: nil
        case .mlDSA65(let key): Array(key.rawRepresentation)
        case .bls12381(let key): key.compressedRepresentation
        }
    }

    public var fingerprint: Fingerprint { Fingerprint(subjectPublicKeyInfo: encodedRepresentation) }

    /// For Ethereum keys: the 20-byte account address.
    public var ethereumAddress: [UInt8]? {
        guard case .secp256k1(let key) = backing else { return nil }
        return key.ethereumAddress
    }

    /// Checks `signature` over `message`. Returns false for a well-formed signature
    /// that does not verify; throws `malformedSignature` when the bytes cannot be a
    /// signature of this scheme at all (wrong length, broken DER).
    public func isValidSignature<S: DataProtocol, M: DataProtocol>(
        _ signature: S, for message: M, format: SignatureFormat? = nil
    ) throws -> Bool {
        let format = try scheme.resolvedFormat(format)
        let bytes = Array(signature)
        switch backing {
        case .ed25519(let key):
            guard bytes.count == 64 else { throw CustosCryptoError.malformedSignature("Ed25519 signature must be 64 bytes, got \(bytes.count)") }
            return key.isValidSignature(bytes, for: message)
        case .p256(let key):
            let parsed: P256.Signing.ECDSASignature
            if format == .raw {
                guard bytes.count == 64 else { throw CustosCryptoError.malformedSignature("raw P-256 signature must be 64 bytes, got \(bytes.count)") }
                guard let value = try? P256.Signing.ECDSASignature(rawRepresentation: bytes) else { throw CustosCryptoError.malformedSignature("invalid raw P-256 signature") }
                parsed = value
            } else {
                guard let value = try? P256.Signing.ECDSASignature(derRepresentation: bytes) else { throw CustosCryptoError.malformedSignature("not a DER ECDSA signature") }
                parsed = value
            }
            return key.isValidSignature(parsed, for: message)
        case .p384(let key):
            let parsed: P384.Signing.ECDSASignature
            if format == .raw {
                guard bytes.count == 96 else { throw CustosCryptoError.malformedSignature("raw P-384 signature must be 96 bytes, got \(bytes.count)") }
                guard let value = try? P384.Signing.ECDSASignature(rawRepresentation: bytes) else { throw CustosCryptoError.malformedSignature("invalid raw P-384 signature") }
                parsed = value
            } else {
                guard let value = try? P384.Signing.ECDSASignature(derRepresentation: bytes) else { throw CustosCryptoError.malformedSignature("not a DER ECDSA signature") }
                parsed = value
            }
            return key.isValidSignature(parsed, for: message)
        case .secp256k1(let key):
            if scheme == .ecdsaSecp256k1Keccak256 {
                guard bytes.count == 65 else { throw CustosCryptoError.malformedSignature("Ethereum signature must be 65 bytes r‖s‖v, got \(bytes.count)") }
                let recoverable: Secp256k1.RecoverableSignature
                do {
                    recoverable = try Secp256k1.RecoverableSignature(ethereumRepresentation: bytes)
                } catch let error as Secp256k1Error where error == .highS {
                    return false
                } catch {
                    throw CustosCryptoError.malformedSignature("invalid Ethereum r‖s‖v signature")
                }
                let digest = Keccak256.hash(data: message)
                guard key.isValidSignature(recoverable.signature, forDigest: digest, allowHighS: false) else { return false }
                // The recovery id must also point back at this key.
                return (try? Secp256k1.PublicKey.recover(from: recoverable, forDigest: digest)) == key
            }
            let parsed: Secp256k1.ECDSASignature
            if format == .raw {
                guard bytes.count == 64 else { throw CustosCryptoError.malformedSignature("raw secp256k1 signature must be 64 bytes, got \(bytes.count)") }
                guard let value = try? Secp256k1.ECDSASignature(rawRepresentation: bytes) else { return false }
                parsed = value
            } else {
                guard let value = try? Secp256k1.ECDSASignature(derRepresentation: bytes) else { throw CustosCryptoError.malformedSignature("not a strict DER ECDSA signature") }
                parsed = value
            }
            return key.isValidSignature(parsed, forDigest: Array(SHA256.hash(data: message)), allowHighS: true)
        case .rsa(let key):
            let expected = key.keySizeInBits / 8
            guard bytes.count == expected else { throw CustosCryptoError.malformedSignature("RSA-\(key.keySizeInBits) signature must be \(expected) bytes, got \(bytes.count)") }
            let padding: _RSA.Signing.Padding = scheme == .rsaPSSSHA256 ? .PSS : .insecurePKCS1v1_5
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: bytes), for: SHA256.hash(data: message), padding: padding)
        case .mlDSA65(let key):
            guard bytes.count == 3309 else { throw CustosCryptoError.malformedSignature("ML-DSA-65 signature must be 3309 bytes, got \(bytes.count)") }
            return key.isValidSignature(bytes, for: message)
        case .bls12381(let key):
            return key.isValidSignature(try BLSSupport.signature(bytes), for: message)
        }
    }

    /// For BLS12-381 keys: PopVerify of a proof of possession.
    public func isValidProofOfPossession<P: DataProtocol>(_ proof: P) throws -> Bool {
        guard case .bls12381(let key) = backing else {
            throw CustosCryptoError.operationFailed("proofs of possession exist for bls12381-pop keys only, not \(scheme)")
        }
        return key.isValidProofOfPossession(try BLSSupport.proof(Array(proof)))
    }

    public var blsPublicKey: BLS12381.PublicKey? {
        if case .bls12381(let key) = backing { return key }
        return nil
    }

    public static func == (lhs: SigningPublicKey, rhs: SigningPublicKey) -> Bool {
        lhs.scheme == rhs.scheme && lhs.encodedRepresentation == rhs.encodedRepresentation
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(scheme)
        hasher.combine(encodedRepresentation)
    }
}
