import CustosCrypto
import CustosKeystore
import NIOCore
import NIOSSL

/// The keystore's signer as BoringSSL's private key: each handshake's CertificateVerify
/// is signed by the unlocked key object, so the private key never reaches BoringSSL.
struct KeySignerTLSKey: NIOSSLCustomPrivateKey, Hashable {
    let signer: any KeySigner
    /// Identity for NIOSSL's Hashable requirement: the public key it signs for.
    private let publicKey: [UInt8]

    init(_ signer: any KeySigner) throws {
        guard Self.algorithm(for: signer.scheme) != nil else {
            throw TLSMaterialError("a \(signer.scheme) key cannot sign TLS 1.3 handshakes (use ecdsa-p384-sha384, ecdsa-p256-sha256, ed25519 or rsa-pss-sha256)")
        }
        self.signer = signer
        self.publicKey = signer.publicKey.encodedRepresentation
    }

    /// The TLS 1.3 signature algorithm a scheme's signatures are: same curve, hash and
    /// padding (Custos's RSA-PSS uses a 32-byte salt, as rsa_pss_rsae_sha256 requires).
    static func algorithm(for scheme: SignatureScheme) -> SignatureAlgorithm? {
        switch scheme {
        case .ecdsaP384SHA384: .ecdsaSecp384R1Sha384
        case .ecdsaP256SHA256: .ecdsaSecp256R1Sha256
        case .ed25519: .ed25519
        case .rsaPSSSHA256: .rsaPssRsaeSha256
        default: nil
        }
    }

    var signatureAlgorithms: [SignatureAlgorithm] { Self.algorithm(for: signer.scheme).map { [$0] } ?? [] }

    func sign(channel: Channel, algorithm: SignatureAlgorithm, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        let signer = self.signer, message = Array(data.readableBytesView)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        promise.completeWithTask {
            let isECDSA = signer.scheme == .ecdsaP384SHA384 || signer.scheme == .ecdsaP256SHA256
            let signature = try await signer.sign(message, format: isECDSA ? .der : nil)
            return ByteBuffer(bytes: signature.bytes)
        }
        return promise.futureResult
    }

    /// RSA key exchange does not exist in TLS 1.3, the only version served.
    func decrypt(channel: Channel, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        channel.eventLoop.makeFailedFuture(TLSMaterialError("RSA decryption is not offered"))
    }

    static func == (lhs: KeySignerTLSKey, rhs: KeySignerTLSKey) -> Bool { lhs.publicKey == rhs.publicKey }
    func hash(into hasher: inout Hasher) { hasher.combine(publicKey) }
}
