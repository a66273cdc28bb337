import CustosStore
import Foundation
import Testing

@Suite("SQLite store: certificates and TLS trust")
struct CertificateStoreTests {
    static func certificate(serial: String, keyID: String?, version: Int? = 1, chain: [[UInt8]] = [[0x30, 0x01], [0x30, 0x02, 0xff]]) -> CertificateRecord {
        CertificateRecord(tenantID: "t", keyID: keyID, keyVersion: keyID == nil ? nil : version, issuerKeyID: nil, issuerPin: "ip",
                          serial: serial, subject: "CN=x", notBefore: Date(timeIntervalSince1970: 1000), notAfter: Date(timeIntervalSince1970: 2000),
                          pin: "p-\(serial)", isCA: false, der: [0x30, 0x00, 0x01], chain: chain, createdAt: Date(), rowMAC: [7, 7])
    }

    @Test func aCertificateAndItsNewKeyAreStoredTogetherOrNotAtAll() async throws {
        try await SQLiteStoreTests.withStore { store, _ in
            #expect(try await store.tlsChangeCounter() == 0)
            let (key, version) = SQLiteStoreTests.key("node")
            let stored = try await store.insertCertificate(Self.certificate(serial: "AA", keyID: key.id), with: .newKey(key, version), audit: [])
            #expect(stored.id > 0 && stored.chain == [[0x30, 0x01], [0x30, 0x02, 0xff]] && stored.rowMAC == [7, 7] && stored.keyVersion == 1)
            #expect(try await store.key(tenantID: "t", alias: "node") != nil)
            #expect(try await store.tlsChangeCounter() == 1)
            // A serial already used: neither the second key nor its certificate is written.
            let (other, otherVersion) = SQLiteStoreTests.key("other")
            await #expect(throws: StoreError.duplicateName(kind: "certificate serial", name: "AA")) {
                _ = try await store.insertCertificate(Self.certificate(serial: "AA", keyID: other.id), with: .newKey(other, otherVersion), audit: [])
            }
            #expect(try await store.key(tenantID: "t", alias: "other") == nil)
            #expect(try await store.tlsChangeCounter() == 1)
            #expect(try await store.certificates(tenantID: "t", keyID: nil).count == 1)
        }
    }

    @Test func rotationAddsTheVersionWithItsCertificate() async throws {
        try await SQLiteStoreTests.withStore { store, _ in
            let (key, version) = SQLiteStoreTests.key("node")
            try await store.insertKey(key, version: version)
            let next = KeyVersionRecord(keyID: key.id, version: 2, publicKey: [4], fingerprint: "fp2", wrappedMaterial: [8], wrappingGeneration: 1, createdAt: Date())
            _ = try await store.insertCertificate(Self.certificate(serial: "B2", keyID: key.id, version: 2, chain: []),
                                                  with: .newVersion(next, updatedAt: Date(), keyMAC: [1]), audit: [])
            #expect(try await store.key(tenantID: "t", alias: "node")?.primaryVersion == 2)
            let rows = try await store.certificates(tenantID: "t", keyID: key.id)
            #expect(rows.map(\.keyVersion) == [2] && rows[0].chain.isEmpty)
            // The same version twice fails as a whole: the primary version stays 2 and no certificate is added.
            await #expect(throws: StoreError.self) {
                _ = try await store.insertCertificate(Self.certificate(serial: "B3", keyID: key.id, version: 2),
                                                      with: .newVersion(next, updatedAt: Date(), keyMAC: [1]), audit: [])
            }
            #expect(try await store.certificates(tenantID: "t", keyID: key.id).count == 1)
        }
    }

    @Test func revocationAndTrustBumpTheCounter() async throws {
        try await SQLiteStoreTests.withStore { store, _ in
            let stored = try await store.insertCertificate(Self.certificate(serial: "C1", keyID: nil), with: .none, audit: [])
            try await store.revokeCertificate(id: stored.id, at: Date(timeIntervalSince1970: 1500), rowMAC: [9], audit: [])
            let revoked = try await store.certificate(tenantID: "t", serial: "C1")
            #expect(revoked?.revokedAt == Date(timeIntervalSince1970: 1500) && revoked?.rowMAC == [9])
            await #expect(throws: StoreError.self) { try await store.revokeCertificate(id: stored.id, at: Date(), rowMAC: nil, audit: []) }
            #expect(try await store.allCertificates().count == 1)

            let pin = try await store.insertTrust(TLSTrustRecord(kind: .pin, pin: "ab", label: "l", createdAt: Date(), rowMAC: [1]), audit: [])
            await #expect(throws: StoreError.duplicateName(kind: "trusted pin", name: "ab")) {
                _ = try await store.insertTrust(TLSTrustRecord(kind: .pin, pin: "ab", createdAt: Date()), audit: [])
            }
            #expect(try await store.trustEntries().map(\.pin) == ["ab"])
            #expect(try await store.tlsChangeCounter() == 3)
            try await store.deleteTrust(id: pin.id, audit: [])
            #expect(try await store.trustEntries().isEmpty)
            #expect(try await store.tlsChangeCounter() == 4)
            await #expect(throws: StoreError.self) { try await store.deleteTrust(id: pin.id, audit: []) }
            #expect(try await store.tlsChangeCounter() == 4)
        }
    }
}
