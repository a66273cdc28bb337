import CustosCrypto
import CustosStore

/// Errors of the keystore layer. Descriptions name the cause and the key concerned
/// by tenant and alias, never any secret value.
public enum KeystoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case notInitialized(String)
    case alreadyInitialized(String)
    case unsealFailed(String)
    case rootKeyMismatch
    case invalidName(kind: String, value: String, rule: String)
    case unknownCategory(String)
    case keyNotFound(tenant: String, alias: String)
    case keyDisabled(tenant: String, alias: String)
    case keyDestroyed(tenant: String, alias: String)
    case versionUnavailable(alias: String, version: Int)
    case wrongKeyKind(alias: String, algorithm: String, operation: String)
    case keyMaterialCorrupted(alias: String, version: Int)
    case wrappingKeyUnavailable(tenant: String, generation: Int)
    case invalidCiphertext(String)
    case invalidArgument(String)
    case crypto(CustosCryptoError)
    case store(StoreError)

    public var description: String {
        switch self {
        case .notInitialized(let path): "no Custos data directory at \(path); run 'custos init' first"
        case .alreadyInitialized(let path): "\(path) is already initialised; refusing to overwrite its root of trust"
        case .unsealFailed(let reason): "cannot unseal the root of trust: \(reason)"
        case .rootKeyMismatch: "the root of trust does not match this database (wrong root file for this data directory)"
        case .invalidName(let kind, let value, let rule): "invalid \(kind) '\(value.prefix(80))': \(rule)"
        case .unknownCategory(let value):
            "unknown category '\(value.prefix(40))'; known: \(KeyCategory.allCases.map(\.rawValue).joined(separator: ", "))"
        case .keyNotFound(let tenant, let alias): "tenant '\(tenant)' has no key '\(alias)'"
        case .keyDisabled(let tenant, let alias): "key '\(alias)' of tenant '\(tenant)' is disabled"
        case .keyDestroyed(let tenant, let alias): "key '\(alias)' of tenant '\(tenant)' was destroyed; its material is gone"
        case .versionUnavailable(let alias, let version): "key '\(alias)' has no usable version \(version)"
        case .wrongKeyKind(let alias, let algorithm, let operation): "key '\(alias)' is \(algorithm) and cannot \(operation)"
        case .keyMaterialCorrupted(let alias, let version):
            "wrapped material of key '\(alias)' version \(version) failed authentication: it was altered or moved from another record"
        case .wrappingKeyUnavailable(let tenant, let generation):
            "wrapping key generation \(generation) of tenant '\(tenant)' is missing or failed authentication"
        case .invalidCiphertext(let reason): "invalid ciphertext: \(reason)"
        case .invalidArgument(let reason): reason
        case .crypto(let error): error.description
        case .store(let error): error.description
        }
    }
}

/// Runs `body`, turning lower-layer errors into `KeystoreError` so callers see one enum.
func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as KeystoreError {
        throw error
    } catch let error as CustosCryptoError {
        throw KeystoreError.crypto(error)
    } catch let error as StoreError {
        throw KeystoreError.store(error)
    }
}
