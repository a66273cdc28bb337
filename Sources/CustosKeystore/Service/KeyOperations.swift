import CustosCrypto
import CustosStore
import Foundation

extension UnlockedKey {
    var signer: (any KeySigner)? { if case .signing(let signer) = self { signer } else { nil } }
    var aead: AEADKey? { if case .aead(let key) = self { key } else { nil } }
    var mac: MACKey? { if case .mac(let key) = self { key } else { nil } }
    /// A soft BLS12-381 key, the only kind that proves possession.
    var blsKey: SigningPrivateKey? {
        if case .signing(let signer) = self, let key = signer as? SigningPrivateKey, key.scheme == .bls12381Pop { key } else { nil }
    }
}

extension KeyService {
    // MARK: Unlocking

    /// Loads (from cache, else by unwrapping) the private half of one version.
    func unlocked(_ record: StoredKey, version: Int) async throws -> UnlockedKey {
        try requireUnsealed()
        if let cached = cache.get(keyID: record.id, version: version) { return cached }
        guard let row = try await store.version(keyID: record.id, version: version) else {
            throw KeystoreError.versionUnavailable(alias: record.alias.rawValue, version: version)
        }
        try await checkVersion(row, of: record)
        guard let stored = row.wrappedMaterial else { throw KeystoreError.keyDestroyed(tenant: record.tenant.rawValue, alias: record.alias.rawValue) }
        let context = MaterialContext(tenant: record.tenant.rawValue, keyID: record.id, alias: record.alias.rawValue, version: version,
                                      algorithm: record.algorithm)
        let key = try await protection(for: record.protection).unlock(stored, wrappingGeneration: row.wrappingGeneration, context: context)
        // The public key in the row must be the one the material produces; a swapped
        // public key would otherwise make verification lie.
        if let der = row.publicKey, key.publicKeyDER != der {
            throw KeystoreError.keyMaterialCorrupted(alias: record.alias.rawValue, version: version)
        }
        cache.put(key, keyID: record.id, version: version)
        return key
    }

    /// A record usable for private operations: exists, enabled, not destroyed. Served
    /// from the record cache when fresh, so a cached-key sign does not touch the store.
    /// Its MAC is checked when it enters the cache, so the hot path pays nothing.
    func usableRecord(tenant: TenantID, alias: KeyAlias, fresh: Bool = false) async throws -> StoredKey {
        let record: StoredKey
        if !fresh, let cached = records.get(tenant: tenant, alias: alias) {
            record = cached
        } else {
            record = try await checkedRecord(tenant: tenant, alias: alias)
            records.put(record)
        }
        switch record.status {
        case .enabled: return record
        case .disabled: throw KeystoreError.keyDisabled(tenant: tenant.rawValue, alias: alias.rawValue)
        case .destroyed: throw KeystoreError.keyDestroyed(tenant: tenant.rawValue, alias: alias.rawValue)
        }
    }

    // MARK: Signatures

    /// Signs with the primary version.
    public func sign(tenant: TenantID, alias: KeyAlias, message: [UInt8], format: SignatureFormat? = nil,
                     by principal: Principal) async throws -> SignResult {
        try await withUsableKey(.sign, .useKeys, tenant: tenant, alias: alias, by: principal, as: \.signer, toDo: "sign") { record, version, signer in
            let signature = try await signer.sign(message, format: format)
            return (SignResult(signature: signature.bytes, keyID: record.id, alias: record.alias, version: version,
                               scheme: signature.scheme, format: signature.format),
                    ["scheme": record.algorithm.identifier, "message_hmac": audit.digest(message)])
        }
    }

    /// The enabled key's record and its primary version, unlocked; refuses keys that
    /// cannot sign.
    func primarySigner(tenant: TenantID, alias: KeyAlias) async throws -> (record: StoredKey, signer: any KeySigner) {
        let (record, _, signer) = try await usableKey(tenant: tenant, alias: alias, as: \.signer, toDo: "sign")
        return (record, signer)
    }

    /// The BLS proof of possession of the primary version (PopProve), which others
    /// check before admitting this key to a multi-signature.
    public func proofOfPossession(tenant: TenantID, alias: KeyAlias, by principal: Principal) async throws -> (proof: [UInt8], version: Int) {
        try await withUsableKey(.export, .useKeys, tenant: tenant, alias: alias, by: principal, as: \.blsKey,
                                toDo: "prove possession (BLS keys only)") { _, version, key in
            ((try key.proofOfPossession(), version), ["alias": alias.rawValue, "what": "proof-of-possession"])
        }
    }

