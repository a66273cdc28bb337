import CustosCrypto
import Foundation
import SwiftASN1
import X509

/// A key that signs certificates without giving up its private half: the keystore
/// passes its signer (a soft key in memory or a key in an HSM) as `sign`, and
/// swift-certificates calls it through `CustomPrivateKey.signAsynchronously`.
public struct CertificateSigningKey: Sendable {
    public let scheme: SignatureScheme
    public let publicKey: SigningPublicKey
    let sign: @Sendable ([UInt8]) async throws -> [UInt8]

    /// `sign` returns the scheme's signature over the message: DER for ECDSA, 64 bytes
    /// for Ed25519, the PKCS#1 v1.5 block for RSA.
    public init(scheme: SignatureScheme, publicKey: SigningPublicKey, sign: @escaping @Sendable ([UInt8]) async throws -> [UInt8]) throws {
        _ = try Self.signatureAlgorithm(for: scheme)
        self.scheme = scheme
        self.publicKey = publicKey
        self.sign = sign
    }

    /// The X.509 signature algorithm of an issuer key, or a refusal naming the scheme.
    public static func signatureAlgorithm(for scheme: SignatureScheme) throws -> Certificate.SignatureAlgorithm {
        switch scheme {
        case .ecdsaP384SHA384: .ecdsaWithSHA384
        case .ecdsaP256SHA256: .ecdsaWithSHA256
        case .ed25519: .ed25519
        case .rsaPKCS1SHA256: .sha256WithRSAEncryption
        case .rsaPSSSHA256:
            throw PKIError.unsupportedKey("an rsa-pss-sha256 key cannot sign certificates (RSASSA-PSS certificate signatures are not supported); use an rsa-pkcs1-sha256 or ECDSA CA key. It can still be the subject of a certificate")
        default:
            throw PKIError.unsupportedKey("a \(scheme) key cannot sign TLS certificates; use ecdsa-p384-sha384, ecdsa-p256-sha256, ed25519 or rsa-pkcs1-sha256")
        }
    }

    /// Refuses a scheme whose keys cannot be the subject of a TLS certificate.
    public static func requireCertifiable(_ scheme: SignatureScheme) throws {
        switch scheme {
        case .ecdsaP384SHA384, .ecdsaP256SHA256, .ed25519, .rsaPSSSHA256, .rsaPKCS1SHA256: return
        default:
            throw PKIError.unsupportedKey("a \(scheme) key cannot be certified for TLS; use ecdsa-p384-sha384, ecdsa-p256-sha256, ed25519, rsa-pss-sha256 or rsa-pkcs1-sha256")
        }
    }

    /// The X.509 form of a subject key, refused unless TLS peers accept its type.
    public static func certificatePublicKey(_ key: SigningPublicKey) throws -> Certificate.PublicKey {
        try requireCertifiable(key.scheme)
        guard let der = key.derRepresentation, let parsed = try? Certificate.PublicKey(derEncoded: der) else {
            throw PKIError.unsupportedKey("the \(key.scheme) public key has no SubjectPublicKeyInfo a certificate can carry")
        }
        return parsed
    }
}

/// The adapter swift-certificates signs through; it can only sign asynchronously.
struct CustomSigningKey: CustomPrivateKey {
    let key: CertificateSigningKey
    let publicKey: Certificate.PublicKey
    let defaultSignatureAlgorithm: Certificate.SignatureAlgorithm
    var supportedSignatureAlgorithms: [Certificate.SignatureAlgorithm] { [defaultSignatureAlgorithm] }

    init(_ key: CertificateSigningKey) throws {
        self.key = key
        self.publicKey = try CertificateSigningKey.certificatePublicKey(key.publicKey)
        self.defaultSignatureAlgorithm = try CertificateSigningKey.signatureAlgorithm(for: key.scheme)
    }

    struct SynchronousSigningUnsupported: Error {}

    func signSynchronously(bytes: some DataProtocol, signatureAlgorithm: Certificate.SignatureAlgorithm) throws -> Certificate.Signature {
        throw SynchronousSigningUnsupported()
    }

    func signAsynchronously(bytes: some DataProtocol & Sendable, signatureAlgorithm: Certificate.SignatureAlgorithm) async throws -> Certificate.Signature {
        guard signatureAlgorithm == defaultSignatureAlgorithm else {
            throw PKIError.unsupportedKey("a \(key.scheme) key signs with \(defaultSignatureAlgorithm), not \(signatureAlgorithm)")
        }
        let signature = try await key.sign(Array(bytes))
        return try Certificate.Signature(signatureAlgorithm: signatureAlgorithm, signatureBytes: ASN1BitString(bytes: ArraySlice(signature)))
    }

    static let defaultPEMDiscriminator = "PRIVATE KEY"

    /// The private half never leaves its keystore, so there is nothing to serialise.
    func serializeAsPEM(discriminator: String) throws -> PEMDocument { throw SynchronousSigningUnsupported() }
    func serialize(into coder: inout DER.Serializer) throws { throw SynchronousSigningUnsupported() }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.key.publicKey == rhs.key.publicKey }
    func hash(into hasher: inout Hasher) { hasher.combine(key.publicKey) }
}
