import Testing
@testable import BLS12381

@Suite struct DomainSeparationTests {
    private let key = BLS12381.PrivateKey.testKey(77_777)
    private let message: [UInt8] = Array("checkpoint 150".utf8)

    @Test func standardTagIsTheCiphersuiteTag() throws {
        #expect(BLS12381.DomainSeparationTag.standard.bytes == Array(BLS12381.ciphersuiteID.utf8))
        #expect(key.signature(for: message, domain: .standard) == key.signature(for: message))
    }

    @Test func aSignatureVerifiesOnlyUnderItsOwnTag() throws {
        let a = try BLS12381.DomainSeparationTag("CUSTOS-TEST-A_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")
        let b = try BLS12381.DomainSeparationTag("CUSTOS-TEST-B_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")
        let signature = key.signature(for: message, domain: a)
        #expect(signature != key.signature(for: message))
        #expect(key.publicKey.isValidSignature(signature, for: message, domain: a))
        #expect(!key.publicKey.isValidSignature(signature, for: message, domain: b))
        #expect(!key.publicKey.isValidSignature(signature, for: message))
        #expect(BLS12381.fastAggregateVerify(signature, for: message, publicKeys: [key.publicKey], domain: a))
        #expect(!BLS12381.fastAggregateVerify(signature, for: message, publicKeys: [key.publicKey]))
    }

    @Test func quorumCertificatesCarryTheirTag() throws {
        let tag = try BLS12381.DomainSeparationTag("CUSTOS-TEST-QC")
        let keys = (1...4).map { BLS12381.PrivateKey.testKey(UInt64($0) * 7_919) }
        let set = try BLS12381.SignerSet(members: keys.map { ($0.publicKey, $0.proofOfPossession()) }, threshold: 3)
        var builder = BLS12381.QuorumCertificateBuilder(signerSet: set, message: message, domain: tag)
        // A share made under the standard tag is a bad share for this builder.
        #expect(throws: BLS12381Error.badShare(index: 0)) { try builder.add(keys[0].signature(for: message), fromSignerAt: 0) }
        for i in 0..<3 { try builder.add(keys[i].signature(for: message, domain: tag), fromSignerAt: i) }
        let qc = try builder.build()
        try qc.verify(message: message, signerSet: set, domain: tag)
        #expect(throws: BLS12381Error.invalidAggregateSignature) { try qc.verify(message: message, signerSet: set) }
    }

    @Test func tagLengthIsChecked() {
        #expect(throws: BLS12381Error.invalidDomainSeparationTag(length: 0)) { try BLS12381.DomainSeparationTag([UInt8]()) }
        #expect(throws: BLS12381Error.invalidDomainSeparationTag(length: 256)) { try BLS12381.DomainSeparationTag([UInt8](repeating: 65, count: 256)) }
        #expect((try? BLS12381.DomainSeparationTag([UInt8](repeating: 65, count: 255))) != nil)
    }
}
