import Crypto
import CustosCrypto
import CustosPKI
import CustosStore
import Foundation
import SwiftASN1
import Testing
import X509

@testable import CustosKeystore

@Suite("TLS certificates from the keystore")
struct TLSCertificateTests {
    static let tenant: TenantID = "node-1"

    static func certificate(_ der: [UInt8]) throws -> Certificate { try Certificate(derEncoded: der) }

    /// `child` is signed by the key of `parent`.
    static func isSigned(_ child: [UInt8], by parent: [UInt8]) throws -> Bool {
        let child = try certificate(child)
        return try certificate(parent).publicKey.isValidSignature(child.signature, for: child)
    }

    static func makeCA(_ service: KeyService, alias: KeyAlias = "ca", scheme: SignatureScheme = .ecdsaP384SHA384, days: Int? = nil,
                       issuer: KeyAlias? = nil) async throws -> CertificateInfo {
        try await service.createCertificateAuthority(
            CertificateAuthoritySpec(tenant: tenant, alias: alias, subject: "CN=Test CA,O=Custos,C=DE", scheme: scheme, days: days, issuer: issuer), by: .local)
    }

    static func nodeSpec(alias: KeyAlias = "node", issuer: KeyAlias? = "ca", dns: [String] = ["node.example.com", "*.svc.example.com"],
                         ips: [String] = ["127.0.0.1", "::1"], days: Int? = nil, scheme: SignatureScheme? = nil) -> CertificateSpec {
        CertificateSpec(tenant: tenant, alias: alias, subject: "CN=node,OU=ops,O=Custos", issuer: issuer, dnsNames: dns, ipAddresses: ips,
                        usage: .both, days: days, scheme: scheme)
    }

    // MARK: Issuing

