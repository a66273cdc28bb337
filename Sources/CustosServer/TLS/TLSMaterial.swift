import Foundation
import NIOSSL
import SwiftASN1
import X509

/// What one NIOSSLContext is built from: the server's chain and key, and the clients
/// trusted at that moment.
struct TLSMaterial: Sendable {
    /// Leaf first.
    var chain: [Certificate]
    var privateKey: NIOSSLPrivateKey
    /// The public half of `privateKey`, checked against the leaf before use.
    var keyPublicKey: Certificate.PublicKey
    var trust: ClientTrust
    /// Where it came from, for logs ("files", "keystore acme/tls").
    var origin: String

    var leaf: Certificate { chain[0] }

    /// Refuses a certificate that is not the key's: a server presenting it could not
    /// complete a single handshake.
    func checkKeyMatchesCertificate() throws {
        guard !chain.isEmpty else { throw TLSMaterialError("the TLS certificate file holds no certificate") }
        guard keyPublicKey == leaf.publicKey else {
            throw TLSMaterialError("a PEM certificate that does not match its key (\(origin)): the certificate's public key is not the private key's")
        }
    }
}

/// Where the server's TLS material comes from. `changeMarker()` is cheap and polled;
/// `load()` runs when it changes (or on an explicit reload).
protocol TLSMaterialSource: Sendable {
    func changeMarker() async throws -> String
    func load() async throws -> TLSMaterial
    /// Issues a new server certificate (sources that can); false when this source cannot.
    func renew() async throws -> Bool
}

extension TLSMaterialSource {
    func renew() async throws -> Bool { false }
}

struct TLSMaterialError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Certificate {
    func derEncoded() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
