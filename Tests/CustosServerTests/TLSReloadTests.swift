import Crypto
import CustosCrypto
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Testing
import X509

@testable import CustosServer

/// A live server on ReloadableTLSChannel: replacing the PEM files changes the certificate
/// the next handshake presents, while a connection opened before keeps working.
@Suite("TLS hot reload")
struct TLSReloadTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-tls-\(UUID().uuidString)")
    var certificatePath: String { directory.appendingPathComponent("server.crt").path }
    var keyPath: String { directory.appendingPathComponent("server.key").path }

    func write(_ identity: TestIdentity, certificate: Bool = true, key: Bool = true) throws {
        if certificate { try Data(identity.certificatePEM.utf8).write(to: URL(fileURLWithPath: certificatePath), options: .atomic) }
        if key { try Data(identity.key.pemRepresentation.utf8).write(to: URL(fileURLWithPath: keyPath), options: .atomic) }
    }

    func reloader(_ holder: TLSContextHolder, metrics: TLSMetrics = TLSMetrics()) -> TLSReloader {
        let source = PEMFileSource(certificatePath: certificatePath, privateKeyPath: keyPath, trustFiles: PEMTrustFiles(clientCAPath: nil, pins: []))
        return TLSReloader(source: source, holder: holder, clientAuthRequired: false, interval: .milliseconds(50), metrics: metrics,
                           logger: Logger(label: "test"))
    }

    @Test func theNextHandshakeGetsTheNewCertificateAndAnOpenConnectionKeepsWorking() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = TestIdentity.make("first", serial: 1001), second = TestIdentity.make("second", serial: 2002)
        try write(first)
        let holder = TLSContextHolder()
        let reloader = reloader(holder)
        try await reloader.start()

        try await withTLSTestServer(holder: holder) { port in

            let before = try await TLSTestClient.connect(port: port)
            #expect(try await before.get("/hello").hasSuffix("hi"))
            #expect(try await before.serverSerial() == 1001)

            // Only the certificate: it does not match the key in use, so it is refused.
            try write(second, key: false)
            await reloader.poll()
            let mismatched = try await TLSTestClient.connect(port: port)
            #expect(try await mismatched.get("/hello").hasSuffix("hi"))
            #expect(try await mismatched.serverSerial() == 1001)
            try await mismatched.close()

            // A half-written certificate file: refused as well.
            try Data(second.certificatePEM.utf8.prefix(200)).write(to: URL(fileURLWithPath: certificatePath))
            try write(second, certificate: false)
            await reloader.poll()
            #expect(holder.current?.material.leaf.serialNumber == first.certificate.serialNumber)

            try write(second)
            await reloader.poll()
            let after = try await TLSTestClient.connect(port: port)
            #expect(try await after.get("/hello").hasSuffix("hi"))
            #expect(try await after.serverSerial() == 2002)
            // The connection opened before the reload still answers, on the old certificate.
            #expect(try await before.get("/hello").hasSuffix("hi"))
            #expect(try await before.serverSerial() == 1001)
            try await before.close()
            try await after.close()
        }
    }

    @Test func aCertificateThatIsNotItsKeysIsRefusedAtStart() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try write(TestIdentity.make("one"), key: false)
        try write(TestIdentity.make("two"), certificate: false)
        let error = await #expect(throws: TLSMaterialError.self) { try await reloader(TLSContextHolder()).start() }
        #expect(error?.description.contains("a PEM certificate that does not match its key") == true)
    }

    @Test func expiryReadsAsOkExpiresSoonOrExpired() {
        let now = Date()
        #expect(TLSExpiry.status(notAfter: now + 30 * 86_400, now: now, warningDays: 14) == "ok")
        #expect(TLSExpiry.status(notAfter: now + 5.5 * 86_400, now: now, warningDays: 14) == "expires-soon (5 days)")
        #expect(TLSExpiry.status(notAfter: now - 1, now: now, warningDays: 14) == "expired")
        #expect(TLSExpiry.isReady("expires-soon (5 days)") && !TLSExpiry.isReady("expired"))
    }

    /// The keystore's signer as BoringSSL's key: a handshake signed by a CustosCrypto key
    /// of each scheme TLS 1.3 can use (the client checks CertificateVerify against the leaf).
    @Test(arguments: [(SignatureScheme.ecdsaP384SHA384, SignatureAlgorithm.ecdsaSecp384R1Sha384), (.ecdsaP256SHA256, .ecdsaSecp256R1Sha256),
                      (.ed25519, .ed25519), (.rsaPSSSHA256, .rsaPssRsaeSha256)])
    func aKeySignerSignsTheHandshake(scheme: SignatureScheme, algorithm: SignatureAlgorithm) async throws {
        let signer = try SigningPrivateKey(generating: scheme, rsaKeySize: .bits2048)
        let key = try KeySignerTLSKey(signer)
        #expect(key.signatureAlgorithms == [algorithm])
        #expect(throws: TLSMaterialError.self) { try KeySignerTLSKey(SigningPrivateKey(generating: .ecdsaSecp256k1SHA256)) }
        #expect(throws: TLSMaterialError.self) { try KeySignerTLSKey(SigningPrivateKey(generating: .rsaPKCS1SHA256, rsaKeySize: .bits2048)) }
        let publicKey = try Certificate.PublicKey(derEncoded: try #require(signer.publicKey.derRepresentation))
        let issuer = TestIdentity.make("issuer", ca: true)
        let name = try DistinguishedName { CommonName("keystore-server") }
        let certificate = try Certificate(version: .v3, serialNumber: .init(integerLiteral: 3003), publicKey: publicKey,
                                          notValidBefore: Date() - 60, notValidAfter: Date() + 86_400, issuer: issuer.certificate.subject,
                                          subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: .init(),
                                          issuerPrivateKey: .init(issuer.key))
        let material = TLSMaterial(chain: [certificate], privateKey: NIOSSLPrivateKey(customPrivateKey: key), keyPublicKey: publicKey,
                                   trust: ClientTrust(), origin: "test")
        try material.checkKeyMatchesCertificate()
        let holder = TLSContextHolder()
        holder.install(.init(context: try TLSReloader.context(material, clientAuthRequired: false), verification: nil, material: material))
        try await withTLSTestServer(holder: holder) { port in
            let client = try await TLSTestClient.connect(port: port)
            #expect(try await client.get("/hello").hasSuffix("hi"))
            #expect(try await client.serverSerial() == 3003)
            try await client.close()
        }
    }
}