    @Test(arguments: [SignatureScheme.ecdsaP384SHA384, .ecdsaP256SHA256, .ed25519])
    func rootAndNodeCertificateForEachScheme(scheme: SignatureScheme) async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let ca = try await Self.makeCA(service, scheme: scheme)
        #expect(ca.isCA && ca.usages == ["ca"] && ca.subject == "CN=Test CA,O=Custos,C=DE" && ca.issuer == ca.subject)
        #expect(ca.alias == "ca" && ca.keyVersion == 1 && ca.issuerAlias == nil && ca.chainDER.count == 1)
        #expect(try Self.isSigned(ca.chainDER[0], by: ca.chainDER[0]))
        let node = try await service.issueCertificate(Self.nodeSpec(scheme: scheme), by: .local)
        #expect(!node.isCA && node.usages == ["server", "client"] && node.issuerAlias == "ca")
        #expect(node.subject == "CN=node,OU=ops,O=Custos" && node.issuer == ca.subject)
        #expect(node.dnsNames == ["node.example.com", "*.svc.example.com"] && node.ipAddresses == ["127.0.0.1", "::1"])
        #expect(node.chainDER.count == 2 && node.chainDER[1] == ca.chainDER[0])
        #expect(try Self.isSigned(node.chainDER[0], by: ca.chainDER[0]))
        #expect(node.serialHex.count == 32 && node.serialHex != ca.serialHex)
        // The pin is SHA-256 of the key's SubjectPublicKeyInfo.
        let parsed = try Self.certificate(node.chainDER[0])
        var spki = DER.Serializer()
        try spki.serialize(parsed.publicKey)
        #expect(node.pin.digest == Array(SHA256.hash(data: spki.serializedBytes)))
        #expect(parsed.notValidBefore < Date() && abs(parsed.notValidAfter.timeIntervalSinceNow - 365 * 86_400) < 120)
        // The key is a TLS key of the keystore, and signs like any other.
        let key = try await service.key(tenant: Self.tenant, alias: "node", by: .local)
        #expect(key.category == .tls && key.algorithm == .signing(scheme))
        #expect(try await service.certificates(tenant: Self.tenant, alias: nil, by: .local).count == 2)
        #expect(try await service.certificates(tenant: Self.tenant, alias: "node", by: .local) == [node])
    }

    @Test func rsaKeysAreCertifiedAndPKCS1CAsSign() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        for (alias, scheme) in [("pss-node", SignatureScheme.rsaPSSSHA256), ("pkcs1-node", .rsaPKCS1SHA256)] {
            _ = try await service.generateKey(KeySpec(tenant: Self.tenant, alias: KeyAlias(alias)!, algorithm: .signing(scheme), category: .tls,
                                                      options: GenerationOptions(rsaKeySize: .bits2048)), by: .local)
        }
        let ca = try await service.createCertificateAuthority(
            CertificateAuthoritySpec(tenant: Self.tenant, alias: "ca", subject: "CN=RSA CA", scheme: .rsaPKCS1SHA256), by: .local)
        for alias: KeyAlias in ["pss-node", "pkcs1-node"] {
            let node = try await service.issueCertificate(Self.nodeSpec(alias: alias), by: .local)
            #expect(try Self.isSigned(node.chainDER[0], by: ca.chainDER[0]))
            #expect(try Self.certificate(node.chainDER[0]).signatureAlgorithm == .sha256WithRSAEncryption)
        }
        // An RSA-PSS key cannot sign certificates (no RSASSA-PSS certificate signatures).
        let before = try await fixture.snapshot()
        await #expect(throws: KeystoreError.self) {
            _ = try await service.createCertificateAuthority(
                CertificateAuthoritySpec(tenant: Self.tenant, alias: "pss-ca", subject: "CN=PSS CA", scheme: .rsaPSSSHA256), by: .local)
        }
        #expect(try await fixture.snapshot() == before)
    }

    @Test func selfSignedCertificateForPinning() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let node = try await fixture.service.issueCertificate(Self.nodeSpec(issuer: nil, days: 30), by: .local)
        #expect(node.issuerAlias == nil && node.issuer == node.subject && node.chainDER.count == 1 && !node.isCA)
        #expect(try Self.isSigned(node.chainDER[0], by: node.chainDER[0]))
    }

    @Test func intermediateChainAndPathLength() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let root = try await Self.makeCA(service, alias: "root")
        let intermediate = try await Self.makeCA(service, alias: "inter", issuer: "root")
        #expect(intermediate.isCA && intermediate.issuerAlias == "root" && intermediate.chainDER.count == 2)
        #expect(try Self.isSigned(intermediate.chainDER[0], by: root.chainDER[0]))
        let node = try await service.issueCertificate(Self.nodeSpec(issuer: "inter"), by: .local)
        #expect(node.chainDER.count == 3 && node.chainDER[1] == intermediate.chainDER[0] && node.chainDER[2] == root.chainDER[0])
        #expect(try Self.isSigned(node.chainDER[0], by: intermediate.chainDER[0]))
        // The intermediate's path length is 0: no CA below it.
        let before = try await fixture.snapshot()
        await #expect(throws: KeystoreError.certificate(.issuerRefused("the issuer's path length (0) allows no intermediate CA below it"))) {
            _ = try await Self.makeCA(service, alias: "inter2", issuer: "inter")
        }
        #expect(try await fixture.snapshot() == before)
    }

    // MARK: Refusals (each changes nothing)

    @Test func refusalsChangeNothing() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await Self.makeCA(service, days: 100)
        _ = try await service.issueCertificate(Self.nodeSpec(alias: "leaf", days: 10), by: .local)
        _ = try await Self.makeCA(service, alias: "off")
        _ = try await service.disable(tenant: Self.tenant, alias: "off", by: .local)
        _ = try await Self.makeCA(service, alias: "gone")
        _ = try await service.destroy(tenant: Self.tenant, alias: "gone", by: .local)
        _ = try await service.generateKey(KeySpec(tenant: Self.tenant, alias: "ledger", algorithm: .signing(.ecdsaP256SHA256)), by: .local)
        let before = try await fixture.snapshot()
        let marker = try await service.tlsChangeMarker()

        func refused(_ code: String, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("expected a refusal with code \(code)")
            } catch let error as KeystoreError {
                #expect(error.code == code, "\(error)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        await refused("key-disabled") { _ = try await service.issueCertificate(Self.nodeSpec(issuer: "off"), by: .local) }
        await refused("key-destroyed") { _ = try await service.issueCertificate(Self.nodeSpec(issuer: "gone"), by: .local) }
        await refused("issuer-refused") { _ = try await service.issueCertificate(Self.nodeSpec(alias: "n2", issuer: "leaf"), by: .local) }
        await refused("issuer-refused") { _ = try await service.issueCertificate(Self.nodeSpec(days: 101), by: .local) }
        await refused("key-not-found") { _ = try await service.issueCertificate(Self.nodeSpec(issuer: "nope"), by: .local) }
        await refused("wrong-key-kind") { _ = try await service.issueCertificate(Self.nodeSpec(alias: "ledger"), by: .local) }
        await refused("wrong-key-kind") { _ = try await service.issueCertificate(Self.nodeSpec(issuer: "ledger"), by: .local) }
        await refused("unsupported-key-type") { _ = try await service.issueCertificate(Self.nodeSpec(scheme: .ecdsaSecp256k1SHA256), by: .local) }
        await refused("unsupported-key-type") { _ = try await service.issueCertificate(Self.nodeSpec(scheme: .bls12381Pop), by: .local) }
        await refused("unsupported-key-type") { _ = try await service.issueCertificate(Self.nodeSpec(scheme: .mlDSA65), by: .local) }
        await refused("unsupported-key-type") { _ = try await Self.makeCA(service, alias: "k1", scheme: .ecdsaSecp256k1SHA256) }
        for dns in ["a..b", "-a.example.com", "a.*.example.com", "*.com", "exa mple.com", "", "a_b.example.com", String(repeating: "a", count: 64) + ".com"] {
            await refused("invalid-certificate-field") { _ = try await service.issueCertificate(Self.nodeSpec(dns: [dns]), by: .local) }
        }
        for ip in ["1.2.3", "01.2.3.4", "256.1.1.1", "1.2.3.4.5", "fe80::1%eth0", "::g", "1.2.3.4 "] {
            await refused("invalid-certificate-field") { _ = try await service.issueCertificate(Self.nodeSpec(ips: [ip]), by: .local) }
        }
        for subject in ["CN=a\u{1b}[31m", "node", "CN=a,X=b", "CN=a+O=b", "O=only", "CN=a,C=Germany", "CN=a\\,b", "CN="] {
            await refused("invalid-certificate-field") {
                _ = try await service.issueCertificate(CertificateSpec(tenant: Self.tenant, alias: "n3", subject: subject, issuer: "ca"), by: .local)
            }
        }
        await refused("invalid-certificate-field") { _ = try await service.issueCertificate(Self.nodeSpec(alias: "n4", days: 0), by: .local) }
        await refused("alias-exists") { _ = try await Self.makeCA(service, alias: "leaf") }
        await refused("tenant-not-found") {
            _ = try await service.issueCertificate(CertificateSpec(tenant: "nobody", alias: "n", subject: "CN=n", issuer: nil), by: .local)
        }
        let signer = Principal(id: "token:s", tenant: Self.tenant, role: .signer)
        await refused("forbidden") { _ = try await service.issueCertificate(Self.nodeSpec(alias: "n5"), by: signer) }
        #expect(try await fixture.snapshot() == before)
        #expect(try await service.tlsChangeMarker() == marker)
    }

    // MARK: CSRs

    static func csr(_ key: P256.Signing.PrivateKey, subject: String = "CN=client-7,O=Elsewhere", dns: [String] = ["client7.example.net"]) async throws -> [UInt8] {
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(dns.map { .dnsName($0) }) }
        let request = try CertificateSigningRequest(
            version: .v1, subject: try SubjectName.parse(subject), privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes([.init(try ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    @Test func signsACertificateRequestAndRefusesABadOne() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let ca = try await Self.makeCA(service)
        let key = P256.Signing.PrivateKey()
        let der = try await Self.csr(key)
        let signed = try await service.signCertificateRequest(tenant: Self.tenant, issuer: "ca", csr: der, days: 30, usage: .client, by: .local)
        #expect(signed.alias == nil && signed.keyVersion == nil && signed.issuerAlias == "ca" && signed.usages == ["client"])
        #expect(signed.subject == "CN=client-7,O=Elsewhere" && signed.dnsNames == ["client7.example.net"])
        #expect(try Self.isSigned(signed.chainDER[0], by: ca.chainDER[0]))
        #expect(try Self.certificate(signed.chainDER[0]).publicKey == Certificate.PublicKey(key.publicKey))
        // PEM works too.
        let pem = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: try await Self.csr(P256.Signing.PrivateKey())).pemString
        _ = try await service.signCertificateRequest(tenant: Self.tenant, issuer: "ca", csr: Array(pem.utf8), days: nil, usage: .both, by: .local)

        let before = try await fixture.snapshot()
        var flipped = der
        flipped[flipped.count - 3] ^= 0x01
        await #expect(throws: KeystoreError.certificate(.invalidRequest("the certificate request's signature does not verify with its public key"))) {
            _ = try await service.signCertificateRequest(tenant: Self.tenant, issuer: "ca", csr: flipped, days: 30, usage: .client, by: .local)
        }
        await #expect(throws: KeystoreError.certificate(.invalidRequest("not a PKCS#10 certificate request (PEM or DER), or its key type is not supported (P-256, P-384, Ed25519, RSA)"))) {
            _ = try await service.signCertificateRequest(tenant: Self.tenant, issuer: "ca", csr: [0x30, 0x03, 0x02, 0x01, 0x00], days: 30, usage: .client, by: .local)
        }
        // P-521 parses but is not a key type Custos certifies.
        let p521 = try CertificateSigningRequest(version: .v1, subject: try SubjectName.parse("CN=p521"), privateKey: Certificate.PrivateKey(P521.Signing.PrivateKey()),
                                                 attributes: .init(), signatureAlgorithm: .ecdsaWithSHA512)
        var p521DER = DER.Serializer()
        try p521DER.serialize(p521)
        await #expect(throws: KeystoreError.certificate(.unsupportedKey("the request's key type is not accepted for TLS (P-256, P-384, Ed25519 or RSA only)"))) {
            _ = try await service.signCertificateRequest(tenant: Self.tenant, issuer: "ca", csr: p521DER.serializedBytes, days: 30, usage: .client, by: .local)
        }
        let badSAN = try await Self.csr(P256.Signing.PrivateKey(), dns: ["bad..name"])
        await #expect(throws: KeystoreError.self) {
            _ = try await service.signCertificateRequest(tenant: Self.tenant, issuer: "ca", csr: badSAN, days: 30, usage: .client, by: .local)
        }
        #expect(try await fixture.snapshot() == before)
    }

    // MARK: Rotation and server material

    @Test func rotationStoresTheVersionWithItsCertificate() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await Self.makeCA(service)
        let first = try await service.issueCertificate(Self.nodeSpec(days: 90, scheme: .ecdsaP256SHA256), by: .local)
        let material1 = try await service.tlsServerMaterial(tenant: Self.tenant, alias: "node")
        #expect(material1.keyVersion == 1 && material1.pin == first.pin && material1.chainDER == [first.chainDER[0]])
        let marker = try await service.tlsChangeMarker()
        let rotated = try await service.rotateTLSKey(tenant: Self.tenant, alias: "node", by: .local)
        #expect(rotated.keyVersion == 2 && rotated.pin != first.pin && rotated.issuerAlias == "ca")
        #expect(rotated.subject == first.subject && rotated.dnsNames == first.dnsNames && rotated.ipAddresses == first.ipAddresses)
        #expect(rotated.usages == first.usages && rotated.serialHex != first.serialHex)
        #expect(abs(rotated.notAfter.timeIntervalSince(rotated.notBefore) - first.notAfter.timeIntervalSince(first.notBefore)) < 5)
        #expect(try await service.tlsChangeMarker() > marker)
        let key = try await service.key(tenant: Self.tenant, alias: "node", by: .local)
        #expect(key.primaryVersion == 2)
        let material2 = try await service.tlsServerMaterial(tenant: Self.tenant, alias: "node")
        #expect(material2.keyVersion == 2 && material2.pin == rotated.pin)
        #expect(try PublicKeyPin(subjectPublicKeyInfo: material2.signer.publicKey.derRepresentation!) == rotated.pin)
        // A self-signed certificate stays self-signed.
        _ = try await service.issueCertificate(Self.nodeSpec(alias: "pinned", issuer: nil), by: .local)
        let pinned = try await service.rotateTLSKey(tenant: Self.tenant, alias: "pinned", by: .local)
        #expect(pinned.issuerAlias == nil && pinned.issuer == pinned.subject && pinned.keyVersion == 2)
        #expect(try Self.isSigned(pinned.chainDER[0], by: pinned.chainDER[0]))
    }

    /// A server holds its key's signer across handshakes: disabling or destroying the key
    /// must stop it at once, not at the server's next restart.
    @Test func theServersSignerStopsWhenItsKeyIsDisabledOrDestroyed() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await Self.makeCA(service)
        _ = try await service.issueCertificate(Self.nodeSpec(), by: .local)
        let signer = try await service.tlsServerMaterial(tenant: Self.tenant, alias: "node").signer
        let message = Array("CertificateVerify".utf8)
        let signature = try await signer.sign(message, format: .der)
        #expect(try signer.publicKey.isValidSignature(signature.bytes, for: message, format: .der))
        _ = try await service.disable(tenant: Self.tenant, alias: "node", by: .local)
        await #expect(throws: KeystoreError.keyDisabled(tenant: Self.tenant.rawValue, alias: "node")) { _ = try await signer.sign(message, format: .der) }
        _ = try await service.enable(tenant: Self.tenant, alias: "node", by: .local)
        _ = try await signer.sign(message, format: .der)
        _ = try await service.destroy(tenant: Self.tenant, alias: "node", by: .local)
        await #expect(throws: KeystoreError.keyDestroyed(tenant: Self.tenant.rawValue, alias: "node")) { _ = try await signer.sign(message, format: .der) }
    }

    @Test func rotationOfAKeyWithoutCertificateIsRefused() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: Self.tenant, alias: "bare", algorithm: .signing(.ecdsaP256SHA256), category: .tls), by: .local)
        let before = try await fixture.snapshot()
        await #expect(throws: KeystoreError.self) { _ = try await service.rotateTLSKey(tenant: Self.tenant, alias: "bare", by: .local) }
        await #expect(throws: KeystoreError.self) { _ = try await service.tlsServerMaterial(tenant: Self.tenant, alias: "bare") }
        #expect(try await fixture.snapshot() == before)
    }

    // MARK: Trust and revocation

    @Test func trustSetChangesWithoutRestartAndNeedsAdmin() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let ca = try await Self.makeCA(service)
        let client = try await service.issueCertificate(Self.nodeSpec(alias: "client"), by: .local)
        let pin = try PublicKeyPin(parsing: String(repeating: "ab", count: 32))
        var marker = try await service.tlsChangeMarker()

        try await service.trustClientPin(pin, label: "ops laptop", by: .local)
        try await service.trustCertificateAuthority(tenant: Self.tenant, alias: "ca", by: .local)
        var trust = try await service.tlsClientTrust()
        #expect(trust.pins == [pin] && trust.caCertificatesDER == [ca.chainDER[0]] && trust.revokedSerials.isEmpty)
        #expect(try await service.tlsChangeMarker() == marker + 2)
        let listing = try await service.tlsTrust(by: .local)
        #expect(listing.pins.map(\.pin) == [pin] && listing.pins[0].label == "ops laptop")
        #expect(listing.authorities.map(\.alias) == ["ca"])

        // Duplicates, unknown entries and non-admins are refused, changing nothing.
        marker = try await service.tlsChangeMarker()
        let before = try await fixture.snapshot()
        await #expect(throws: KeystoreError.self) { try await service.trustClientPin(pin, label: nil, by: .local) }
        await #expect(throws: KeystoreError.self) { try await service.trustClientPin(pin, label: "bad\u{7}", by: .local) }
        await #expect(throws: KeystoreError.self) { try await service.untrustClientPin(try PublicKeyPin(parsing: String(repeating: "cd", count: 32)), by: .local) }
        await #expect(throws: KeystoreError.self) { try await service.trustCertificateAuthority(tenant: Self.tenant, alias: "client", by: .local) }
        let operatorOfTenant = Principal(id: "token:o", tenant: nil, role: .operator)
        let tenantAdmin = Principal(id: "token:a", tenant: Self.tenant, role: .admin)
        for principal in [operatorOfTenant, tenantAdmin] {
            await #expect(throws: KeystoreError.forbidden(principal.role == .admin ? "this token is bound to another tenant" : "role 'operator' may not change the TLS client trust set")) {
                try await service.untrustClientPin(pin, by: principal)
            }
        }
        #expect(try await fixture.snapshot() == before)
        #expect(try await service.tlsChangeMarker() == marker)

        // Revocation: the serial (under its issuer's pin) and the key's pin.
        let revoked = try await service.revokeCertificate(tenant: Self.tenant, serialHex: client.serialHex.lowercased(), by: .local)
        #expect(revoked.revokedAt != nil)
        trust = try await service.tlsClientTrust()
        #expect(trust.revokedSerials == ["\(ca.pin.hex):\(client.serialHex)"] && trust.revokedPins == [client.pin])
        await #expect(throws: KeystoreError.self) { _ = try await service.revokeCertificate(tenant: Self.tenant, serialHex: client.serialHex, by: .local) }
        await #expect(throws: KeystoreError.certificateNotFound(tenant: "node-1", serial: "ABCD")) {
            _ = try await service.revokeCertificate(tenant: Self.tenant, serialHex: "abcd", by: .local)
        }

        // Disabling the CA key withdraws its trust, and a polling server sees the change.
        marker = try await service.tlsChangeMarker()
        _ = try await service.disable(tenant: Self.tenant, alias: "ca", by: .local)
        #expect(try await service.tlsChangeMarker() == marker + 1)
        #expect(try await service.tlsClientTrust().caCertificatesDER.isEmpty)
        _ = try await service.enable(tenant: Self.tenant, alias: "ca", by: .local)
        #expect(try await service.tlsClientTrust().caCertificatesDER == [ca.chainDER[0]])
        // Changes to keys of other categories leave the marker alone.
        _ = try await service.generateKey(KeySpec(tenant: Self.tenant, alias: "ledger", algorithm: .signing(.ed25519)), by: .local)
        marker = try await service.tlsChangeMarker()
        _ = try await service.rotate(tenant: Self.tenant, alias: "ledger", by: .local)
        _ = try await service.disable(tenant: Self.tenant, alias: "ledger", by: .local)
        #expect(try await service.tlsChangeMarker() == marker)

        try await service.untrustClientPin(pin, by: .local)
        try await service.untrustCertificateAuthority(tenant: Self.tenant, alias: "ca", by: .local)
        trust = try await service.tlsClientTrust()
        #expect(trust.pins.isEmpty && trust.caCertificatesDER.isEmpty)
    }

    @Test func revokeByCertificate() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let node = try await service.issueCertificate(Self.nodeSpec(issuer: nil), by: .local)
        let pem = PEMDocument(type: "CERTIFICATE", derBytes: node.chainDER[0]).pemString
        let revoked = try await service.revokeCertificate(tenant: Self.tenant, certificate: Array(pem.utf8), by: .local)
        #expect(revoked.serialHex == node.serialHex && revoked.revokedAt != nil)
        // After revocation the key has no certificate to serve.
        await #expect(throws: KeystoreError.self) { _ = try await service.tlsServerMaterial(tenant: Self.tenant, alias: "node") }
    }

    @Test func editedTrustAndCertificateRowsDoNotWidenTrust() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await Self.makeCA(service)
        let client = try await service.issueCertificate(Self.nodeSpec(alias: "client"), by: .local)
        try await service.trustClientPin(try PublicKeyPin(parsing: String(repeating: "ab", count: 32)), label: nil, by: .local)
        _ = try await service.revokeCertificate(tenant: Self.tenant, serialHex: client.serialHex, by: .local)
        // A pin swapped in the database, a forged CA row, and a revocation cleared.
        try await fixture.execute("UPDATE tls_trust SET pin = '\(unsafeRaw: String(repeating: "ef", count: 32))'")
        try await fixture.execute("INSERT INTO tls_trust (kind, tenant_id, key_id, created_at) SELECT 'authority', tenant_id, id, 0 FROM keys WHERE alias = 'client'")
        try await fixture.execute("UPDATE certificates SET revoked_at = NULL")
        let trust = try await service.tlsClientTrust()
        #expect(trust.pins.isEmpty && trust.caCertificatesDER.isEmpty)
        #expect(trust.revokedPins.contains(client.pin))
        await #expect(throws: KeystoreError.self) { _ = try await service.certificates(tenant: Self.tenant, alias: "client", by: .local) }
    }
}

