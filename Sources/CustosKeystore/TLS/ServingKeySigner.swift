import CustosCrypto

/// The signer a TLS server holds for its own key: before each handshake signature it
/// asks the keystore again whether the key may still be used, so disabling or
/// destroying the key, or the root's kill switch, stops new handshakes at once instead
/// of leaving an unlocked copy serving until the next restart.
struct ServingKeySigner: KeySigner {
    let base: any KeySigner
    let keys: KeyService
    let tenant: TenantID
    let alias: KeyAlias

    var scheme: SignatureScheme { base.scheme }
    var publicKey: SigningPublicKey { base.publicKey }

    func sign(_ message: [UInt8], format: SignatureFormat?) async throws -> Signature {
        try keys.requireUnsealed()
        _ = try await keys.usableRecord(tenant: tenant, alias: alias)
        return try await base.sign(message, format: format)
    }
}
