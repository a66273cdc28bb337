import CustosPKI
import CustosCrypto
import CustosEthereum
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
    /// A key version made as many encryptions as it safely may (AES-GCM random nonces).
    case usageLimitReached(alias: String, version: Int, limit: Int64)
    case invalidArgument(String)
    /// A row in the store holds a value Custos never writes (an edit or damage).
    case corruptRecord(String)
    case auditKeyUnavailable
    /// A bearer token that is unknown, malformed, expired or revoked. One case for
    /// all of them, so a caller learns nothing about which tokens exist.
    case invalidToken
    case forbidden(String)
    /// The request's deadline passed before the operation completed.
    case deadlineExceeded
    case crypto(CustosCryptoError)
    /// A certificate that cannot be issued or parsed (see `PKIError`).
    case certificate(PKIError)
    case certificateNotFound(tenant: String, serial: String)
    /// No Ethereum account of the tenant has this address.
    case accountNotFound(tenant: String, address: String)
    /// An Ethereum transaction, message or typed data that is malformed or refused.
    case ethereum(EthereumError)
    /// An Ethereum request outside the account's signing policy.
    case policyRefused(EthereumPolicyRefusal)
    /// Concurrent writers kept changing the same state; nothing was done, and a retry may succeed.
    case conflict(String)
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
        case .usageLimitReached(let alias, let version, let limit):
            "key '\(alias)' version \(version) has made its \(limit) encryptions (AES-GCM with random nonces); rotate the key"
        case .invalidArgument(let reason): reason
        case .corruptRecord(let reason): "the store is damaged: \(reason)"
        case .auditKeyUnavailable: "the audit keys failed authentication under this root of trust"
        case .invalidToken: "invalid, expired or revoked token"
        case .forbidden(let reason): reason
        case .deadlineExceeded: "the request did not complete within its deadline"
        case .crypto(let error): error.description
        case .certificate(let error): error.description
        case .certificateNotFound(let tenant, let serial): "tenant '\(tenant)' has no certificate with serial \(serial)"
        case .accountNotFound(let tenant, let address): "tenant '\(tenant)' has no Ethereum account \(address)"
        case .ethereum(let error): error.description
        case .policyRefused(let refusal): refusal.description
        case .conflict(let reason): reason
        case .store(let error): error.description
        }
    }
}

extension KeystoreError {
    /// A stable, machine-readable code (API problem types, CLI --json errors).
    public var code: String {
        switch self {
        case .notInitialized: "not-initialized"
        case .alreadyInitialized: "already-initialized"
        case .unsealFailed: "unseal-failed"
        case .rootKeyMismatch: "root-key-mismatch"
        case .invalidName: "invalid-name"
        case .unknownCategory: "unknown-category"
        case .keyNotFound: "key-not-found"
        case .keyDisabled: "key-disabled"
        case .keyDestroyed: "key-destroyed"
        case .versionUnavailable: "version-unavailable"
        case .wrongKeyKind: "wrong-key-kind"
        case .keyMaterialCorrupted: "key-material-corrupted"
        case .wrappingKeyUnavailable: "wrapping-key-unavailable"
        case .invalidCiphertext: "invalid-ciphertext"
        case .usageLimitReached: "key-usage-exhausted"
        case .invalidArgument: "invalid-argument"
        case .corruptRecord: "corrupt-record"
        case .auditKeyUnavailable: "audit-key-unavailable"
        case .invalidToken: "invalid-token"
        case .forbidden: "forbidden"
        case .deadlineExceeded: "timeout"
        case .certificateNotFound: "certificate-not-found"
        case .accountNotFound: "key-not-found"
        case .ethereum(.invalid): "invalid-argument"
        case .ethereum(.refused): "ethereum-refused"
        case .policyRefused: "policy-refused"
        case .conflict: "conflict"
        case .certificate(let error):
            switch error {
            case .invalidPin: "invalid-pin"
            case .malformedCertificate: "malformed-certificate"
            case .invalidCertificateField: "invalid-certificate-field"
            case .unsupportedKey: "unsupported-key-type"
            case .invalidRequest: "invalid-csr"
            case .issuerRefused: "issuer-refused"
            }
        case .crypto(let error):
            switch error {
            case .unknownScheme: "unknown-scheme"
            case .unsupportedKeySize: "unsupported-key-size"
            case .invalidPrivateKey, .keyDoesNotMatchScheme: "invalid-private-key"
            case .invalidPublicKey: "invalid-public-key"
            case .malformedPEM, .malformedDER: "malformed-key-encoding"
            case .malformedSignature, .signatureFormatNotApplicable: "malformed-signature"
            case .invalidKeyLength: "invalid-key-length"
            case .authenticationFailed, .invalidCiphertext: "invalid-ciphertext"
            case .operationFailed: "crypto-failure"
            }
        case .store(let error):
            switch error {
            case .duplicateTenant: "tenant-exists"
            case .duplicateAlias: "alias-exists"
            case .duplicateName: "name-exists"
            case .tenantNotFound: "tenant-not-found"
            case .keyNotFound: "key-not-found"
            case .versionNotFound: "version-unavailable"
            case .tokenNotFound: "token-not-found"
            case .schemaTooNew: "schema-too-new"
            case .auditNotAttached: "audit-unavailable"
            case .database: "store-error"
            case .outOfRange: "out-of-range"
            case .clusterLogOutOfOrder: "log-out-of-order"
            case .clusterAlreadyJoined: "cluster-already-joined"
            }
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
    } catch let error as PKIError {
        throw KeystoreError.certificate(error)
    } catch let error as EthereumError {
        throw KeystoreError.ethereum(error)
    } catch is CancellationError {
        throw KeystoreError.deadlineExceeded
    }
}
