import CustosCrypto

/// Standard protection: private material wrapped with AES-256-GCM under the tenant's
/// wrapping key, with associated data binding tenant, key id, version, wrapping
/// generation and algorithm. A box copied into another row fails to open.
public struct SoftProtection: KeyProtection {
    public let reference = ProtectionReference.soft
    let keyring: WrappingKeyring

    public func create(_ algorithm: KeyAlgorithm, options: GenerationOptions, context: MaterialContext) async throws -> ProtectedMaterial {
        try await protect(UnlockedKey.generate(algorithm, options: options), context: context)
    }

    public func protect(_ key: UnlockedKey, context: MaterialContext) async throws -> ProtectedMaterial {
        guard let material = key.softMaterial else {
            throw KeystoreError.invalidArgument("this key cannot be exported into soft protection")
        }
        let (generation, wrappingKey) = try await keyring.currentGeneration(tenant: context.tenant)
        let aad = BindingContext.keyMaterial(tenant: context.tenant, keyID: context.keyID, version: context.version,
                                             generation: generation, algorithm: context.algorithm.identifier)
        let stored = try material.withUnsafeBytes { try wrappingKey.seal($0, associatedData: aad) }
        let publicKeyDER = key.publicKeyDER
        return ProtectedMaterial(stored: stored, wrappingGeneration: generation, publicKeyDER: publicKeyDER,
                                 fingerprint: publicKeyDER.map { Fingerprint(subjectPublicKeyInfo: $0) })
    }

    /// The same material wrapped under another generation (the material is opened only
    /// into secret storage, never decoded).
    func rewrap(_ stored: [UInt8], from generation: Int, to target: (generation: Int, key: AEADKey), context: MaterialContext) async throws -> [UInt8] {
        let wrappingKey = try await keyring.key(tenant: context.tenant, generation: generation)
        let material: SecretBytes
        do {
            material = try wrappingKey.open(stored, associatedData: BindingContext.keyMaterial(
                tenant: context.tenant, keyID: context.keyID, version: context.version, generation: generation, algorithm: context.algorithm.identifier))
        } catch {
            throw KeystoreError.keyMaterialCorrupted(alias: context.alias, version: context.version)
        }
        let aad = BindingContext.keyMaterial(tenant: context.tenant, keyID: context.keyID, version: context.version,
                                             generation: target.generation, algorithm: context.algorithm.identifier)
        return try material.withUnsafeBytes { try target.key.seal($0, associatedData: aad) }
    }

    public func unlock(_ stored: [UInt8], wrappingGeneration: Int, context: MaterialContext) async throws -> UnlockedKey {
        let wrappingKey = try await keyring.key(tenant: context.tenant, generation: wrappingGeneration)
        let aad = BindingContext.keyMaterial(tenant: context.tenant, keyID: context.keyID, version: context.version,
                                             generation: wrappingGeneration, algorithm: context.algorithm.identifier)
        let material: SecretBytes
        do {
            material = try wrappingKey.open(stored, associatedData: aad)
        } catch {
            throw KeystoreError.keyMaterialCorrupted(alias: context.alias, version: context.version)
        }
        do {
            return try UnlockedKey.restore(material, algorithm: context.algorithm)
        } catch {
            throw KeystoreError.keyMaterialCorrupted(alias: context.alias, version: context.version)
        }
    }
}
