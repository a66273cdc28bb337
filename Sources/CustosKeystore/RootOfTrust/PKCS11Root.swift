import CPKCS11
import CustosCrypto
import Foundation

/// Where the PKCS#11 root key lives: which module, which token, which key. Nothing
/// here is SoftHSM-specific; a YubiHSM 2 or any PKCS#11 module works by configuration.
public struct PKCS11Configuration: Codable, Sendable, Equatable {
    public var module: String
    public var tokenLabel: String
    public var keyLabel: String

    public static let defaultModule = "/usr/lib/softhsm/libsofthsm2.so"
    public static let defaultKeyLabel = "custos-root"

    public init(module: String = defaultModule, tokenLabel: String, keyLabel: String = defaultKeyLabel) {
        self.module = module
        self.tokenLabel = tokenLabel
        self.keyLabel = keyLabel
    }

    enum CodingKeys: String, CodingKey {
        case module
        case tokenLabel = "token_label"
        case keyLabel = "key_label"
    }

    func validate() throws {
        guard module.hasPrefix("/") else {
            throw KeystoreError.invalidArgument("the PKCS#11 module must be an absolute path, got '\(module.prefix(200))'")
        }
        try PKCS11Modules.check(module)
        for (name, label) in [("token label", tokenLabel), ("key label", keyLabel)] {
            guard !label.isEmpty, label.utf8.count <= 32, !label.utf8.contains(0) else {
                throw KeystoreError.invalidArgument("the PKCS#11 \(name) must be 1–32 bytes")
            }
        }
    }
}

/// PKCS#11 return codes as text. Only names and meanings, never values passed in.
enum PKCS11Error {
    static func describe(_ rv: UInt) -> String {
        switch rv {
        case UInt(CUSTOS_P11_MODULE_NOT_LOADED): return "the PKCS#11 module cannot be loaded"
        case UInt(CUSTOS_P11_NO_FUNCTION_LIST): return "the library is not a PKCS#11 module (no C_GetFunctionList)"
        case UInt(CUSTOS_P11_TOKEN_NOT_FOUND): return "no initialised token has this label"
        case UInt(CUSTOS_P11_KEY_NOT_FOUND): return "the key is not in the token (deleted?)"
        case UInt(CUSTOS_P11_BUFFER_TOO_SMALL): return "a value is larger than expected"
        case 0x05: return "CKR_GENERAL_ERROR"
        case 0x06: return "CKR_FUNCTION_FAILED"
        case 0x07: return "CKR_ARGUMENTS_BAD"
        case 0x12: return "CKR_ATTRIBUTE_TYPE_INVALID"
        case 0x13: return "CKR_ATTRIBUTE_VALUE_INVALID"
        case 0x30: return "CKR_DEVICE_ERROR: the token failed"
        case 0x31: return "CKR_DEVICE_MEMORY: the token is full"
        case 0x32: return "CKR_DEVICE_REMOVED: the token was removed"
        case 0x40: return "CKR_ENCRYPTED_DATA_INVALID: the sealed root key does not open under this key"
        case 0x41: return "CKR_ENCRYPTED_DATA_LEN_RANGE: the sealed root key is malformed"
        case 0x60: return "CKR_KEY_HANDLE_INVALID: the key is gone"
        case 0x68: return "CKR_KEY_FUNCTION_NOT_PERMITTED"
        case 0x70: return "CKR_MECHANISM_INVALID: the token does not support this mechanism"
        case 0x71: return "CKR_MECHANISM_PARAM_INVALID"
        case 0x82: return "CKR_OBJECT_HANDLE_INVALID: the key is gone"
        case 0xA0: return "CKR_PIN_INCORRECT: wrong PIN"
        case 0xA4: return "CKR_PIN_LOCKED: the PIN is locked"
        case 0xB3: return "CKR_SESSION_HANDLE_INVALID"
        case 0xC0: return "CKR_SIGNATURE_INVALID"
        case 0xD0: return "CKR_TEMPLATE_INCOMPLETE"
        case 0xD1: return "CKR_TEMPLATE_INCONSISTENT"
        case 0xE0: return "CKR_TOKEN_NOT_PRESENT: the token is not present"
        case 0xE1: return "CKR_TOKEN_NOT_RECOGNIZED"
        case 0x101: return "CKR_USER_NOT_LOGGED_IN"
        case 0x102: return "CKR_USER_PIN_NOT_INITIALIZED"
        case 0x130: return "CKR_DOMAIN_PARAMS_INVALID: the token does not support this curve"
        case 0x150: return "CKR_BUFFER_TOO_SMALL"
        case 0x190: return "CKR_CRYPTOKI_NOT_INITIALIZED"
        default: return "PKCS#11 error 0x" + String(rv, radix: 16)
        }
    }
}

