import Crypto
import CustosCrypto
import Foundation
import Synchronization

/// Where the root of trust stands: sealed (not yet opened), unsealed (keys usable), or
/// refused (the provider denied access; nothing can be decrypted until it grants it
/// again). Carries the provider name and a reason, never a secret.
public enum RootStatus: Sendable, Equatable, CustomStringConvertible {
    case sealed(provider: String)
    case unsealed(provider: String, rootKeyID: String)
    case refused(provider: String, reason: String)

    public var provider: String {
        switch self {
        case .sealed(let provider), .unsealed(let provider, _), .refused(let provider, _): provider
        }
    }

    /// True only when private keys can be used.
    public var isReady: Bool {
        if case .unsealed = self { return true }
        return false
    }

    /// The state and provider without the reason (which may name endpoints, key ids,
    /// module paths): for unauthenticated readers.
    public var summary: String {
        switch self {
        case .sealed(let provider): "sealed (\(provider))"
        case .unsealed(let provider, _): "unsealed (\(provider))"
        case .refused(let provider, _): "refused by \(provider)"
        }
    }

    public var description: String {
        switch self {
        case .sealed(let provider): "sealed (\(provider))"
        case .unsealed(let provider, let id): "unsealed (\(provider), root key \(id))"
        case .refused(let provider, let reason): "refused by \(provider): \(reason)"
        }
    }
}

/// A provider that keeps the 256-bit root key sealed: it seals it once at `custos init`
/// and opens it at every start, and again whenever Custos checks that access still
/// holds. TPM 2.0, PKCS#11 and KMS implement it; the root key is then used in memory.
public protocol RootSealer: Sendable {
    /// "tpm", "pkcs11", "kms".
    var provider: String { get }
    /// Prepares the provider for a new root (creates the HSM wrapping key, checks the KMS key).
    func prepare() async throws
    func seal(_ rootKey: SecretBytes, context: [UInt8]) async throws -> [UInt8]
    /// Throws `KeystoreError.unsealFailed` naming the provider and the cause.
    func unseal(_ sealed: [UInt8], context: [UInt8]) async throws -> SecretBytes
    /// Fresh material for a new root key (the system generator unless the provider has one).
    func newRootKey() async throws -> SecretBytes
}

extension RootSealer {
    public func newRootKey() async throws -> SecretBytes { SecretBytes(randomCount: 32) }
}

/// A root key held in memory once its provider unsealed it, dropped as soon as the
/// provider refuses (the kill switch), and taken back when the provider allows it again.
public final class SealedRoot: RootOfTrust {
    public let provider: String
    public let rootKeyID: String
    public let sealedRootKey: [UInt8]
    let sealer: any RootSealer

    private struct State {
        var key: AEADKey?
        var status: RootStatus
        var observers: [UInt64: AsyncStream<RootStatus>.Continuation] = [:]
        var nextObserver: UInt64 = 0
    }
    private let state: Mutex<State>

    private init(sealer: any RootSealer, rootKeyID: String, sealedRootKey: [UInt8], key: AEADKey) {
        self.provider = sealer.provider
        self.sealer = sealer
        self.rootKeyID = rootKeyID
        self.sealedRootKey = sealedRootKey
        self.state = Mutex(State(key: key, status: .unsealed(provider: sealer.provider, rootKeyID: rootKeyID)))
    }

    /// A new random root key sealed by `sealer`.
    public static func create(sealer: any RootSealer) async throws -> SealedRoot {
        try await sealer.prepare()
        let key = try AEADKey(secretMaterial: try await sealer.newRootKey())
        let id = RootKeyIdentifier.of(key)
        let sealed = try await sealer.seal(key.secretMaterial, context: context(provider: sealer.provider, rootKeyID: id))
        // Prove the provider opens what it sealed before anything depends on it.
        let root = try await unseal(sealer: sealer, sealedRootKey: sealed, rootKeyID: id)
        return root
    }

