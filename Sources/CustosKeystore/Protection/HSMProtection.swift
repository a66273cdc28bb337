import CPKCS11
import Crypto
import CustosCrypto
import CustosStore
import Foundation
import Synchronization
import _CryptoExtras

/// The security levels of a tenant and category (as in Corda): Standard keeps soft
/// keys wrapped in the database; High wraps that box again with an AES key inside an
/// HSM; Ultimate generates the key pair inside the HSM, where it stays.
public enum SecurityLevel: String, Sendable, CaseIterable, Codable {
    case standard, high, ultimate
}

/// A registered HSM: one logged-in session, opened on first use and opened again
/// after a failure (a token that went away and came back).
final class HSMConnection: Sendable {
    let name: String
    let configuration: PKCS11Configuration
    private let pin: SecretBytes
    private let session = Mutex<PKCS11Session?>(nil)

    /// The AES key that wraps High keys a second time.
    static let highKeyLabel = "custos-high"

    init(name: String, configuration: PKCS11Configuration, pin: SecretBytes) {
        self.name = name
        self.configuration = configuration
        self.pin = pin
    }

    /// Runs `body` with the session; on a PKCS#11 failure drops the session so the next
    /// call opens a fresh one. A session made stale by a re-initialisation of its module
    /// (the root of trust on another token of the same module recovering) is replaced
    /// before use, so that recovery costs this HSM no failed request.
    func with<T>(_ body: (PKCS11Session) throws -> T) throws -> T {
        let current: PKCS11Session = try session.withLock { session in
            if let existing = session, !existing.isStale { return existing }
            let opened = try PKCS11Session(configuration, pin: pin)
            session = opened
            return opened
        }
        do {
            return try body(current)
        } catch {
            session.withLock { if $0 === current { $0 = nil } }
            throw error
        }
    }

    /// Checks the PIN and token, and creates the High wrapping key if absent.
    func prepare() throws {
        try with { session in
            if try session.findSecretKey(Self.highKeyLabel) != nil { return }
            var key: UInt = 0
            let rv = session.call { custos_p11_generate_aes_key($0, Self.highKeyLabel, &key) }
            try session.check(rv, "creating AES key '\(Self.highKeyLabel)'")
        }
    }

    func failure(_ reason: String) -> KeystoreError {
        KeystoreError.unsealFailed("HSM '\(name)' (pkcs11): \(reason)")
    }
}

/// High: the soft protection's AES-GCM box, encrypted again inside the HSM with
/// CKM_AES_GCM under a non-extractable key; the binding context is the associated
/// data of both layers. Signing happens in memory once both layers are open.
struct HighProtection: KeyProtection {
    let soft: SoftProtection
    let hsm: HSMConnection
    var reference: ProtectionReference { .high(hsm: hsm.name) }

    func create(_ algorithm: KeyAlgorithm, options: GenerationOptions, context: MaterialContext) async throws -> ProtectedMaterial {
        try await wrapAgain(soft.create(algorithm, options: options, context: context), context: context)
    }

    func protect(_ key: UnlockedKey, context: MaterialContext) async throws -> ProtectedMaterial {
        try await wrapAgain(soft.protect(key, context: context), context: context)
    }

    private func aad(_ context: MaterialContext, generation: Int) -> [UInt8] {
        BindingContext.keyMaterial(tenant: context.tenant, keyID: context.keyID, version: context.version,
                                   generation: generation, algorithm: context.algorithm.identifier) + Array("high".utf8)
    }

    private func wrapAgain(_ material: ProtectedMaterial, context: MaterialContext) throws -> ProtectedMaterial {
        var out = material
        let iv = SecretBytes(randomCount: 12).copyBytes()
        let sealed = try hsm.with { session -> [UInt8] in
            guard let key = try session.findSecretKey(HSMConnection.highKeyLabel) else {
                throw hsm.failure("the High wrapping key '\(HSMConnection.highKeyLabel)' is not in the token")
            }
            return try material.stored.withUnsafeBytes {
                try session.gcm(encrypt: true, key: key, iv: iv, aad: aad(context, generation: material.wrappingGeneration), input: $0)
            }
        }
        out.stored = iv + sealed
        return out
    }