    /// Verifies against one version, or against every version whose material still
    /// exists when `version` is nil (so signatures made before a rotation verify).
    public func verify(tenant: TenantID, alias: KeyAlias, message: [UInt8], signature: [UInt8],
                       format: SignatureFormat? = nil, version: Int? = nil, by principal: Principal) async throws -> VerifyResult {
        try await audited(.verify, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.verify, tenant: tenant)
            let record = try await checkedRecord(tenant: tenant, alias: alias)
            guard record.status != .destroyed else { throw KeystoreError.keyDestroyed(tenant: tenant.rawValue, alias: alias.rawValue) }
            guard case .signing(let scheme) = record.algorithm else {
                throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: record.algorithm.identifier, operation: "verify signatures")
            }
            var candidates = try await checkedVersions(of: record).filter { $0.wrappedMaterial != nil }
            if let version {
                candidates = candidates.filter { $0.version == version }
                guard !candidates.isEmpty else { throw KeystoreError.versionUnavailable(alias: alias.rawValue, version: version) }
            }
            for row in candidates.reversed() {
                guard let der = row.publicKey else { continue }
                let key = try SigningPublicKey(encodedRepresentation: der, scheme: scheme)
                if try key.isValidSignature(signature, for: message, format: format) {
                    return .verified(version: row.version)
                }
            }
            return .notVerified
        }
    }

    // MARK: Encryption

    /// Encrypts with the primary version of an AES-256-GCM key, in the
    /// `VersionedCiphertext` format, so decryption keeps working after rotation.
    public func encrypt(tenant: TenantID, alias: KeyAlias, plaintext: [UInt8], associatedData: [UInt8] = [],
                        by principal: Principal) async throws -> [UInt8] {
        try await withUsableKey(.encrypt, .useKeys, tenant: tenant, alias: alias, by: principal, as: \.aead, toDo: "encrypt") { record, version, key in
            try await countEncryption(record, version: version)
            let aad = BindingContext.ciphertext(tenant: tenant.rawValue, keyID: record.id, version: version, associatedData: associatedData)
            let sealed = try VersionedCiphertext(keyVersion: version, box: try key.seal(plaintext, associatedData: aad)).bytes
            return (sealed, ["ciphertext_hmac": audit.digest(sealed)])
        }
    }

    public func decrypt(tenant: TenantID, alias: KeyAlias, ciphertext: [UInt8], associatedData: [UInt8] = [],
                        by principal: Principal) async throws -> SecretBytes {
        try await withUsableKey(.decrypt, .useKeys, tenant: tenant, alias: alias, by: principal,
                                version: { _ in try Self.parse(ciphertext).keyVersion }, as: \.aead, toDo: "decrypt") { record, version, key in
            let aad = BindingContext.ciphertext(tenant: tenant.rawValue, keyID: record.id, version: version, associatedData: associatedData)
            let plaintext: SecretBytes
            do {
                plaintext = try key.open(try Self.parse(ciphertext).box, associatedData: aad)
            } catch {
                throw KeystoreError.invalidCiphertext("authentication failed: wrong key, altered ciphertext or different associated data")
            }
            return (plaintext, ["ciphertext_hmac": audit.digest(ciphertext)])
        }
    }

    private static func parse(_ ciphertext: [UInt8]) throws -> VersionedCiphertext {
        do {
            return try VersionedCiphertext(parsing: ciphertext)
        } catch {
            throw KeystoreError.invalidCiphertext("not a Custos ciphertext (wrong header or too short)")
        }
    }

    // MARK: MACs

    /// HMAC with the primary version of an HMAC key.
    public func mac(tenant: TenantID, alias: KeyAlias, message: [UInt8], by principal: Principal) async throws -> (mac: [UInt8], version: Int) {
        try await withUsableKey(.hmac, .useKeys, tenant: tenant, alias: alias, by: principal, as: \.mac, toDo: "compute an HMAC") { _, version, key in
            ((key.authenticationCode(for: message), version), ["message_hmac": audit.digest(message)])
        }
    }

    /// Constant-time HMAC check against any version whose material still exists.
    /// Audited like the other uses of a key: the record names the version that matched
    /// (none when the code is wrong) and the result.
    public func verifyMAC(tenant: TenantID, alias: KeyAlias, message: [UInt8], mac: [UInt8], by principal: Principal) async throws -> Bool {
        try await audited(.hmacVerify, by: principal, tenant: tenant, alias: alias) {
            try principal.authorize(.useKeys, tenant: tenant)
            let record = try await usableRecord(tenant: tenant, alias: alias)
            var matched: Int?
            for row in try await checkedVersions(of: record).reversed() where row.wrappedMaterial != nil {
                guard let key = try await unlocked(record, version: row.version).mac else {
                    throw KeystoreError.wrongKeyKind(alias: alias.rawValue, algorithm: record.algorithm.identifier, operation: "verify an HMAC")
                }
                if key.isValidAuthenticationCode(mac, for: message) {
                    matched = row.version
                    break
                }
            }
            try await recordSuccess(event(.hmacVerify, by: principal, tenant: tenant, keyID: record.id, version: matched,
                                          details: ["valid": matched == nil ? "false" : "true", "message_hmac": audit.digest(message)]))
            return matched != nil
        }
    }
}
