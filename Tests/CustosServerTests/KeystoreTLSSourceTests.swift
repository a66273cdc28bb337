import CustosCrypto
import CustosKeystore
import CustosPKI
import CustosStore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Testing
import X509

@testable import CustosServer

/// The server's TLS from a keystore key: the chain the keystore issued, the handshake
/// signed by the keystore's signer, a rotation and a trust change seen through the marker.
@Suite("TLS from the keystore")
struct KeystoreTLSSourceTests {
    @Test func aKeystoreCertificateServesAndARotationReachesTheNextHandshake() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-tls-ks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName, passphrase: SecretBytes(Array("a passphrase".utf8)),
                                             cost: .init(logN: 10, r: 8, p: 1))
        let keys = try await KeyService(store: try await SQLiteStore.open(path: directory + "/custos.sqlite"), root: root)
        let tenant = try TenantID(validating: "acme")
        _ = try await keys.createTenant(tenant, by: .local)
        _ = try await keys.createCertificateAuthority(.init(tenant: tenant, alias: try KeyAlias(validating: "ca"), subject: "CN=Acme CA"), by: .local)
        let issued = try await keys.issueCertificate(.init(tenant: tenant, alias: try KeyAlias(validating: "web"), subject: "CN=web",
                                                           issuer: try KeyAlias(validating: "ca"), ipAddresses: ["127.0.0.1"], usage: .server),
                                                     by: .local)

        let source = KeystoreTLSSource(keystore: keys, tenant: "acme", alias: "web", files: PEMTrustFiles(clientCAPath: nil, pins: []),
                                       keystoreTrust: true)
        let material = try await source.load()
        try material.checkKeyMatchesCertificate()
        let leafPin = try PublicKeyPin(material.leaf)
        // The leaf alone: a self-signed root is not sent.
        #expect(material.chain.count == 1 && leafPin == issued.pin)
        let holder = TLSContextHolder()
        let reloader = TLSReloader(source: source, holder: holder, clientAuthRequired: false, interval: .milliseconds(50),
                                   metrics: TLSMetrics(), logger: Logger(label: "test"))
        try await reloader.start()

        try await withTLSTestServer(holder: holder) { port in
            let before = try await TLSTestClient.connect(port: port)
            #expect(try await before.get("/hello").hasSuffix("hi"))
            #expect(try await before.serverPin() == issued.pin)

            // A trust change moves the marker; so does a rotation, which the next handshake shows.
            let marker = try await source.changeMarker()
            let pin = try PublicKeyPin(parsing: String(repeating: "cd", count: 32))
            try await keys.trustClientPin(pin, label: "a client", by: .local)
            #expect(try await source.changeMarker() != marker)
            #expect(try await source.load().trust.pins.contains(pin))
            #expect(try await source.renew())
            await reloader.poll()
            let rotatedPin = try PublicKeyPin(try #require(holder.current).material.leaf)
            #expect(rotatedPin != issued.pin)
            let after = try await TLSTestClient.connect(port: port)
            #expect(try await after.get("/hello").hasSuffix("hi"))
            #expect(try await after.serverPin() == rotatedPin)
            // The connection from before the rotation still answers.
            #expect(try await before.get("/hello").hasSuffix("hi"))
            #expect(try await before.serverPin() == issued.pin)
            try await before.close()
            try await after.close()
        }
        try await keys.close()
    }
}

extension KeystoreTLSSourceTests {
    /// `custos tls rotate` is another process on the same data directory: a second
    /// KeyService on the same files rotates, the server's marker moves and its next
    /// material is the new certificate, unlocked by the server itself.
    @Test func aRotationByAnotherProcessIsPickedUp() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-tls-ks2-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let passphrase = SecretBytes(Array("a passphrase".utf8))
        let rootPath = directory + "/" + PassphraseRoot.fileName, database = directory + "/custos.sqlite"
        let server = try await KeyService(store: try await SQLiteStore.open(path: database),
                                          root: try PassphraseRoot.create(at: rootPath, passphrase: passphrase, cost: .init(logN: 10)))
        let tenant = try TenantID(validating: "acme"), web = try KeyAlias(validating: "web")
        _ = try await server.createTenant(tenant, by: .local)
        let first = try await server.issueCertificate(.init(tenant: tenant, alias: web, subject: "CN=web", issuer: nil, usage: .server), by: .local)
        let source = KeystoreTLSSource(keystore: server, tenant: "acme", alias: "web", files: PEMTrustFiles(clientCAPath: nil, pins: []),
                                       keystoreTrust: true)
        let holder = TLSContextHolder()
        let reloader = TLSReloader(source: source, holder: holder, clientAuthRequired: true, interval: .milliseconds(50),
                                   metrics: TLSMetrics(), logger: Logger(label: "test"))
        try await reloader.start()