    func unlock(_ stored: [UInt8], wrappingGeneration: Int, context: MaterialContext) async throws -> UnlockedKey {
        guard stored.count > 28 else { throw KeystoreError.keyMaterialCorrupted(alias: context.alias, version: context.version) }
        let inner = try hsm.with { session -> [UInt8] in
            guard let key = try session.findSecretKey(HSMConnection.highKeyLabel) else {
                throw hsm.failure("the High wrapping key '\(HSMConnection.highKeyLabel)' is not in the token")
            }
            do {
                return try Array(stored.dropFirst(12)).withUnsafeBytes {
                    try session.gcm(encrypt: false, key: key, iv: Array(stored.prefix(12)), aad: aad(context, generation: wrappingGeneration), input: $0)
                }
            } catch let error as KeystoreError where error.description.contains("CKR_ENCRYPTED_DATA_INVALID") {
                throw KeystoreError.keyMaterialCorrupted(alias: context.alias, version: context.version)
            }
        }
        return try await soft.unlock(inner, wrappingGeneration: wrappingGeneration, context: context)
    }
}

/// Ultimate: the key pair is generated in the token (sensitive, never extractable) and
/// signs there through C_Sign. The database keeps only the token-side label, derived
/// as HMAC(tenant label secret, tenant ‖ alias ‖ version) so tenants cannot collide
/// or guess each other's labels.
struct UltimateProtection: KeyProtection {
    let hsm: HSMConnection
    let keyring: WrappingKeyring
    var reference: ProtectionReference { .ultimate(hsm: hsm.name) }

    static let supported: [SignatureScheme] = [.ed25519, .ecdsaP256SHA256, .ecdsaP384SHA384, .rsaPSSSHA256, .rsaPKCS1SHA256]

    private func scheme(_ algorithm: KeyAlgorithm) throws -> SignatureScheme {
        guard case .signing(let scheme) = algorithm, Self.supported.contains(scheme) else {
            throw KeystoreError.invalidArgument(
                "security level ultimate (HSM '\(hsm.name)') does not support \(algorithm.identifier); "
                + "supported: \(Self.supported.map(\.rawValue).joined(separator: ", "))")
        }
        return scheme
    }

