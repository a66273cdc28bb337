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
/// signs the chain head, which also exposes truncation of the newest records; each
/// checkpoint also advances a sealed high-water mark kept outside the database
/// (`AuditMark`) and, when configured, is shipped off the node (`AuditHeadSink`).
///
/// The keys come from one 64-byte secret created on first use and stored wrapped by
/// the root of trust.
public final class AuditLog: Sendable {
    let store: any Store
    private let chainKey: MACKey
    private let payloadKey: MACKey
    private let signingKey: SigningPrivateKey
    let markKey: MACKey
    /// MACs the rows of the server-wide TLS client trust set (not bound to a tenant).
    let trustRowKey: MACKey
    /// The high-water mark file (nil for a store without a file, in tests).
    let markPath: String?
    private let sinkBox = Mutex<(any AuditHeadSink)?>(nil)
    private let observer: AuditObserverSlot
    private let writer: GroupCommitWriter
    let clock: @Sendable () -> Date

    public var signingPublicKey: SigningPublicKey { signingKey.publicKey }
    public var signerFingerprint: String { signingKey.publicKey.fingerprint.description }

    static let metadataName = "audit_keys.v1"
    /// The high-water mark's file name is the database's with this suffix.
    public static let markSuffix = ".audit-mark"
    static let bindingContext = BindingContext.make("custos.audit-keys.v1", [])

