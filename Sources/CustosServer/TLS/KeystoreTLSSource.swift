import Crypto
import CustosCrypto
import CustosKeystore
import CustosPKI
import Foundation
import NIOSSL
import X509

/// What the server needs from the keystore for its TLS: the certificate chain of a key
/// with its signer, the server-wide client trust set, a marker that moves with any
/// certificate or trust change, and rotation.
protocol TLSKeystore: Sendable {
    func tlsServerCertificate(tenant: String, alias: String) async throws -> (chainDER: [[UInt8]], signer: any KeySigner)
    func tlsTrust() async throws -> ClientTrust
    func tlsMarker() async throws -> Int64
    func rotateTLSCertificate(tenant: String, alias: String) async throws
}

/// The server's certificate and key from the keystore (`tls.key = "tenant/alias"`); the
/// key signs handshakes in the keystore (KeySignerTLSKey). Client trust is the static
/// options together with the keystore's trust set.
struct KeystoreTLSSource: TLSMaterialSource {
    let keystore: any TLSKeystore
    let tenant: String
    let alias: String
    /// `tls.client_ca` / `tls.client_pins`, added to the keystore's trust set.
    let files: PEMTrustFiles
    /// Also trust the keystore's client trust set (`tls.keystore_trust`).
    let keystoreTrust: Bool

    func changeMarker() async throws -> String {
        "\(try await keystore.tlsMarker())/\(try await files.changeMarker())"
    }

    func load() async throws -> TLSMaterial {
        let (chainDER, signer) = try await keystore.tlsServerCertificate(tenant: tenant, alias: alias)
        let chain = try chainDER.map { try Certificate(derEncoded: $0) }
        let key = try KeySignerTLSKey(signer)
        guard let spki = signer.publicKey.derRepresentation else { throw TLSMaterialError("the key \(tenant)/\(alias) has no SubjectPublicKeyInfo") }
        let trust = try files.load().union(keystoreTrust ? await keystore.tlsTrust() : ClientTrust())
        return TLSMaterial(chain: chain, privateKey: NIOSSLPrivateKey(customPrivateKey: key),
                           keyPublicKey: try Certificate.PublicKey(derEncoded: spki), trust: trust, origin: "keystore \(tenant)/\(alias)")
    }

    func renew() async throws -> Bool {
        try await keystore.rotateTLSCertificate(tenant: tenant, alias: alias)
        return true
    }
}
