import CustosCluster
import CustosCrypto
import CustosKeystore
import CustosPKI
import Foundation
import NIOCore
import NIOSSL
import Synchronization
import X509

/// This replica's TLS identity towards its peers: the keystore signer of its current TLS key
/// (P-384) and a certificate for it. Peers know the key by its pin alone, so the certificate is
/// self-signed here from the signer; the private key never leaves the keystore.
struct PeerTLSIdentity: Sendable {
    let chain: [Certificate]
    let signer: any KeySigner

    var pin: PublicKeyPin { get throws { try PublicKeyPin(chain[0]) } }

    static func selfSigned(_ signer: any KeySigner, name: String, now: Date = Date()) async throws -> PeerTLSIdentity {
        let publicKey = try CertificateSigningKey.certificatePublicKey(signer.publicKey)
        let key = try CertificateSigningKey(scheme: signer.scheme, publicKey: signer.publicKey) { message in
            let isECDSA = signer.scheme == .ecdsaP384SHA384 || signer.scheme == .ecdsaP256SHA256
            return try await signer.sign(message, format: isECDSA ? .der : nil).bytes
        }
        let template = CertificateTemplate(subject: try DistinguishedName { CommonName(name) }, publicKey: publicKey,
                                           profile: .leaf(.both), days: 3650)
        let certificate = try await CertificateFactory.issue(template, signedBy: key, issuer: nil, now: now)
        return PeerTLSIdentity(chain: [certificate], signer: signer)
    }
}

/// The TLS contexts of the peer listener and the peer client, built from the current identity
/// and swapped whole when it changes (after this replica's new TLS key becomes active). Each
/// side accepts the other end only by pin, through `directory`, read at every handshake.
final class PeerTLS: Sendable {
    let directory: PeerDirectory
    /// The listener's context; `ReloadableTLSChannel` takes it per connection.
    let server = TLSContextHolder()
    private let client = Mutex<(context: NIOSSLContext, pin: PublicKeyPin)?>(nil)

    init(directory: PeerDirectory) {
        self.directory = directory
    }

    var currentPin: PublicKeyPin? { client.withLock { $0?.pin } }

    func install(_ identity: PeerTLSIdentity) throws {
        let key = try KeySignerTLSKey(identity.signer)
        guard let spki = identity.signer.publicKey.derRepresentation else { throw TLSMaterialError("the peer TLS key has no SubjectPublicKeyInfo") }
        let material = TLSMaterial(chain: identity.chain, privateKey: NIOSSLPrivateKey(customPrivateKey: key),
                                   keyPublicKey: try Certificate.PublicKey(derEncoded: spki), trust: ClientTrust(), origin: "cluster peer key")
        try material.checkKeyMatchesCertificate()
        let serverContext = try TLSReloader.context(material, clientAuthRequired: true)
        let chain = try identity.chain.map { NIOSSLCertificateSource.certificate(try NIOSSLCertificate(bytes: try $0.derEncoded(), format: .der)) }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        // Replaced by the pin check of `clientVerification`; no CA or host name is involved.
        configuration.certificateVerification = .noHostnameVerification
        configuration.certificateChain = chain
        configuration.privateKey = .privateKey(material.privateKey)
        let clientContext = try NIOSSLContext(configuration: configuration)
        let pin = try identity.pin
        server.install(.init(context: serverContext, verification: serverVerification(), material: material))
        client.withLock { $0 = (clientContext, pin) }
    }

    var clientContext: NIOSSLContext? { client.withLock { $0?.context } }

    /// The listener accepts a client certificate whose key is a replica's or a client's listed pin.
    private func serverVerification() -> TLSContextHolder.Verification {
        let directory = self.directory
        return { certificates, promise in
            promise.succeed(Self.leafPin(certificates).flatMap(directory.node(presenting:)) != nil ? .certificateVerified : .failed)
        }
    }

    /// The client accepts the server only when its key is one listed for the replica called.
    /// With `anyKey` (a request for log entries or stable checkpoints, whose answers are verified
    /// from genesis and trust no peer) any key is accepted: a replica that was down while its
    /// peers rotated their TLS keys learns their new pins only from the log it fetches.
    func clientVerification(for replica: ReplicaID, anyKey: Bool = false) -> TLSContextHolder.Verification {
        let directory = self.directory
        return { certificates, promise in
            let accepted = Self.leafPin(certificates).map { anyKey || directory.peer(replica)?.pins.contains($0) == true } ?? false
            promise.succeed(accepted ? .certificateVerified : .failed)
        }
    }

    static func leafPin(_ certificates: [NIOSSLCertificate]) -> PublicKeyPin? {
        guard let leaf = certificates.first, let der = try? leaf.toDERBytes() else { return nil }
        return try? PublicKeyPin(certificateDER: der)
    }
}