    /// The tenant's label secret: HKDF of its first wrapping key, so it moves with
    /// root migrations and never sits in the database in clear.
    private func label(_ context: MaterialContext) async throws -> String {
        let wrapping = try await keyring.key(tenant: context.tenant, generation: 1)
        let secret = wrapping.secretMaterial.withUnsafeBytes { bytes in
            HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: bytes), info: Array("custos ultimate label secret".utf8), outputByteCount: 32)
        }
        let input = BindingContext.make("custos.ultimate-label.v1", [context.tenant, context.alias, String(context.version)])
        let mac = HMAC<SHA256>.authenticationCode(for: input, using: secret)
        return "custos-" + Hex.encode(Array(mac).prefix(16))
    }

    func create(_ algorithm: KeyAlgorithm, options: GenerationOptions, context: MaterialContext) async throws -> ProtectedMaterial {
        let scheme = try scheme(algorithm)
        let label = try await label(context)
        let publicKey = try hsm.with { session -> SigningPublicKey in
            var publicHandle: UInt = 0
            var privateHandle: UInt = 0
            let (kind, params, bits) = Self.generation(scheme, options: options)
            let rv = session.call { s in
                params.withUnsafeBufferPointer { p in
                    custos_p11_generate_key_pair(s, kind, p.baseAddress, p.count, UInt(bits), label, &publicHandle, &privateHandle)
                }
            }
            try session.check(rv, "generating a \(scheme.rawValue) key pair")
            return try HSMSigner.publicKey(session: session, handle: publicHandle, scheme: scheme)
        }
        let der = publicKey.encodedRepresentation
        return ProtectedMaterial(stored: Array(label.utf8), wrappingGeneration: 1, publicKeyDER: der,
                                 fingerprint: Fingerprint(subjectPublicKeyInfo: der))
    }

    func protect(_ key: UnlockedKey, context: MaterialContext) async throws -> ProtectedMaterial {
        throw KeystoreError.invalidArgument("security level ultimate keeps keys inside HSM '\(hsm.name)': keys are generated there, not imported")
    }

    func unlock(_ stored: [UInt8], wrappingGeneration: Int, context: MaterialContext) async throws -> UnlockedKey {
        let scheme = try scheme(context.algorithm)
        let expected = try await label(context)
        guard constantTimeEquals(stored, Array(expected.utf8)) else {
            throw KeystoreError.keyMaterialCorrupted(alias: context.alias, version: context.version)
        }
        let (privateHandle, publicKey) = try hsm.with { session -> (UInt, SigningPublicKey) in
            var privateHandle: UInt = 0
            var publicHandle: UInt = 0
            var rv = session.call { custos_p11_find_private_key($0, expected, &privateHandle) }
            if rv == UInt(CUSTOS_P11_KEY_NOT_FOUND) {
                throw hsm.failure("the key of '\(context.alias)' version \(context.version) is not in the token (deleted?)")
            }
            try session.check(rv, "finding the private key")
            rv = session.call { custos_p11_find_public_key($0, expected, &publicHandle) }
            try session.check(rv, "finding the public key")
            return (privateHandle, try HSMSigner.publicKey(session: session, handle: publicHandle, scheme: scheme))
        }
        return .signing(HSMSigner(hsm: hsm, label: expected, handle: privateHandle, scheme: scheme, publicKey: publicKey))
    }

    /// Destroys the token objects of a version (crypto-shredding in the HSM).
    func destroy(label: String) throws {
        try hsm.with { session in
            for find in [custos_p11_find_private_key, custos_p11_find_public_key] {
                var handle: UInt = 0
                let rv = session.call { find($0, label, &handle) }
                if rv == UInt(CUSTOS_P11_KEY_NOT_FOUND) { continue }
                try session.check(rv, "finding a key to destroy")
                try session.check(session.call { custos_p11_destroy($0, handle) }, "destroying a key")
            }
        }
    }

    static let p256OID: [UInt8] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
    static let p384OID: [UInt8] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22]
    static let ed25519OID: [UInt8] = [0x06, 0x03, 0x2B, 0x65, 0x70]

    static func generation(_ scheme: SignatureScheme, options: GenerationOptions) -> (Int32, [UInt8], Int) {
        switch scheme {
        case .ecdsaP256SHA256: (1, p256OID, 0)
        case .ecdsaP384SHA384: (1, p384OID, 0)
        case .ed25519: (2, ed25519OID, 0)
        default: (3, [], options.rsaKeySize.rawValue)
        }
    }

    private func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Signs inside the token with C_Sign.
struct HSMSigner: KeySigner {
    let hsm: HSMConnection
    let label: String
    let handle: UInt
    let scheme: SignatureScheme
    let publicKey: SigningPublicKey

    var rsaKeySize: RSAKeySize? {
        guard scheme.isRSA, let der = publicKey.derRepresentation, let key = try? _RSA.Signing.PublicKey(derRepresentation: der) else { return nil }
        return try? RSAKeySize(bits: key.keySizeInBits)
    }

