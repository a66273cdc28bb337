import CustosCrypto

/// EIP-191 version 0x45, `personal_sign` and `eth_sign`: the message is prefixed with
/// "\u{19}Ethereum Signed Message:\n" and its length in decimal, so a signed message can
/// never be a valid transaction.
public enum PersonalMessage {
    public static func signingHash(_ message: some Collection<UInt8>) -> [UInt8] {
        var hasher = Keccak256()
        hasher.update(data: Array("\u{19}Ethereum Signed Message:\n\(message.count)".utf8))
        hasher.update(data: Array(message))
        return hasher.finalize()
    }

    /// The account whose key made `signature` (65 bytes r ‖ s ‖ v, v in 0, 1, 27, 28) over `message`.
    public static func signer(of message: some Collection<UInt8>, signature: some Collection<UInt8>) throws(EthereumError) -> EthereumAddress {
        try Self.recover(signature, digest: signingHash(message))
    }

    static func recover(_ signature: some Collection<UInt8>, digest: [UInt8]) throws(EthereumError) -> EthereumAddress {
        let parsed: Secp256k1.RecoverableSignature
        do {
            parsed = try Secp256k1.RecoverableSignature(ethereumRepresentation: Array(signature))
        } catch let error as Secp256k1Error {
            throw EthereumError.invalid("signature: \(error)")
        } catch {
            throw EthereumError.invalid("signature: \(error)")
        }
        do {
            return EthereumAddress(publicKey: try Secp256k1.PublicKey.recover(from: parsed, forDigest: digest))
        } catch {
            throw EthereumError.refused("no signer can be recovered from the signature")
        }
    }
}
