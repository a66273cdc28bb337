import CustosCrypto
import Foundation
import Testing

@Suite("HPKE sealing (X25519, HKDF-SHA256, AES-256-GCM)")
struct HPKESealingTests {
    let info = Array("custos-cluster-bundle-v1".utf8)
    let aad = [UInt8](repeating: 7, count: 34)
    let plaintext = SecretBytes([UInt8](repeating: 0x5a, count: 112))

    @Test func opensOnlyForTheRecipientWithTheSameInfoAndAssociatedData() throws {
        let recipient = KeyAgreementPrivateKey(generating: .x25519)
        let (encapsulated, ciphertext) = try HPKESealing.seal(plaintext, to: recipient.publicKey, info: info, associatedData: aad)
        #expect(encapsulated.count == 32 && ciphertext.count == 112 + 16)
        #expect(try HPKESealing.open(ciphertext, encapsulatedKey: encapsulated, with: recipient, info: info, associatedData: aad).isEqual(to: plaintext))

        let other = KeyAgreementPrivateKey(generating: .x25519)
        #expect(throws: CustosCryptoError.authenticationFailed) {
            _ = try HPKESealing.open(ciphertext, encapsulatedKey: encapsulated, with: other, info: info, associatedData: aad)
        }
        #expect(throws: CustosCryptoError.authenticationFailed) {
            _ = try HPKESealing.open(ciphertext, encapsulatedKey: encapsulated, with: recipient, info: info, associatedData: aad + [0])
        }
        #expect(throws: CustosCryptoError.authenticationFailed) {
            _ = try HPKESealing.open(ciphertext, encapsulatedKey: encapsulated, with: recipient, info: info + [0], associatedData: aad)
        }
        var altered = ciphertext
        altered[0] ^= 1
        #expect(throws: CustosCryptoError.authenticationFailed) {
            _ = try HPKESealing.open(altered, encapsulatedKey: encapsulated, with: recipient, info: info, associatedData: aad)
        }
    }

    @Test func lowOrderKeysAreRefusedOnBothSides() throws {
        let zero = [UInt8](repeating: 0, count: 32)
        // Two low-order points: u = 0 (order 1) and u = 1 (order 4).
        let one = [1] + [UInt8](repeating: 0, count: 31)
        for point in [zero, one] {
            let lowOrder = try KeyAgreementPublicKey(rawRepresentation: point, algorithm: .x25519)
            #expect(throws: CustosCryptoError.self) {
                _ = try HPKESealing.seal(plaintext, to: lowOrder, info: info, associatedData: aad)
            }
            let recipient = KeyAgreementPrivateKey(generating: .x25519)
            #expect(throws: CustosCryptoError.authenticationFailed) {
                _ = try HPKESealing.open([UInt8](repeating: 0, count: 128), encapsulatedKey: point, with: recipient, info: info, associatedData: aad)
            }
        }
    }
}