@Suite("Importing a certificate issued elsewhere")
struct TLSCertificateImportTests {
    @Test func importsAMatchingCertificateAndRefusesOthers() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let tenant = TLSCertificateTests.tenant
        // "Elsewhere": a CA in another tenant of the same keystore, signing a CSR for our key.
        _ = try await service.createTenant("outside", by: .local)
        _ = try await service.createCertificateAuthority(CertificateAuthoritySpec(tenant: "outside", alias: "ca", subject: "CN=Outside CA"), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: tenant, alias: "node", algorithm: .signing(.ecdsaP256SHA256), category: .tls), by: .local)
        _ = try await service.generateKey(KeySpec(tenant: tenant, alias: "other", algorithm: .signing(.ecdsaP256SHA256), category: .tls), by: .local)
        func csr(for alias: KeyAlias) async throws -> [UInt8] {
            let (_, signer) = try await service.primarySigner(tenant: tenant, alias: alias)
            let key = try CertificateSigningKeyAdapter(signer)
            let request = try await CertificateSigningRequest(version: .v1, subject: try SubjectName.parse("CN=\(alias)"),
                                                              asyncPrivateKey: Certificate.PrivateKey(key), attributes: .init(),
                                                              signatureAlgorithm: .ecdsaWithSHA256)
            var serializer = DER.Serializer()
            try serializer.serialize(request)
            return serializer.serializedBytes
        }
        let issued = try await service.signCertificateRequest(tenant: "outside", issuer: "ca", csr: try await csr(for: "node"), days: 30, usage: .server, by: .local)
        let bundle = issued.chainDER.map(CertificatePEM.encode).joined()

        let before = try await fixture.snapshot()
        // Another key's certificate, a leaf without its chain, garbage.
        await #expect(throws: KeystoreError.self) {
            _ = try await service.importCertificate(tenant: tenant, alias: "other", certificate: Array(bundle.utf8), by: .local)
        }
        await #expect(throws: KeystoreError.self) {
            _ = try await service.importCertificate(tenant: tenant, alias: "node", certificate: issued.chainDER[0], by: .local)
        }
        await #expect(throws: KeystoreError.self) {
            _ = try await service.importCertificate(tenant: tenant, alias: "node", certificate: Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8), by: .local)
        }
        #expect(try await fixture.snapshot() == before)

        let imported = try await service.importCertificate(tenant: tenant, alias: "node", certificate: Array(bundle.utf8), by: .local)
        #expect(imported.alias == "node" && imported.keyVersion == 1 && imported.serialHex == issued.serialHex && imported.issuerAlias == nil)
        #expect(imported.chainDER == issued.chainDER)
        let material = try await service.tlsServerMaterial(tenant: tenant, alias: "node")
        #expect(material.chainDER == [issued.chainDER[0]] && material.pin == issued.pin)
        // Custos cannot renew what an outside CA issued: rotation is refused, nothing changes.
        let afterImport = try await fixture.snapshot()
        await #expect(throws: KeystoreError.self) { _ = try await service.rotateTLSKey(tenant: tenant, alias: "node", by: .local) }
        #expect(try await fixture.snapshot() == afterImport)
    }
}

