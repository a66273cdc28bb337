import Crypto
import Foundation
import HummingbirdTLS
import NIOCore
import NIOSSL

/// TLS 1.3 only. With a client CA, clients must present a certificate chaining to it
/// (expiry checked by BoringSSL); with pins instead, the client's leaf certificate must
/// be one of the pinned SHA-256 fingerprints and within its validity period. Handshakes
/// that fail these checks never produce a request.
enum MutualTLS {
    static func configuration(_ tls: ServerConfiguration.TLS) throws -> TLSChannelConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(tls.certificatePath)
            key = try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)
        } catch {
            throw ServerConfiguration.Invalid(description: "cannot load the TLS certificate or key (\(tls.certificatePath), \(tls.privateKeyPath)): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv13
        guard tls.requiresClientCertificate else { return TLSChannelConfiguration(tlsConfiguration: configuration) }

        configuration.certificateVerification = .noHostnameVerification
        if let caPath = tls.clientCAPath {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
            } catch {
                throw ServerConfiguration.Invalid(description: "cannot load tls.client_ca \(caPath): \(error)")
            }
            return TLSChannelConfiguration(tlsConfiguration: configuration)
        }
        let pins = Set(tls.clientPins)
        return TLSChannelConfiguration(tlsConfiguration: configuration) { certificates, promise in
            promise.succeed(verify(certificates, pins: pins))
        }
    }

    /// A custom callback replaces BoringSSL's chain verification, so the validity
    /// period is checked here too.
    static func verify(_ certificates: [NIOSSLCertificate], pins: Set<String>) -> NIOSSLVerificationResult {
        guard let leaf = certificates.first, let der = try? leaf.toDERBytes() else { return .failed }
        let fingerprint = SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
        guard pins.contains(fingerprint) else { return .failed }
        let now = time(nil)
        guard leaf.notValidBefore <= now, now <= leaf.notValidAfter else { return .failed }
        return .certificateVerified
    }
}
