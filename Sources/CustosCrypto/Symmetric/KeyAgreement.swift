import Crypto
import Foundation

/// A Diffie-Hellman private key: X25519, ECDH P-256 or ECDH P-384. It can agree on a
/// shared secret and nothing else.
public struct KeyAgreementPrivateKey: Sendable {
    public let algorithm: KeyAgreementAlgorithm
    let backing: Backing

    enum Backing: Sendable {
        case x25519(Curve25519.KeyAgreement.PrivateKey)
        case p256(P256.KeyAgreement.PrivateKey)
        case p384(P384.KeyAgreement.PrivateKey)
    }

    public init(generating algorithm: KeyAgreementAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .x25519: backing = .x25519(Curve25519.KeyAgreement.PrivateKey())
        case .ecdhP256: backing = .p256(P256.KeyAgreement.PrivateKey(compactRepresentable: false))
        case .ecdhP384: backing = .p384(P384.KeyAgreement.PrivateKey(compactRepresentable: false))
        }
    }

    public init(secretMaterial secret: SecretBytes, algorithm: KeyAgreementAlgorithm) throws {
        self.algorithm = algorithm
        do {
            backing = try secret.withUnsafeBytes { bytes in
                switch algorithm {
                case .x25519: .x25519(try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes))
                case .ecdhP256: .p256(try P256.KeyAgreement.PrivateKey(rawRepresentation: bytes))
                case .ecdhP384: .p384(try P384.KeyAgreement.PrivateKey(rawRepresentation: bytes))
                }
            }
        } catch {
            throw CustosCryptoError.invalidPrivateKey("not a valid \(algorithm.rawValue) private key")
        }
    }

    public var secretMaterial: SecretBytes {
        switch backing {
        case .x25519(let key): SecretBytes.consuming(key.rawRepresentation)
        case .p256(let key): SecretBytes.consuming(key.rawRepresentation)
        case .p384(let key): SecretBytes.consuming(key.rawRepresentation)
        }
    }

    public var publicKey: KeyAgreementPublicKey {
        switch backing {
        case .x25519(let key): KeyAgreementPublicKey(algorithm: algorithm, backing: .x25519(key.publicKey))
        case .p256(let key): KeyAgreementPublicKey(algorithm: algorithm, backing: .p256(key.publicKey))
        case .p384(let key): KeyAgreementPublicKey(algorithm: algorithm, backing: .p384(key.publicKey))
        }
    }

    /// The raw shared secret (X coordinate / X25519 output). Derive keys from it with
    /// HKDF; never use it directly as a key.
    public func sharedSecret(with peer: KeyAgreementPublicKey) throws -> SecretBytes {
        do {
            let secret: SharedSecret
            switch (backing, peer.backing) {
            case (.x25519(let key), .x25519(let other)): secret = try key.sharedSecretFromKeyAgreement(with: other)
            case (.p256(let key), .p256(let other)): secret = try key.sharedSecretFromKeyAgreement(with: other)
            case (.p384(let key), .p384(let other)): secret = try key.sharedSecretFromKeyAgreement(with: other)
            default:
                throw CustosCryptoError.keyDoesNotMatchScheme(expected: algorithm.rawValue, found: peer.algorithm.rawValue)
            }
            return secret.withUnsafeBytes { SecretBytes($0) }
        } catch let error as CustosCryptoError {
            throw error
        } catch {
            throw CustosCryptoError.invalidPublicKey("key agreement with this peer key failed")
        }
    }
}

public struct KeyAgreementPublicKey: Sendable, Hashable {
    public let algorithm: KeyAgreementAlgorithm
    let backing: Backing

    enum Backing: Sendable {
        case x25519(Curve25519.KeyAgreement.PublicKey)
        case p256(P256.KeyAgreement.PublicKey)
        case p384(P384.KeyAgreement.PublicKey)
    }

    init(algorithm: KeyAgreementAlgorithm, backing: Backing) {
        self.algorithm = algorithm
        self.backing = backing
    }