/// A keystore signer as swift-certificates' private key, to make CSRs in tests.
struct CertificateSigningKeyAdapter: CustomPrivateKey {
    let signer: any KeySigner
    let publicKey: Certificate.PublicKey
    var defaultSignatureAlgorithm: Certificate.SignatureAlgorithm { .ecdsaWithSHA256 }
    var supportedSignatureAlgorithms: [Certificate.SignatureAlgorithm] { [.ecdsaWithSHA256] }

    init(_ signer: any KeySigner) throws {
        self.signer = signer
        publicKey = try Certificate.PublicKey(derEncoded: signer.publicKey.derRepresentation!)
    }

    struct Unsupported: Error {}
    func signSynchronously(bytes: some DataProtocol, signatureAlgorithm: Certificate.SignatureAlgorithm) throws -> Certificate.Signature { throw Unsupported() }
    func signAsynchronously(bytes: some DataProtocol & Sendable, signatureAlgorithm: Certificate.SignatureAlgorithm) async throws -> Certificate.Signature {
        let signature = try await signer.sign(Array(bytes), format: .der)
        return try Certificate.Signature(signatureAlgorithm: signatureAlgorithm, signatureBytes: ASN1BitString(bytes: ArraySlice(signature.bytes)))
    }
    static let defaultPEMDiscriminator = "PRIVATE KEY"
    func serializeAsPEM(discriminator: String) throws -> PEMDocument { throw Unsupported() }
    func serialize(into coder: inout DER.Serializer) throws { throw Unsupported() }
    static func == (lhs: Self, rhs: Self) -> Bool { lhs.publicKey == rhs.publicKey }
    func hash(into hasher: inout Hasher) { hasher.combine(publicKey) }
}