    /// Opens the audit log of `store`, creating its keys on first use, and attaches
    /// the chain sealer to the store so every audited change is sealed as written.
    /// A new log (its keys made here) also gets its high-water mark at `markPath`,
    /// unless a file is already there: that one stays, as evidence for `verify`.
    public static func open(store: any Store, root: any RootOfTrust, markPath: String? = nil,
                            clock: @escaping @Sendable () -> Date = { Date() }) async throws -> AuditLog {
        let secret: SecretBytes
        var created = false
        if let wrapped = try await store.metadata(metadataName) {
            secret = try await unwrap(wrapped, root: root)
        } else {
            created = true
            let fresh = SecretBytes(randomCount: 64)
            let wrapped = try await root.wrap(fresh, context: bindingContext)
            // Two processes opening a new store at once: the first write wins, and
            // both use the winner's keys.
            let stored = try await store.setMetadataIfAbsent(metadataName, wrapped)
            secret = stored == wrapped ? fresh : try await unwrap(stored, root: root)
        }
        let log = try AuditLog(secret: secret, store: store, markPath: markPath, clock: clock)
        await store.setAuditSealer(ChainSealer(key: log.chainKey))
        if created, let markPath, AuditMark.read(markPath, key: log.markKey) == .absent {
            let mark = AuditMark(sequence: 0, headHash: AuditRecord.genesisHash, timeMicros: AuditCheckpoint.micros(clock()))
            try mark.write(to: markPath, key: log.markKey)
        }
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

    private init(secret: SecretBytes, store: any Store, markPath: String?, clock: @escaping @Sendable () -> Date) throws {
        func derive(_ info: String) throws -> SecretBytes {
            try KeyDerivation.hkdfSHA256(inputKeyMaterial: secret, salt: [], info: Array(info.utf8), outputByteCount: 32)
        }
        self.chainKey = try MACKey(secretMaterial: try derive("custos audit chain"), algorithm: .hmacSHA256)
        self.payloadKey = try MACKey(secretMaterial: try derive("custos audit payload"), algorithm: .hmacSHA256)
        self.signingKey = try SigningPrivateKey(secretMaterial: try derive("custos audit signing ed25519"), scheme: .ed25519)
        self.markKey = try MACKey(secretMaterial: try derive("custos audit high-water mark"), algorithm: .hmacSHA256)
        self.trustRowKey = try MACKey(secretMaterial: try derive("custos tls trust rows"), algorithm: .hmacSHA256)
        self.markPath = markPath
        self.store = store
        self.clock = clock
        let observer = AuditObserverSlot()
        self.observer = observer
        self.writer = GroupCommitWriter(store: store, observer: observer)
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
        guard !events.isEmpty else { return }
        try await observer.timing(records: events.count) { _ = try await store.appendAudit(events) }
    }

    /// Reports every durable append, checkpoint and sink failure to monitoring
    /// (replacing any observer attached before).
    public func attach(observer: AuditLogObserver?) {
        self.observer.set(observer)
    }

    /// Ships every new checkpoint off the node (replacing any sink attached before).
    public func attach(sink: (any AuditHeadSink)?) {
        sinkBox.withLock { $0 = sink }
    }

    var sink: (any AuditHeadSink)? { sinkBox.withLock { $0 } }

    /// Signs the current head if records were added since the last checkpoint, then
    /// advances the high-water mark and publishes the head to the sink.
    ///
    /// Refused (nothing signed) when the log no longer contains the head the mark or
    /// the sink names: signing the shorter log would bless a rollback. `resetMark`
    /// writes a new mark whatever the old one says (missing, forged, ahead): for a data
    /// directory made before marks existed, or after the operator has checked the log.
    @discardableResult
    public func checkpoint(resetMark: Bool = false) async throws -> AuditCheckpoint? {
        guard let head = try await store.auditHead() else { return nil }
        if !resetMark, let markPath {
            switch AuditMark.read(markPath, key: markKey) {
            case .absent:
                throw KeystoreError.corruptRecord("the audit high-water mark \(markPath) is missing; check the log with 'custos audit verify', then run 'custos audit checkpoint --reset-mark'")
            case .invalid(let reason):
                throw KeystoreError.corruptRecord("\(reason) (\(markPath)); refusing to checkpoint")
            case .valid(let mark):
                if let problem = try await missing(mark.sequence, mark.headHash, in: head),
                   try await restoreRecord(naming: mark.sequence, mark.headHash) == nil {
                    throw KeystoreError.corruptRecord("the audit log was rolled back: the high-water mark \(problem); refusing to checkpoint")
                }
            }
        }
        // A sink that answers with a head this log lacks refuses the checkpoint; one
        // that cannot be reached does not: the checkpoint and the mark still move on,
        // and the head is published when the sink is back.
        let sink = self.sink
        var published: AuditCheckpoint?
        if let sink {
            published = try? await sink.latest()
            if let published, let problem = try await missing(published.sequence, published.headHash, in: head),
               try await restoreRecord(naming: published.sequence, published.headHash) == nil {
                throw KeystoreError.corruptRecord("the audit log was rolled back: the head at \(sink.location) \(problem); refusing to checkpoint")
            }
        }
        if !resetMark, let last = try await store.latestCheckpoint(), isValidCheckpointSignature(last),
           last.sequence == head.sequence, ConstantTime.equals(last.headHash, head.hash) {
            if let sink, published?.sequence != last.sequence { try await publish(last, to: sink) }
            return nil
        }
        let time = clock()
        var checkpoint = AuditCheckpoint(sequence: head.sequence, headHash: head.hash,
                                         time: Date(timeIntervalSince1970: Double(AuditCheckpoint.micros(time)) / 1_000_000),
                                         signerFingerprint: signerFingerprint, signature: [])
        checkpoint.signature = try signingKey.signature(for: checkpoint.signedBytes).bytes
        try await store.addCheckpoint(checkpoint)
        observer.current?.checkpointed(checkpoint)
        if let markPath {
            try AuditMark(sequence: checkpoint.sequence, headHash: checkpoint.headHash, timeMicros: checkpoint.timeMicros)
                .write(to: markPath, key: markKey)
        }
        if let sink { try await publish(checkpoint, to: sink) }
        return checkpoint
    }

    private func publish(_ checkpoint: AuditCheckpoint, to sink: any AuditHeadSink) async throws {
        do {
            try await sink.publish(checkpoint, publicKey: signingPublicKey)
        } catch {
            observer.current?.sinkFailed()
            throw error
        }
    }

    /// Why the log with head `head` does not contain the record `sequence` with `hash`
    /// (nil if it does): the claim comes from the mark or the sink.
    func missing(_ sequence: Int64, _ hash: [UInt8], in head: (sequence: Int64, hash: [UInt8])) async throws -> String? {
        guard sequence > 0 else { return nil }
        if sequence > head.sequence { return "names record \(sequence), but the log ends at \(head.sequence)" }
        guard let record = try await store.auditRecords(AuditQuery(after: sequence - 1, limit: 1)).first, record.sequence == sequence else {
            return "names record \(sequence), which is missing"
        }
        return ConstantTime.equals(record.hash, hash) ? nil : "names record \(sequence) with another hash than the stored one"
    }

    /// The `backup.restore` record that names (`sequence`, `hash`) as the head of the log
    /// before the restore, if this log has one. Only the root of trust can seal such a
    /// record, so it is how a restored log (a fork from the snapshot's head) is accepted
    /// by the high-water mark and the off-node head: explicitly, and on the record.
    func restoreRecord(naming sequence: Int64, _ hash: [UInt8]) async throws -> AuditRecord? {
        var after: Int64 = 0
        while true {
            let page = try await store.auditRecords(AuditQuery(after: after, limit: 100, operation: AuditOperation.backupRestore.rawValue))
            for record in page {
                guard let details = try? JSONDecoder().decode([String: String].self, from: Data(record.details.utf8)) else { continue }
                for (sequenceKey, headKey) in [("previous_sequence", "previous_head"), ("sink_sequence", "sink_head")]
                    where details[sequenceKey] == String(sequence) {
                    if let named = details[headKey].flatMap(Hex.decode), ConstantTime.equals(named, hash) { return record }
                }
            }
            guard let last = page.last, page.count == 100 else { return nil }
            after = last.sequence
        }
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
        checkpoint.signerFingerprint == signerFingerprint
            && ((try? signingKey.publicKey.isValidSignature(checkpoint.signature, for: checkpoint.signedBytes)) ?? false)
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
    private let observer: AuditObserverSlot
    private var pending: [([AuditEvent], CheckedContinuation<Void, any Error>)] = []
    private var flushing = false

    init(store: any Store, observer: AuditObserverSlot) {
        self.store = store
        self.observer = observer
    }

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
            let events = batch.flatMap(\.0)
            do {
                // One commit, timed once, however many callers wait for it.
                try await observer.timing(records: events.count) { _ = try await store.appendAudit(events) }
                for (_, continuation) in batch { continuation.resume() }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }
}

/// What the audit log tells monitoring. Called on the writing task: keep it cheap.
public struct AuditLogObserver: Sendable {
    /// A transaction that appended `records` records committed after `duration`.
    public var committed: @Sendable (_ records: Int, _ duration: Duration) -> Void
    /// An append failed: the operations waiting for it failed too.
    public var failed: @Sendable () -> Void
    /// A new checkpoint was stored.
    public var checkpointed: @Sendable (AuditCheckpoint) -> Void
    /// The off-node sink did not take a checkpoint.
    public var sinkFailed: @Sendable () -> Void

    public init(committed: @escaping @Sendable (Int, Duration) -> Void, failed: @escaping @Sendable () -> Void,
                checkpointed: @escaping @Sendable (AuditCheckpoint) -> Void, sinkFailed: @escaping @Sendable () -> Void) {
        self.committed = committed
        self.failed = failed
        self.checkpointed = checkpointed
        self.sinkFailed = sinkFailed
    }
}

/// The observer, shared by the log and its group-commit writer.
final class AuditObserverSlot: Sendable {
    private let box = Mutex<AuditLogObserver?>(nil)

    var current: AuditLogObserver? { box.withLock { $0 } }
    func set(_ observer: AuditLogObserver?) { box.withLock { $0 = observer } }

    /// Runs one append, reporting its commit time or its failure.
    func timing(records: Int, _ append: @Sendable () async throws -> Void) async throws {
        let observer = current
        let start = ContinuousClock.now
        do {
            try await append()
        } catch {
            observer?.failed()
            throw error
        }
        observer?.committed(records, ContinuousClock.now - start)
    }
}
