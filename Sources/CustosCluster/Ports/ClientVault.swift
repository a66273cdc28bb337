/// The private keys and the durable state of one client node, as `ReplicaVault` is a replica's:
/// the engine (`ClientNode`) keeps nothing that must survive a crash outside it. Every method
/// is atomic and durable when it returns.
///
/// A client key name (k, e) has three private keys: the signing key (Ed25519 or ECDSA P-256),
/// the TLS key it authenticates to the replicas with and the API TLS key of its own HTTPS API
/// (both ECDSA P-384, known by their RFC 7469 pins).
public protocol ClientVault: Sendable {
    /// Generates fresh keys for the kinds in `renewing` (signing key of the client's scheme,
    /// P-384 TLS and API TLS keys), carries the others over from `carryingFrom` (re-wrapped under
    /// `name`, public keys unchanged), lets `build` turn the public parts into the record bytes,
    /// and stores keys and bytes in one transaction. A renewed signing key keeps the scheme of
    /// `carryingFrom`'s. When a candidate for `name` exists, returns its stored bytes without
    /// calling `build` (a restart re-sends the same record). Throws
    /// `ClusterVaultError.clientKeyUnavailable` when a kind to carry is not held.
    func createCandidate(_ name: ClientKeyName, renewing: ClientKeyKinds, carryingFrom previous: ClientKeyName?,
                         build: @Sendable (ClientCandidateKeys) async throws -> [UInt8]) async throws -> [UInt8]

    /// The stored bytes of the candidate for `name`, if one was created.
    func candidate(_ name: ClientKeyName) async throws -> [UInt8]?

    /// A signature by the signing key of `name` (64 bytes). Throws
    /// `ClusterVaultError.clientKeyUnavailable` when the private key is not held.
    func signWithSigningKey(_ name: ClientKeyName, _ message: [UInt8]) async throws -> [UInt8]

    func holdsKeys(_ name: ClientKeyName) async throws -> Bool

    /// Crypto-shreds the private keys of `name` (all three kinds; a key carried over to a later
    /// name stays under that name) and records why. Idempotent.
    func destroyKeys(_ name: ClientKeyName, reason: String) async throws

    /// The client's verified copy of the key log, up to its latest stable checkpoint: appends
    /// the next entry (index = number of entries before it), refusing any other index.
    func appendLogEntry(_ entry: StoredLogEntry) async throws
    func logEntries(after index: UInt64, limit: Int) async throws -> [StoredLogEntry]

    func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) async throws
    func latestStableCheckpoint() async throws -> (boundary: UInt64, certificate: [UInt8])?
}

/// The keys of a fresh client candidate, usable only inside `ClientVault.createCandidate`'s `build`.
public struct ClientCandidateKeys: Sendable {
    public let signingKey: ClientSigningKey
    /// RFC 7469 pins of the P-384 TLS key and API TLS key.
    public let tlsPin: [UInt8]
    public let apiTLSPin: [UInt8]
    /// Signs with the candidate's signing key (64 bytes; P-256: raw r‖s).
    public let signBinding: @Sendable ([UInt8]) throws -> [UInt8]

    public init(signingKey: ClientSigningKey, tlsPin: [UInt8], apiTLSPin: [UInt8], signBinding: @escaping @Sendable ([UInt8]) throws -> [UInt8]) {
        self.signingKey = signingKey
        self.tlsPin = tlsPin
        self.apiTLSPin = apiTLSPin
        self.signBinding = signBinding
    }

    public var keySet: ClientKeySet { ClientKeySet(signingKey: signingKey, tlsPin: tlsPin, apiTLSPin: apiTLSPin) }
}