    /// 32 bytes for X25519, an X9.63 point (uncompressed or compressed) for ECDH.
    public init<Bytes: DataProtocol>(rawRepresentation raw: Bytes, algorithm: KeyAgreementAlgorithm) throws {
        let bytes = Array(raw)
        self.algorithm = algorithm
        do {
            switch algorithm {
            case .x25519:
                guard bytes.count == 32 else { throw CustosCryptoError.invalidPublicKey("X25519 public key must be 32 bytes, got \(bytes.count)") }
                backing = .x25519(try Curve25519.KeyAgreement.PublicKey(rawRepresentation: bytes))
            case .ecdhP256:
                backing = .p256(bytes.count == 33 ? try P256.KeyAgreement.PublicKey(compressedRepresentation: bytes) : try P256.KeyAgreement.PublicKey(x963Representation: bytes))
            case .ecdhP384:
                backing = .p384(bytes.count == 49 ? try P384.KeyAgreement.PublicKey(compressedRepresentation: bytes) : try P384.KeyAgreement.PublicKey(x963Representation: bytes))
            }
        } catch let error as CustosCryptoError {
            throw error
        } catch {
            throw CustosCryptoError.invalidPublicKey("not a valid \(algorithm.rawValue) public key")
        }
    }

    public init<Bytes: DataProtocol>(derRepresentation der: Bytes, algorithm: KeyAgreementAlgorithm) throws {
        let spki = try SubjectPublicKeyInfo(derEncoded: der)
        let expected: EncodedKeyAlgorithm = switch algorithm {
        case .x25519: .x25519
        case .ecdhP256: .ecPublicKey(curve: OID.prime256v1)
        case .ecdhP384: .ecPublicKey(curve: OID.secp384r1)
        }
        guard spki.algorithm == expected else {
            throw CustosCryptoError.keyDoesNotMatchScheme(expected: algorithm.rawValue, found: spki.algorithm.humanName)
        }
        try self.init(rawRepresentation: spki.key, algorithm: algorithm)
    }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of any key-agreement algorithm, told by its OID.
    public init(pemRepresentation pem: String) throws {
        let der = try PEM.decode(pem, expecting: ["PUBLIC KEY"]).der
        let spki = try SubjectPublicKeyInfo(derEncoded: der)
        guard let algorithm = KeyAgreementAlgorithm.allCases.first(where: { candidate in
            let encoded: EncodedKeyAlgorithm = switch candidate {
            case .x25519: .x25519
            case .ecdhP256: .ecPublicKey(curve: OID.prime256v1)
            case .ecdhP384: .ecPublicKey(curve: OID.secp384r1)
            }
            return encoded == spki.algorithm
        }) else {
            throw CustosCryptoError.invalidPublicKey("not an X25519, P-256 or P-384 public key (\(spki.algorithm.humanName))")
        }
        try self.init(rawRepresentation: spki.key, algorithm: algorithm)
    }

    public var rawRepresentation: [UInt8] {
        switch backing {
        case .x25519(let key): Array(key.rawRepresentation)
        case .p256(let key): Array(key.x963Representation)
        case .p384(let key): Array(key.x963Representation)
        }
    }

    public var derRepresentation: [UInt8] {
        switch backing {
        case .x25519(let key): SubjectPublicKeyInfo(algorithm: .x25519, key: Array(key.rawRepresentation)).derRepresentation
        case .p256(let key): Array(key.derRepresentation)
        case .p384(let key): Array(key.derRepresentation)
        }
    }

    public var pemRepresentation: String { PEM.encode(derRepresentation, label: "PUBLIC KEY") }

    public var fingerprint: Fingerprint { Fingerprint(subjectPublicKeyInfo: derRepresentation) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.algorithm == rhs.algorithm && lhs.rawRepresentation == rhs.rawRepresentation
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(algorithm)
        hasher.combine(rawRepresentation)
    }
}
