import CustosCluster
import CustosCrypto

/// The simulation's `ClientVault`: seeded keys (signing key Ed25519 or ECDSA P-256, TLS and API
/// TLS keys ECDSA P-384 known by the SHA-256 of their SubjectPublicKeyInfo, as RFC 7469 pins
/// them), every method atomic (an actor), its state surviving a simulated crash (the node is
/// rebuilt, the vault kept).
actor InMemoryClientVault: ClientVault {
    struct KeySet: Sendable {
        let signing: SigningPrivateKey
        let tls: SigningPrivateKey
        let apiTLS: SigningPrivateKey
    }

    struct State: Sendable {
        var keys: [ClientKeyName: KeySet] = [:]
        var destroyed: [ClientKeyName: String] = [:]
        var candidates: [ClientKeyName: [UInt8]] = [:]
        var log: [StoredLogEntry] = []
        var stable: [UInt64: [UInt8]] = [:]
    }

    let scheme: SignatureScheme
    private var state = State()
    private var random: SeededRandom

    init(seed: UInt64, scheme: SignatureScheme = .ed25519) {
        self.scheme = scheme
        random = SeededRandom(seed: seed)
    }

    // MARK: Keys of one name

    static func pin(_ key: SigningPrivateKey) -> [UInt8] { SHA256Digest.of(key.publicKey.derRepresentation!) }

    static func signingKey(_ key: SigningPrivateKey) -> ClientSigningKey {
        // The vault only generates keys of the two client schemes, whose raw forms are the wire's.
        try! ClientSigningKey(scheme: key.scheme, rawRepresentation: key.publicKey.rawRepresentation!)
    }

    static func sign(_ key: SigningPrivateKey, _ message: [UInt8]) throws -> [UInt8] {
        try key.signature(for: message, format: key.scheme == .ecdsaP256SHA256 ? .raw : nil).bytes
    }

    static func publicKeys(_ keys: KeySet) -> ClientKeySet {
        ClientKeySet(signingKey: signingKey(keys.signing), tlsPin: pin(keys.tls), apiTLSPin: pin(keys.apiTLS))
    }

    private func freshKey(_ scheme: SignatureScheme) -> SigningPrivateKey {
        // 32 bytes for Ed25519 and P-256 scalars, 48 for P-384 (below the group order but for
        // a negligible fraction of seeds).
        try! SigningPrivateKey(secretMaterial: SecretBytes(random.bytes(scheme == .ecdsaP384SHA384 ? 48 : 32)), scheme: scheme)
    }

    // MARK: Test controls

    /// The epoch-0 keys of `client` (what `custos cluster client init` creates), and the
    /// descriptor an add-client command carries.
    func initialDescriptor(cluster: [UInt8], client: ClientID) async throws -> ClientDescriptor {
        let name = ClientKeyName(client: client, epoch: 0)
        let keys = state.keys[name] ?? KeySet(signing: freshKey(scheme), tls: freshKey(.ecdsaP384SHA384), apiTLS: freshKey(.ecdsaP384SHA384))
        state.keys[name] = keys
        return try await ClientDescriptor.build(cluster: cluster, client: client, keys: Self.publicKeys(keys)) { try Self.sign(keys.signing, $0) }
    }

    func snapshot() -> State { state }
    var destroyedKeys: [ClientKeyName: String] { state.destroyed }
    var heldNames: [ClientKeyName] { state.keys.keys.sorted() }

    /// Every public key (signing key, TLS pin, API TLS pin) whose private key this vault still
    /// holds under any name: a key that is not here no longer exists anywhere in the client.
    var heldPublicKeys: Set<[UInt8]> {
        var held: Set<[UInt8]> = []
        for keys in state.keys.values {
            held.insert(keys.signing.publicKey.rawRepresentation!)
            held.insert(Self.pin(keys.tls))
            held.insert(Self.pin(keys.apiTLS))
        }
        return held
    }

    /// The public keys of a name this vault holds (test code: what a server would load).
    func publicKeys(_ name: ClientKeyName) -> ClientKeySet? { state.keys[name].map(Self.publicKeys) }

    // MARK: ClientVault

    func createCandidate(_ name: ClientKeyName, renewing: ClientKeyKinds, carryingFrom previous: ClientKeyName?,
                         build: @Sendable (ClientCandidateKeys) async throws -> [UInt8]) async throws -> [UInt8] {
        if let existing = state.candidates[name] { return existing }
        let carried = try previous.map { try usableKeys($0) }
        let renewsAll = carried == nil
        func pick(_ kind: ClientKeyKinds, _ old: SigningPrivateKey?, _ scheme: SignatureScheme) -> SigningPrivateKey {
            if !renewsAll && !renewing.contains(kind), let old { return old }
            return freshKey(scheme)
        }
        let keys = KeySet(signing: pick(.signing, carried?.signing, carried?.signing.scheme ?? scheme),
                          tls: pick(.tls, carried?.tls, .ecdsaP384SHA384),
                          apiTLS: pick(.apiTLS, carried?.apiTLS, .ecdsaP384SHA384))
        let publicKeys = Self.publicKeys(keys)
        let signing = keys.signing
        let record = try await build(ClientCandidateKeys(signingKey: publicKeys.signingKey, tlsPin: publicKeys.tlsPin,
                                                         apiTLSPin: publicKeys.apiTLSPin, signBinding: { try Self.sign(signing, $0) }))
        // Another call may have created it while `build` ran: the first one stays.
        if let existing = state.candidates[name] { return existing }
        state.candidates[name] = record
        state.keys[name] = keys
        return record
    }

    func candidate(_ name: ClientKeyName) -> [UInt8]? { state.candidates[name] }

    private func usableKeys(_ name: ClientKeyName) throws -> KeySet {
        guard state.destroyed[name] == nil, let keys = state.keys[name] else { throw ClusterVaultError.clientKeyUnavailable(name) }
        return keys
    }

    func signWithSigningKey(_ name: ClientKeyName, _ message: [UInt8]) throws -> [UInt8] {
        try Self.sign(try usableKeys(name).signing, message)
    }

    func holdsKeys(_ name: ClientKeyName) -> Bool { state.destroyed[name] == nil && state.keys[name] != nil }

    func destroyKeys(_ name: ClientKeyName, reason: String) {
        guard state.destroyed[name] == nil else { return }
        state.keys[name] = nil
        state.destroyed[name] = reason
    }

    func appendLogEntry(_ entry: StoredLogEntry) throws {
        let expected = UInt64(state.log.count)
        guard entry.index == expected else { throw ClusterVaultError.logIndexOutOfOrder(expected: expected, actual: entry.index) }
        state.log.append(entry)
    }

    func logEntries(after index: UInt64, limit: Int) -> [StoredLogEntry] {
        let start = Int(min(index, UInt64(state.log.count)))
        return Array(state.log[start...].prefix(max(0, limit)))
    }

    func saveStableCheckpoint(boundary: UInt64, certificate: [UInt8]) { state.stable[boundary] = certificate }

    func latestStableCheckpoint() -> (boundary: UInt64, certificate: [UInt8])? {
        state.stable.keys.max().map { ($0, state.stable[$0]!) }
    }
}