/// An HTTP/1.1 client over TLS 1.3 that accepts any server certificate and reports it.
final class TLSTestClient {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator

    init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
        self.inbound = channel.inbound.makeAsyncIterator()
    }

    static func connect(port: Int) async throws -> TLSTestClient {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .none
        // BoringSSL clients leave Ed25519 out of what they offer unless asked.
        configuration.verifySignatureAlgorithms = [.ecdsaSecp384R1Sha384, .ecdsaSecp256R1Sha256, .ed25519, .rsaPssRsaeSha256]
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return TLSTestClient(channel: channel)
    }

    /// One request on this connection; the response text (headers and a short body).
    func get(_ path: String) async throws -> String {
        try await channel.outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        var text = ""
        for _ in 0..<100 {
            guard let chunk = try await inbound.next() else { break }
            text += String(buffer: chunk)
            if let split = text.range(of: "\r\n\r\n"),
               let length = text[..<split.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") })
                .flatMap({ Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }),
               text[split.upperBound...].utf8.count >= length {
                return text
            }
        }
        return text
    }

    func serverSerial() async throws -> Int? {
        guard let certificate = try await channel.channel.nioSSL_peerCertificate().get() else { return nil }
        let parsed = try Certificate(derEncoded: try certificate.toDERBytes())
        return parsed.serialNumber.bytes.reduce(0) { $0 << 8 | Int($1) }
    }

    func close() async throws {
        channel.outbound.finish()
        try await channel.channel.close()
    }
}