/// One logged-in session on a token. PKCS#11 sessions are not for concurrent use, so
/// every call holds the session's lock; close it when done.
final class PKCS11Session: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()
    let configuration: PKCS11Configuration

    /// Opens a session and logs in. Errors say what failed (module, token, PIN), never the PIN.
    init(_ configuration: PKCS11Configuration, pin: SecretBytes) throws {
        self.configuration = configuration
        // The only place a module is loaded: nothing not allowed reaches dlopen.
        try PKCS11Modules.check(configuration.module)
        var session: OpaquePointer?
        let rv = pin.withUnsafeBytes { bytes in
            custos_p11_open(configuration.module, configuration.tokenLabel,
                            bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &session)
        }
        guard rv == 0, let session else {
            throw KeystoreError.unsealFailed("pkcs11: \(PKCS11Error.describe(UInt(rv))) (module \(configuration.module), token '\(configuration.tokenLabel)')")
        }
        handle = session
    }

    deinit { custos_p11_close(handle) }

    /// True once the module was re-initialised (another user saw its token fail): the
    /// session is gone and a new one must be opened.
    var isStale: Bool { custos_p11_is_stale(handle) != 0 }

    func call<T>(_ body: (OpaquePointer) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(handle)
    }

    func check(_ rv: UInt, _ what: String) throws {
        guard rv == 0 else {
            throw KeystoreError.unsealFailed("pkcs11: \(what): \(PKCS11Error.describe(rv)) (token '\(configuration.tokenLabel)')")
        }
    }

    func findSecretKey(_ label: String) throws -> UInt? {
        var key: UInt = 0
        let rv = call { custos_p11_find_secret_key($0, label, &key) }
        if rv == UInt(CUSTOS_P11_KEY_NOT_FOUND) { return nil }
        try check(rv, "finding key '\(label)'")
        return key
    }

    func gcm(encrypt: Bool, key: UInt, iv: [UInt8], aad: [UInt8], input: UnsafeRawBufferPointer) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: input.count + 16)
        // A decryption's output is the root key: the working buffer is wiped, and so
        // must the caller wipe the copy it gets.
        defer { if !encrypt { SecretBytes.zeroize(&out) } }
        var length = out.count
        let rv = call { session in
            out.withUnsafeMutableBufferPointer { outBuffer in
                let inPointer = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
                return encrypt
                    ? custos_p11_gcm_encrypt(session, key, iv, aad, aad.count, inPointer, input.count, outBuffer.baseAddress, &length)
                    : custos_p11_gcm_decrypt(session, key, iv, aad, aad.count, inPointer, input.count, outBuffer.baseAddress, &length)
            }
        }
        try check(rv, encrypt ? "AES-GCM encryption" : "AES-GCM decryption")
        return Array(out.prefix(length))
    }
}

/// The root key wrapped by a non-extractable AES-256 key inside a PKCS#11 token, with
/// AES-GCM (the binding context as associated data). Each seal or unseal opens its
/// own session, so a removed token, a deleted key or a changed PIN shows at once.
public struct PKCS11Sealer: RootSealer {
    public let provider = "pkcs11"
    public let configuration: PKCS11Configuration
    private let pin: SecretBytes

    public init(configuration: PKCS11Configuration, pin: SecretBytes) throws {
        try configuration.validate()
        guard pin.count > 0 else { throw KeystoreError.invalidArgument("the PKCS#11 PIN is empty") }
        self.configuration = configuration
        self.pin = pin
    }

    func session() throws -> PKCS11Session {
        try PKCS11Session(configuration, pin: pin)
    }

    /// Uses the token's key with this label, creating it (sensitive, not extractable) if absent.
    public func prepare() async throws {
        let session = try session()
        if try session.findSecretKey(configuration.keyLabel) != nil { return }
        var key: UInt = 0
        let rv = session.call { custos_p11_generate_aes_key($0, configuration.keyLabel, &key) }
        try session.check(rv, "creating AES key '\(configuration.keyLabel)'")
    }

    private func key(in session: PKCS11Session) throws -> UInt {
        guard let key = try session.findSecretKey(configuration.keyLabel) else {
            throw KeystoreError.unsealFailed("pkcs11: the wrapping key '\(configuration.keyLabel)' is not in token '\(configuration.tokenLabel)' (deleted?)")
        }
        return key
    }

    public func seal(_ rootKey: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
        let session = try session()
        let key = try key(in: session)
        let iv = SecretBytes(randomCount: 12).copyBytes()
        let sealed = try rootKey.withUnsafeBytes { try session.gcm(encrypt: true, key: key, iv: iv, aad: context, input: $0) }
        return iv + sealed
    }

    public func unseal(_ sealed: [UInt8], context: [UInt8]) async throws -> SecretBytes {
        guard sealed.count > 12 + 16 else { throw KeystoreError.unsealFailed("pkcs11: the sealed root key is malformed") }
        let session = try session()
        let key = try key(in: session)
        var plain = try Array(sealed.dropFirst(12)).withUnsafeBytes {
            try session.gcm(encrypt: false, key: key, iv: Array(sealed.prefix(12)), aad: context, input: $0)
        }
        defer { SecretBytes.zeroize(&plain) }
        return SecretBytes(plain)
    }
}
