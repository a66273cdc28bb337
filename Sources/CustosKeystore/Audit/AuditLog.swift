import CustosCrypto
import CustosStore
import Foundation
import Logging
import Synchronization

/// The tamper-evident audit trail.
///
/// Each record's hash is an HMAC-SHA-256, under the chain key, of its fields and the
/// previous record's hash, so someone who can write the database but does not hold
/// the root of trust can neither edit, insert, delete nor reorder records without
/// `verify` naming the place. Payloads (messages, ciphertexts) are kept only as HMACs
/// under a separate payload key. Periodically the node's audit signing key (Ed25519)
/// signs the chain head, which also exposes truncation of the newest records.
///
/// Both keys come from one 64-byte secret created on first use and stored wrapped by
/// the root of trust.
public final class AuditLog: Sendable {
    let store: any Store
    private let chainKey: MACKey
    private let payloadKey: MACKey
    private let signingKey: SigningPrivateKey
    private let writer: GroupCommitWriter
    let clock: @Sendable () -> Date

    public var signingPublicKey: SigningPublicKey { signingKey.publicKey }
    public var signerFingerprint: String { signingKey.publicKey.fingerprint.description }

    static let metadataName = "audit_keys.v1"
    static let bindingContext = BindingContext.make("custos.audit-keys.v1", [])

    /// Opens the audit log of `store`, creating its keys on first use, and attaches
    /// the chain sealer to the store so every audited change is sealed as written.
    public static func open(store: any Store, root: any RootOfTrust,
                            clock: @escaping @Sendable () -> Date = { Date() }) async throws -> AuditLog {
        let secret: SecretBytes
        if let wrapped = try await store.metadata(metadataName) {
            secret = try await unwrap(wrapped, root: root)
        } else {
            let fresh = SecretBytes(randomCount: 64)
            let wrapped = try await root.wrap(fresh, context: bindingContext)
            // Two processes opening a new store at once: the first write wins, and
            // both use the winner's keys.
            let stored = try await store.setMetadataIfAbsent(metadataName, wrapped)
            secret = stored == wrapped ? fresh : try await unwrap(stored, root: root)
        }
        let log = try AuditLog(secret: secret, store: store, clock: clock)
        await store.setAuditSealer(ChainSealer(key: log.chainKey))
        return log
    }

    /// Root migration: the audit keys move to the new root with the wrapping keys.
    /// Idempotent, so an interrupted migration can run it again: keys already under the
    /// new root are left as they are.
    static func rewrapKeys(store: any Store, from oldRoot: any RootOfTrust, to newRoot: any RootOfTrust) async throws {
        guard let wrapped = try await store.metadata(metadataName) else { return }
        if (try? await newRoot.unwrap(wrapped, context: bindingContext)) != nil { return }
        let secret = try await unwrap(wrapped, root: oldRoot)
        try await store.setMetadata(metadataName, try await newRoot.wrap(secret, context: bindingContext))
    }

    private static func unwrap(_ wrapped: [UInt8], root: any RootOfTrust) async throws -> SecretBytes {
        do {
            let secret = try await root.unwrap(wrapped, context: bindingContext)
            guard secret.count == 64 else { throw KeystoreError.auditKeyUnavailable }
            return secret
        } catch let error as KeystoreError where error != .auditKeyUnavailable {
            throw error
        } catch {
            throw KeystoreError.auditKeyUnavailable
        }
    }

    private init(secret: SecretBytes, store: any Store, clock: @escaping @Sendable () -> Date) throws {
        func derive(_ info: String) throws -> SecretBytes {
            try KeyDerivation.hkdfSHA256(inputKeyMaterial: secret, salt: [], info: Array(info.utf8), outputByteCount: 32)
        }
        self.chainKey = try MACKey(secretMaterial: try derive("custos audit chain"), algorithm: .hmacSHA256)
        self.payloadKey = try MACKey(secretMaterial: try derive("custos audit payload"), algorithm: .hmacSHA256)
        self.signingKey = try SigningPrivateKey(secretMaterial: try derive("custos audit signing ed25519"), scheme: .ed25519)
        self.store = store
        self.clock = clock
        self.writer = GroupCommitWriter(store: store)
    }

    /// The stored stand-in for a sensitive value: HMAC-SHA-256 under the payload key,
    /// hex. Equal payloads give equal digests, so an investigator holding a candidate
    /// value can check it; nobody can read the value back.
    public func digest<D: DataProtocol>(_ payload: D) -> String {
        Hex.encode(payloadKey.authenticationCode(for: payload))
    }

    /// Appends an event on its own and returns once it is durable. Concurrent calls
    /// are group-committed: one transaction (one fsync) for everything waiting.
    public func record(_ event: AuditEvent) async throws {
        try await record([event])
    }

    /// Appends several events, group-committed like `record`; they stay adjacent.
    public func record(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await writer.append(events)
    }

    /// Appends without waiting for others (failures, unseal): one transaction.
    public func recordNow(_ events: [AuditEvent]) async throws {
        try await store.appendAudit(events)
    }

    /// Signs the current head if records were added since the last checkpoint.
    @discardableResult
    public func checkpoint() async throws -> AuditCheckpoint? {
        guard let head = try await store.auditHead() else { return nil }
        if let last = try await store.latestCheckpoint(), last.sequence >= head.sequence { return nil }
        var checkpoint = AuditCheckpoint(sequence: head.sequence, headHash: head.hash, time: clock(),
                                         signerFingerprint: signerFingerprint, signature: [])
        checkpoint.signature = try signingKey.signature(for: checkpoint.signedBytes).bytes
        try await store.addCheckpoint(checkpoint)
        return checkpoint
    }

    func seal(_ record: AuditRecord) -> [UInt8] {
        chainKey.authenticationCode(for: record.sealedBytes)
    }

    /// Signs and verifies a fresh random message with the audit key: proves the
    /// keystore is unsealed and its signing path works.
    public func selfTest() -> Bool {
        let probe = SecretBytes(randomCount: 32).copyBytes()
        guard let signature = try? signingKey.signature(for: probe) else { return false }
        return (try? signingKey.publicKey.isValidSignature(signature.bytes, for: probe)) ?? false
    }

    func isValidCheckpointSignature(_ checkpoint: AuditCheckpoint) -> Bool {
        (try? signingKey.publicKey.isValidSignature(checkpoint.signature, for: checkpoint.signedBytes)) ?? false
    }
}

/// Seals records for the store with the chain key.
struct ChainSealer: AuditSealer {
    let key: MACKey
    func seal(_ bytes: [UInt8]) -> [UInt8] { key.authenticationCode(for: bytes) }
}

/// Batches concurrent appends: while one transaction commits, new events queue; the
/// next transaction takes them all. Each caller resumes only after its own commit.
actor GroupCommitWriter {
    private let store: any Store
    private var pending: [([AuditEvent], CheckedContinuation<Void, any Error>)] = []
    private var flushing = false

    init(store: any Store) { self.store = store }

    func append(_ events: [AuditEvent]) async throws {
        try await withCheckedThrowingContinuation { continuation in
            pending.append((events, continuation))
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            do {
                try await store.appendAudit(batch.flatMap(\.0))
                for (_, continuation) in batch { continuation.resume() }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }
}