    static func attribute(_ session: PKCS11Session, _ handle: UInt, _ type: UInt) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 1024)
        var length = out.count
        let rv = session.call { s in out.withUnsafeMutableBufferPointer { custos_p11_get_attribute(s, handle, type, $0.baseAddress, &length) } }
        try session.check(rv, "reading a public key attribute")
        return Array(out.prefix(length))
    }

    /// The public key read from the token (CKA_EC_POINT, or CKA_MODULUS and CKA_PUBLIC_EXPONENT).
    static func publicKey(session: PKCS11Session, handle: UInt, scheme: SignatureScheme) throws -> SigningPublicKey {
        do {
            if scheme.isRSA {
                let n = try attribute(session, handle, 0x120)
                let e = try attribute(session, handle, 0x122)
                let key = try _RSA.Signing.PublicKey(n: n, e: e)
                return try SigningPublicKey(derRepresentation: key.derRepresentation, scheme: scheme)
            }
            var point = try attribute(session, handle, 0x181)
            // CKA_EC_POINT is a DER OCTET STRING around the point.
            if point.count > 2, point[0] == 0x04 {
                if point[1] < 0x80, Int(point[1]) == point.count - 2 { point = Array(point.dropFirst(2)) }
                else if point[1] == 0x81, point.count > 3, Int(point[2]) == point.count - 3 { point = Array(point.dropFirst(3)) }
            }
            return try SigningPublicKey(rawRepresentation: point, scheme: scheme)
        } catch let error as KeystoreError {
            throw error
        } catch {
            throw KeystoreError.invalidArgument("the token returned a public key Custos cannot read: \(error)")
        }
    }

    func sign(_ message: [UInt8], format: SignatureFormat?) async throws -> Signature {
        var resolved: SignatureFormat? = nil
        if scheme.isECDSA {
            resolved = format ?? .der
        } else if format != nil {
            throw KeystoreError.crypto(.signatureFormatNotApplicable(scheme))
        }
        let input: [UInt8]
        let mechanism: UInt
        var pss: (hash: UInt, mgf: UInt, salt: UInt) = (0, 0, 0)
        switch scheme {
        case .ed25519: (input, mechanism) = (message, 0x1057)                       // CKM_EDDSA
        case .ecdsaP256SHA256: (input, mechanism) = (Array(SHA256.hash(data: message)), 0x1041) // CKM_ECDSA
        case .ecdsaP384SHA384: (input, mechanism) = (Array(SHA384.hash(data: message)), 0x1041)
        case .rsaPKCS1SHA256: (input, mechanism) = (message, 0x40)                   // CKM_SHA256_RSA_PKCS
        case .rsaPSSSHA256:
            (input, mechanism) = (message, 0x43)                                     // CKM_SHA256_RSA_PKCS_PSS
            pss = (0x250, 0x2, 32)                                                   // CKM_SHA256, CKG_MGF1_SHA256
        default: throw KeystoreError.invalidArgument("HSM signing does not support \(scheme.rawValue)")
        }
        var out = [UInt8](repeating: 0, count: 1024)
        var length = out.count
        func attempt(_ session: PKCS11Session, _ handle: UInt) -> UInt {
            length = out.count
            return session.call { s in
                out.withUnsafeMutableBufferPointer { o in
                    custos_p11_sign(s, handle, mechanism, pss.hash, pss.mgf, pss.salt, input, input.count, o.baseAddress, &length)
                }
            }
        }
        do {
            try hsm.with { session in try session.check(attempt(session, handle), "C_Sign") }
        } catch {
            // The token may have been re-initialised (handles change): find the key
            // again by its label on a fresh session, once.
            try hsm.with { session in
                var fresh: UInt = 0
                let found = session.call { custos_p11_find_private_key($0, label, &fresh) }
                if found == UInt(CUSTOS_P11_KEY_NOT_FOUND) { throw hsm.failure("the key is not in the token (deleted?)") }
                try session.check(found, "finding the private key")
                try session.check(attempt(session, fresh), "C_Sign")
            }
        }
        var bytes = Array(out.prefix(length))
        // The handle or label may now name another key (a token re-initialised, a key
        // swapped under the label): release only what the stored public key verifies.
        guard (try? publicKey.isValidSignature(bytes, for: message, format: scheme.isECDSA ? .raw : nil)) == true else {
            throw hsm.failure("the signature made in the token does not verify under the stored public key of '\(label)'")
        }
        if resolved == .der {
            bytes = try scheme == .ecdsaP256SHA256
                ? P256.Signing.ECDSASignature(rawRepresentation: bytes).derRepresentation.map { $0 }
                : P384.Signing.ECDSASignature(rawRepresentation: bytes).derRepresentation.map { $0 }
        }
        return Signature(scheme: scheme, format: resolved, bytes: bytes)
    }
}
