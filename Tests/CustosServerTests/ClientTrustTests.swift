import Crypto
import CustosPKI
import Foundation
import Testing
import X509

@testable import CustosServer

/// The decision table of ClientTrust.decide: the one place client certificates are judged.
@Suite("Client certificate decisions")
struct ClientTrustTests {
    let ca = TestIdentity.make("client-ca", ca: true, from: -10 * 86_400, to: 365 * 86_400)
    let otherCA = TestIdentity.make("other-ca", ca: true, from: -10 * 86_400, to: 365 * 86_400)

    func pin(_ identity: TestIdentity) throws -> PublicKeyPin { try PublicKeyPin(identity.certificate) }

    @Test func pinnedKeysAreAcceptedAndOthersRefused() async throws {
        let pinned = TestIdentity.make("pinned"), other = TestIdentity.make("other")
        let trust = ClientTrust(pins: [try pin(pinned)])
        #expect(await trust.decide(chainDER: [pinned.der]) == .accepted(by: "pin"))
        #expect(await trust.decide(chainDER: [other.der]) == .refused("unknown"))
        // A re-issued certificate for the same key keeps its SPKI pin.
        let reissued = TestIdentity(certificate: try reissue(pinned), key: pinned.key)
        #expect(await trust.decide(chainDER: [reissued.der]) == .accepted(by: "pin"))
    }

    @Test func wholeCertificatePinsStillWork() async throws {
        let client = TestIdentity.make("legacy")
        let trust = ClientTrust(pins: [PublicKeyPin(digest: Array(SHA256.hash(data: client.der)))])
        #expect(await trust.decide(chainDER: [client.der]) == .accepted(by: "pin"))
    }

    @Test func validityIsCheckedForPinnedAndCAIssuedCertificates() async throws {
        let expired = TestIdentity.make("expired", from: -30 * 86_400, to: -86_400)
        let early = TestIdentity.make("early", from: 86_400, to: 30 * 86_400)
        let expiredByCA = TestIdentity.make("expired-ca", issuer: ca, from: -30 * 86_400, to: -86_400)
        let trust = ClientTrust(pins: [try pin(expired), try pin(early)], caCertificates: [ca.certificate])
        #expect(await trust.decide(chainDER: [expired.der]) == .refused("expired"))
        #expect(await trust.decide(chainDER: [early.der]) == .refused("not-yet-valid"))
        #expect(await trust.decide(chainDER: [expiredByCA.der]) == .refused("expired"))
    }

    @Test func aChainToATrustedCAIsAcceptedAndAnUnknownCARefused() async throws {
        let good = TestIdentity.make("good", issuer: ca), stranger = TestIdentity.make("stranger", issuer: otherCA)
        let trust = ClientTrust(caCertificates: [ca.certificate])
        #expect(await trust.decide(chainDER: [good.der]) == .accepted(by: "ca"))
        #expect(await trust.decide(chainDER: [stranger.der]) == .refused("unknown"))
        // Sending the unknown CA along does not make it trusted.
        #expect(await trust.decide(chainDER: [stranger.der, otherCA.der]) == .refused("unknown"))
        // A certificate signed by a leaf (not a CA) is refused.
        let underLeaf = TestIdentity.make("under-leaf", issuer: good)
        #expect(await trust.decide(chainDER: [underLeaf.der, good.der]) == .refused("unknown"))
    }

    @Test func revokedKeysAndSerialsAreRefused() async throws {
        let byPin = TestIdentity.make("by-pin", issuer: ca), bySerial = TestIdentity.make("by-serial", issuer: ca, serial: 4242)
        let sameSerialOtherIssuer = TestIdentity.make("same-serial", issuer: otherCA, serial: 4242)
        let pinnedSelf = TestIdentity.make("pinned-self", serial: 77)
        var trust = ClientTrust(pins: [try pin(pinnedSelf)], caCertificates: [ca.certificate, otherCA.certificate])
        for client in [byPin, bySerial, sameSerialOtherIssuer, pinnedSelf] {
            #expect(await trust.decide(chainDER: [client.der]).isAccepted)
        }
        trust.revokedPins = [try pin(byPin)]
        trust.revokedSerials = [ClientTrust.revocationKey(issuer: try pin(ca), serial: bySerial.certificate.serialNumber),
                                ClientTrust.revocationKey(issuer: try pin(pinnedSelf), serial: pinnedSelf.certificate.serialNumber)]
        #expect(await trust.decide(chainDER: [byPin.der]) == .refused("revoked"))
        #expect(await trust.decide(chainDER: [bySerial.der]) == .refused("revoked"))
        #expect(await trust.decide(chainDER: [pinnedSelf.der]) == .refused("revoked"))
        // The serial is revoked for its issuer only.
        #expect(await trust.decide(chainDER: [sameSerialOtherIssuer.der]) == .accepted(by: "ca"))
        // A revoked pin wins over the pin list.
        trust.revokedPins.insert(try pin(pinnedSelf))
        trust.revokedSerials = []
        #expect(await trust.decide(chainDER: [pinnedSelf.der]) == .refused("revoked"))
    }

    @Test func duringARotationOldAndNewPinsBothWorkThenOnlyTheNew() async throws {
        let old = TestIdentity.make("old"), new = TestIdentity.make("new")
        let during = ClientTrust(pins: [try pin(old), try pin(new)])
        #expect(await during.decide(chainDER: [old.der]).isAccepted)
        #expect(await during.decide(chainDER: [new.der]).isAccepted)
        let after = ClientTrust(pins: [try pin(new)])
        #expect(await after.decide(chainDER: [old.der]) == .refused("unknown"))
        #expect(await after.decide(chainDER: [new.der]).isAccepted)
    }

    @Test func anEmptyTrustSetRefusesEveryoneAndGarbageIsRefused() async throws {
        let trust = ClientTrust()
        #expect(trust.acceptsNobody)
        #expect(await trust.decide(chainDER: [TestIdentity.make("anyone").der]) == .refused("unknown"))
        #expect(await trust.decide(chainDER: []) == .refused("malformed"))
        #expect(await trust.decide(chainDER: [[0x30, 0x03, 0x02, 0x01, 0x01]]) == .refused("malformed"))
    }

    /// The same subject and key, a new serial and validity.
    func reissue(_ identity: TestIdentity) throws -> X509.Certificate {
        try X509.Certificate(version: .v3, serialNumber: .init(), publicKey: identity.certificate.publicKey,
                             notValidBefore: Date() - 60, notValidAfter: Date() + 86_400, issuer: identity.certificate.subject,
                             subject: identity.certificate.subject, signatureAlgorithm: .ecdsaWithSHA256,
                             extensions: identity.certificate.extensions, issuerPrivateKey: .init(identity.key))
    }
}
