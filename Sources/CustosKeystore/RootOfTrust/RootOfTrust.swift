import CustosCrypto

/// The top of the key hierarchy. It wraps and unwraps tenant wrapping keys and
/// nothing else; private keys never reach it.
///
/// Providers (passphrase-sealed file, TPM 2.0, PKCS#11 HSM, cloud KMS) differ in
/// where the root key lives. Each wrap binds `context` as associated data, so a
/// wrapped tenant key cannot be replayed under another tenant or generation.
public protocol RootOfTrust: Sendable {
    /// Short provider name for errors and audit: "passphrase", "tpm", "pkcs11", "kms".
    var provider: String { get }
    /// A public identifier of the current root key (never derived reversibly from it).
    var rootKeyID: String { get }
    func wrap(_ key: SecretBytes, context: [UInt8]) async throws -> [UInt8]
    func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SecretBytes
    /// Where the root stands now (readiness is true only when `.unsealed`).
    var status: RootStatus { get }
    /// Asks the provider whether access still holds, dropping or retaking the root key.
    func refresh() async -> RootStatus
}

extension RootOfTrust {
    /// A root that holds its key for the life of the process (the passphrase file)
    /// cannot be revoked from outside: it stays unsealed.
    public var status: RootStatus { .unsealed(provider: provider, rootKeyID: rootKeyID) }
    public func refresh() async -> RootStatus { status }
}

/// Associated data that ties a ciphertext to exactly one place in the hierarchy:
/// a domain label, then each field length-prefixed so no two field lists collide.
enum BindingContext {
    static func make(_ label: String, _ fields: [String]) -> [UInt8] {
        var out = Array(label.utf8)
        out.append(0)
        for field in fields {
            let bytes = Array(field.utf8)
            out.append(UInt8(truncatingIfNeeded: bytes.count >> 8))
            out.append(UInt8(truncatingIfNeeded: bytes.count))
            out += bytes
        }
        return out
    }

    static func wrappingKey(tenant: String, generation: Int) -> [UInt8] {
        make("custos.wrapping-key.v1", [tenant, String(generation)])
    }

    static func keyMaterial(tenant: String, keyID: String, version: Int, generation: Int, algorithm: String) -> [UInt8] {
        make("custos.key-material.v1", [tenant, keyID, String(version), String(generation), algorithm])
    }

    static func ciphertext(tenant: String, keyID: String, version: Int, associatedData: [UInt8]) -> [UInt8] {
        make("custos.ciphertext.v1", [tenant, keyID, String(version)]) + associatedData
    }
}
