import Crypto
import Foundation

/// HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM:
/// one message sealed to a recipient's X25519 public key (the replica network's bundles), or with
/// DHKEM(P-256) to a P-256 key (recovery shares for custodians).
public enum HPKESealing {
    static let ciphersuite = HPKE.Ciphersuite(kem: .Curve25519_HKDF_SHA256, kdf: .HKDF_SHA256, aead: .AES_GCM_256)

    /// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM: for recipients with P-256 keys.
    static let p256Ciphersuite = HPKE.Ciphersuite(kem: .P256_HKDF_SHA256, kdf: .HKDF_SHA256, aead: .AES_GCM_256)

    /// Seals to an X25519 key (suite 0x0020/0x0001/0x0002) or a P-256 key (0x0010/0x0001/0x0002).
    public static func seal(_ plaintext: SecretBytes, to recipient: KeyAgreementPublicKey, info: [UInt8],
                            associatedData: [UInt8]) throws -> (encapsulatedKey: [UInt8], ciphertext: [UInt8]) {
        do {
            switch recipient.backing {
            case .x25519(let key):
                // A low-order point makes every X25519 output zero, so the sealed key would be known to
                // anyone (RFC 7748 §6.1, RFC 9180 §7.1.4); swift-crypto's sender does not refuse it.
                guard hasFullOrder(key) else {
                    throw CustosCryptoError.invalidPublicKey("the X25519 public key has low order: nothing sealed to it would be secret")
                }
                var sender = try HPKE.Sender(recipientKey: key, ciphersuite: ciphersuite, info: Data(info))
                let ciphertext = try plaintext.withUnsafeBytes { try sender.seal($0, authenticating: associatedData) }
                return (Array(sender.encapsulatedKey), Array(ciphertext))
            case .p256(let key):
                var sender = try HPKE.Sender(recipientKey: key, ciphersuite: p256Ciphersuite, info: Data(info))
                let ciphertext = try plaintext.withUnsafeBytes { try sender.seal($0, authenticating: associatedData) }
                return (Array(sender.encapsulatedKey), Array(ciphertext))
            case .p384:
                throw CustosCryptoError.keyDoesNotMatchScheme(expected: "x25519 or ecdh-p256", found: recipient.algorithm.rawValue)
            }
        } catch let error as CustosCryptoError {
            throw error
        } catch {
            throw CustosCryptoError.operationFailed("HPKE sealing failed")
        }
    }

    /// Opens what `seal` made; any mismatch (another recipient, info, associated data, an
    /// altered byte) is `authenticationFailed`.
    public static func open(_ ciphertext: [UInt8], encapsulatedKey: [UInt8], with recipient: KeyAgreementPrivateKey, info: [UInt8],
                            associatedData: [UInt8]) throws -> SecretBytes {
        do {
            switch recipient.backing {
            case .x25519(let key):
                // The recipient's check of RFC 9180 §7.1.4: a low-order encapsulated key gives an all-zero DH output.
                guard encapsulatedKey.count == 32, let ephemeral = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: encapsulatedKey),
                      hasFullOrder(ephemeral) else {
                    throw CustosCryptoError.authenticationFailed
                }
                var receiver = try HPKE.Recipient(privateKey: key, ciphersuite: ciphersuite, info: Data(info), encapsulatedKey: Data(encapsulatedKey))
                return SecretBytes.consuming(try receiver.open(ciphertext, authenticating: associatedData))
            case .p256(let key):
                var receiver = try HPKE.Recipient(privateKey: key, ciphersuite: p256Ciphersuite, info: Data(info), encapsulatedKey: Data(encapsulatedKey))
                return SecretBytes.consuming(try receiver.open(ciphertext, authenticating: associatedData))
            case .p384:
                throw CustosCryptoError.keyDoesNotMatchScheme(expected: "x25519 or ecdh-p256", found: recipient.algorithm.rawValue)
            }
        } catch let error as CustosCryptoError where error != .authenticationFailed {
            throw error
        } catch {
            throw CustosCryptoError.authenticationFailed
        }
    }

    /// Whether X25519 with this point gives a non-zero output. For a low-order point every
    /// clamped scalar gives zero, so one random probe decides.
    static func hasFullOrder(_ key: Curve25519.KeyAgreement.PublicKey) -> Bool {
        guard let probe = try? Curve25519.KeyAgreement.PrivateKey().sharedSecretFromKeyAgreement(with: key) else { return false }
        return probe.withUnsafeBytes { $0.contains { $0 != 0 } }
    }
}