    /// Opens a sealed root key; fails with a clear error when the provider refuses.
    public static func unseal(sealer: any RootSealer, sealedRootKey: [UInt8], rootKeyID: String) async throws -> SealedRoot {
        let key = try await open(sealer: sealer, sealedRootKey: sealedRootKey, rootKeyID: rootKeyID)
        return SealedRoot(sealer: sealer, rootKeyID: rootKeyID, sealedRootKey: sealedRootKey, key: key)
    }

    private static func open(sealer: any RootSealer, sealedRootKey: [UInt8], rootKeyID: String) async throws -> AEADKey {
        let material: SecretBytes
        do {
            material = try await sealer.unseal(sealedRootKey, context: context(provider: sealer.provider, rootKeyID: rootKeyID))
        } catch let error as KeystoreError {
            throw error
        } catch {
            throw KeystoreError.unsealFailed("\(sealer.provider): the sealed root key does not open (altered, or recorded under another root key id)")
        }
        guard let key = try? AEADKey(secretMaterial: material), RootKeyIdentifier.of(key) == rootKeyID else {
            throw KeystoreError.unsealFailed("\(sealer.provider): the unsealed root key does not match root key \(rootKeyID)")
        }
        return key
    }

    static func context(provider: String, rootKeyID: String) -> [UInt8] {
        BindingContext.make("custos.sealed-root.v1", [provider, rootKeyID])
    }

    public var status: RootStatus { state.withLock { $0.status } }

    /// Asks the provider again. On refusal the root key is dropped from memory at once;
    /// when access returns it is unsealed again. Observers see every change.
    @discardableResult
    public func refresh() async -> RootStatus {
        let next: RootStatus
        var key: AEADKey?
        do {
            key = try await Self.open(sealer: sealer, sealedRootKey: sealedRootKey, rootKeyID: rootKeyID)
            next = .unsealed(provider: provider, rootKeyID: rootKeyID)
        } catch let error as KeystoreError {
            next = .refused(provider: provider, reason: Self.reason(error))
        } catch {
            next = .refused(provider: provider, reason: "the provider failed")
        }
        let observers: [AsyncStream<RootStatus>.Continuation] = state.withLock { state in
            state.key = key
            guard state.status != next else { return [] }
            state.status = next
            return Array(state.observers.values)
        }
        for observer in observers { observer.yield(next) }
        return next
    }

    /// Every status change from now on (the current status first).
    public func statusChanges() -> AsyncStream<RootStatus> {
        let (stream, continuation) = AsyncStream<RootStatus>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let id: UInt64 = state.withLock { state in
            let id = state.nextObserver
            state.nextObserver += 1
            state.observers[id] = continuation
            continuation.yield(state.status)
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.observers.removeValue(forKey: id) }
        }
        return stream
    }

    func currentKey() throws -> AEADKey {
        try state.withLock { state in
            if let key = state.key { return key }
            if case .refused(_, let reason) = state.status {
                throw KeystoreError.unsealFailed("\(provider) refuses access (\(reason)); no key can be decrypted")
            }
            throw KeystoreError.unsealFailed("\(provider): the root of trust is sealed")
        }
    }

    public func wrap(_ key: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
        let rootKey = try currentKey()
        return try key.withUnsafeBytes { try rootKey.seal($0, associatedData: context) }
    }

    public func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SecretBytes {
        try currentKey().open(wrapped, associatedData: context)
    }

    private static func reason(_ error: KeystoreError) -> String {
        let text = error.description
        let prefix = "cannot unseal the root of trust: "
        return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
    }
}

/// The public identifier of a root key: an HMAC of a fixed label under it, so it
/// reveals nothing about the key but changes whenever the key does.
enum RootKeyIdentifier {
    static func of(_ key: AEADKey) -> String {
        let mac = key.secretMaterial.withUnsafeBytes { material in
            HMAC<SHA256>.authenticationCode(for: Array("custos root key id".utf8), using: SymmetricKey(data: material))
        }
        return Hex.encode(Array(mac).prefix(8))
    }
}