        let cli = try await KeyService(store: try await SQLiteStore.open(path: database),
                                       root: try PassphraseRoot.unseal(at: rootPath, passphrase: passphrase))
        let rotated = try await cli.rotateTLSKey(tenant: tenant, alias: web, by: .local)
        let pin = try PublicKeyPin(parsing: String(repeating: "ef", count: 32))
        try await cli.trustClientPin(pin, label: nil, by: .local)
        try await cli.close()
        await reloader.poll()
        let active = try #require(holder.current)
        #expect(try PublicKeyPin(active.material.leaf) == rotated.pin && rotated.pin != first.pin)
        #expect(active.material.trust.pins.contains(pin))
        // The server's own audit chain still verifies after the other process appended to it.
        let verification = try await server.audit.verify()
        #expect(verification.intact, "\(verification.findings)")
        try await server.close()
    }
}

extension KeystoreTLSSourceTests {
    /// tls.renew_before_days: a certificate inside the window is rotated by the server
    /// itself, audited with actor "server", and the next material is the new one;
    /// a validity no longer than the window is never renewed (it would be every hour).
    @Test func aCertificateNearExpiryIsRenewedByTheServer() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-tls-ks3-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try await KeyService(store: try await SQLiteStore.open(path: directory + "/custos.sqlite"),
                                        root: try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName,
                                                                        passphrase: SecretBytes(Array("a passphrase".utf8)), cost: .init(logN: 10)))
        let tenant = try TenantID(validating: "acme"), web = try KeyAlias(validating: "web")
        _ = try await keys.createTenant(tenant, by: .local)
        let first = try await keys.issueCertificate(.init(tenant: tenant, alias: web, subject: "CN=web", issuer: nil, usage: .server, days: 10),
                                                    by: .local)
        let source = KeystoreTLSSource(keystore: keys, tenant: "acme", alias: "web", files: PEMTrustFiles(clientCAPath: nil, pins: []),
                                       keystoreTrust: true)
        let holder = TLSContextHolder()
        let reloader = TLSReloader(source: source, holder: holder, clientAuthRequired: true, interval: .milliseconds(50),
                                   renewBeforeDays: 5, metrics: TLSMetrics(), logger: Logger(label: "test"))
        try await reloader.start()
        await reloader.poll()
        #expect(try PublicKeyPin(try #require(holder.current).material.leaf) == first.pin)  // 10 days left, window 5: kept

        // Six days on, 4 days are left: renewed.
        await reloader.poll(now: Date() + 6 * 86_400)
        let renewed = try PublicKeyPin(try #require(holder.current).material.leaf)
        #expect(renewed != first.pin)
        // Not attempted again within the hour (here the renewed certificate, 10 days from
        // the real now, reads as inside the window at the simulated date).
        await reloader.poll(now: Date() + 6 * 86_400 + 60)
        #expect(try PublicKeyPin(try #require(holder.current).material.leaf) == renewed)
        let rotations = try await keys.store.auditRecords(AuditQuery(limit: 1000)).filter { $0.operation == "tls.rotate" }
        #expect(rotations.count == 1 && rotations.first?.actor == "server")

        let short = TLSReloader(source: source, holder: holder, clientAuthRequired: true, interval: .milliseconds(50),
                                renewBeforeDays: 30, metrics: TLSMetrics(), logger: Logger(label: "test"))
        try await short.start()
        await short.poll()
        #expect(try PublicKeyPin(try #require(holder.current).material.leaf) == renewed)
        try await keys.close()
    }
}

extension TLSTestClient {
    func serverPin() async throws -> PublicKeyPin? {
        guard let certificate = try await channel.channel.nioSSL_peerCertificate().get() else { return nil }
        return try PublicKeyPin(certificateDER: try certificate.toDERBytes())
    }
}
