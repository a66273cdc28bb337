import CustosCrypto
import CustosStore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Restores a backup into a new data directory, and says what the restore brings back.
///
/// A backup is a past state: records appended after it are not in it, and keys
/// destroyed after it are alive in it. The restore learns what happened since from the
/// off-node audit head (the newest signed head) and from the old data directory when
/// it is still readable (its log after the snapshot, its destroyed keys, its shred
/// ledger); it destroys again the keys destroyed since (unless told to keep them,
/// which is audited), and starts the restored log with a `backup.restore` record that
/// names the snapshot's head and the head before the restore. That record, sealed
/// under the root of trust, is what lets the high-water mark and the off-node head move
/// to the restored log: a fork on the record, never a silent one.
///
/// Everything happens in a private folder beside the target, renamed into place only
/// once the restored store has opened with the root, its chain verified and every key
/// opened: an interrupted or refused restore leaves the target absent.
public enum DataDirectoryRestore {
    public struct Options: Sendable {
        /// The old data directory, read (never written) for what happened after the snapshot.
        public var previous: String?
        /// The off-node audit head, when one is configured.
        public var sink: (any AuditHeadSink)?
        /// Keep the keys destroyed since the snapshot alive (audited) instead of destroying them again.
        public var keepDestroyed: Bool

        public init(previous: String? = nil, sink: (any AuditHeadSink)? = nil, keepDestroyed: Bool = false) {
            self.previous = previous
            self.sink = sink
            self.keepDestroyed = keepDestroyed
        }
    }

    public struct DestroyedKey: Sendable, Equatable {
        public var tenant: String
        public var alias: String
        public var keyID: String
        public var description: String { "\(tenant)/\(alias)" }
    }

    public struct Head: Sendable, Equatable {
        public var sequence: Int64
        public var hash: String
        /// "previous data directory" or the sink's location.
        public var source: String
    }

    public struct Report: Sendable {
        public var manifest: BackupManifest
        /// The head of the log before the restore, when the sink or the old directory tells it.
        public var previousHead: Head?
        /// Records after the snapshot, from the old directory (empty when it was not given).
        public var recordsAfterSnapshot: [AuditRecord]
        /// How many records the old log had after the snapshot; nil when unknown.
        public var recordsAfterSnapshotCount: Int64?
        /// Whether the restore could learn which keys were destroyed since the snapshot.
        public var destroyedKnown: Bool
        public var destroyedSinceSnapshot: [DestroyedKey]
        public var destroyedAgain: [DestroyedKey]
        public var keptAlive: [DestroyedKey]
        /// Plain statements of what the restore could not know or found odd.
        public var notes: [String]
        public var restoreRecordSequence: Int64
        public var keysChecked: Int
    }

    public static func restore(backup: String, into target: String, secrets: RootSecrets, options: Options = Options()) async throws -> Report {
        let target = DataDirectoryBackup.absolute(target)
        try checkTarget(target)
        let (opened, check) = try await DataDirectoryBackup.open(backup)
        defer { opened.close() }
        guard check.problems.isEmpty else {
            throw KeystoreError.invalidArgument("the backup \(backup) is damaged, nothing restored: " + check.problems.joined(separator: "; "))
        }
        let manifest = opened.manifest
        let staging = try DataDirectoryBackup.makeStagingDirectory(beside: target)
        var renamed = false
        defer { if !renamed { DataDirectoryBackup.removeTree(staging) } }
        for file in manifest.files {
            let destination = staging + "/" + file.name
            try FileManager.default.copyItem(atPath: opened.directory + "/" + file.name, toPath: destination)
            guard chmod(destination, 0o600) == 0 else { throw KeystoreError.invalidArgument("cannot make \(destination) private") }
            try DataDirectoryBackup.syncFile(destination)
        }
        let service = try await RootDirectory.openKeyService(directory: staging, databasePath: staging + "/" + DataDirectoryBackup.databaseName, secrets: secrets)
        let report: Report
        do {
            report = try await restore(service, manifest: manifest, options: options)
            try await service.close()
        } catch {
            try? await service.close()
            throw error
        }
        // Present only if something went wrong before the rename: an empty target is replaced.
        if FileManager.default.fileExists(atPath: target) { guard rmdir(target) == 0 else { throw KeystoreError.invalidArgument("cannot replace the empty directory \(target)") } }
        try AtomicFile.rename(staging, to: target)
        renamed = true
        return report
    }

    /// The target must not exist (its parent must) or be an empty directory: a restore never overwrites.
    static func checkTarget(_ target: String) throws {
        var status = stat()
        if lstat(target, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR, ((try? FileManager.default.contentsOfDirectory(atPath: target)) ?? ["?"]).isEmpty else {
                throw KeystoreError.invalidArgument("\(target) exists and is not an empty directory; a restore never overwrites anything")
            }
        } else {
            let parent = (target as NSString).deletingLastPathComponent
            guard FileManager.default.fileExists(atPath: parent.isEmpty ? "." : parent) else {
                throw KeystoreError.invalidArgument("the folder \(parent) does not exist")
            }
        }
    }

    private static func restore(_ service: KeyService, manifest: BackupManifest, options: Options) async throws -> Report {
        let snapshot = manifest.auditHead
        let verification = try await service.audit.verify()
        guard verification.intact else {
            throw KeystoreError.corruptRecord("the backup's audit chain does not verify: " + verification.findings.prefix(5).map(\.description).joined(separator: "; "))
        }
        var notes: [String] = []
        var previousHead: Head?
        var sinkHead: AuditCheckpoint?
        var records: [AuditRecord] = []
        var recordsCount: Int64?
        var destroyed: [DestroyedKey] = []
        var destroyedKnown = false

        if let path = options.previous {
            let previous = try await PreviousDirectory.read(path, root: service.root, snapshot: snapshot)
            previousHead = Head(sequence: previous.head.sequence, hash: Hex.encode(previous.head.hash), source: "previous data directory \(path)")
            records = previous.recordsAfter
            recordsCount = Int64(records.count)
            destroyed = previous.destroyed
            destroyedKnown = true
            notes += previous.notes
            for (tenant, floor) in previous.shredFloors where floor > (manifest.shredFloors[tenant] ?? 0)
                && !destroyed.contains(where: { $0.tenant == tenant }) {
                notes.append("tenant \(tenant): the old shred ledger's floor rose to \(floor) after the snapshot, but no destroyed key of it was found in the old log or key records")
            }
        }
        if let sink = options.sink {
            do {
                if let head = try await sink.latest() {
                    if service.audit.isValidCheckpointSignature(head) {
                        sinkHead = head
                    } else {
                        notes.append("the head at \(sink.location) is not signed by this log's audit key: ignored")
                    }
                } else {
                    notes.append("\(sink.location) holds no head yet")
                }
            } catch {
                notes.append("the off-node head at \(sink.location) could not be read (\(error)): ignored")
            }
        }
        if let head = sinkHead {
            if let known = previousHead {
                if head.sequence > known.sequence {
                    notes.append("\(options.sink!.location) names record \(head.sequence), beyond the old directory's head \(known.sequence): the old directory was itself cut back")
                    recordsCount = nil
                }
            } else if head.sequence > snapshot.sequence || Hex.encode(head.headHash) != snapshot.hash {
                previousHead = Head(sequence: head.sequence, hash: Hex.encode(head.headHash), source: options.sink!.location)
                recordsCount = head.sequence > snapshot.sequence ? head.sequence - snapshot.sequence : nil
                notes.append("the off-node head names record \(head.sequence): \(max(0, head.sequence - snapshot.sequence)) records after the snapshot are not in the backup; which keys were destroyed among them cannot be known without the old data directory (--previous)")
            }
        }
        if options.previous == nil && options.sink == nil {
            notes.append("no off-node audit head (CUSTOS_AUDIT_SINK) and no --previous directory: the restore cannot know what happened after the snapshot (records appended, keys destroyed)")
        }

        // Only keys that the snapshot still holds alive, with the same id, come back to life.
        var revived: [DestroyedKey] = []
        for key in destroyed {
            guard let tenant = try? TenantID(validating: key.tenant), let alias = try? KeyAlias(validating: key.alias),
                  let info = try? await service.key(tenant: tenant, alias: alias, by: .local) else { continue }
            if info.id == key.keyID && info.status != .destroyed { revived.append(key) }
        }
        var details: [String: String] = [
            "snapshot_sequence": String(snapshot.sequence), "snapshot_head": snapshot.hash, "backup_created": manifest.created,
            "records_after_snapshot": recordsCount.map(String.init) ?? "unknown",
            "destroyed_since": destroyedKnown ? String(destroyed.count) : "unknown",
        ]
        if let previousHead {
            details["previous_sequence"] = String(previousHead.sequence)
            details["previous_head"] = previousHead.hash
            details["previous_source"] = previousHead.source
        } else {
            details["previous_sequence"] = "unknown"
        }
        if let sinkHead, Hex.encode(sinkHead.headHash) != previousHead?.hash {
            details["sink_sequence"] = String(sinkHead.sequence)
            details["sink_head"] = Hex.encode(sinkHead.headHash)
        }
        if !revived.isEmpty {
            details[options.keepDestroyed ? "kept_destroyed" : "destroy_again"] = revived.map(\.description).joined(separator: ",")
        }
        try await service.audit.recordNow([service.event(.backupRestore, by: .local, tenant: nil, details: details)])
        let restoreSequence = try await service.store.auditHead()?.sequence ?? 0

        if !options.keepDestroyed {
            for key in revived {
                _ = try await service.destroy(tenant: try TenantID(validating: key.tenant), alias: try KeyAlias(validating: key.alias), by: .local)
            }
        }
        let checked = try await service.checkAllKeys(by: .local)
        guard checked.failures.isEmpty else {
            throw KeystoreError.corruptRecord("\(checked.failures.count) of \(checked.checked) keys do not open in the restored store, nothing restored: "
                                              + checked.failures.prefix(5).map { "\($0.tenant)/\($0.alias) v\($0.version): \($0.error)" }.joined(separator: "; "))
        }
        service.audit.attach(sink: options.sink)
        try await service.audit.checkpoint()
        let after = try await service.audit.verify()
        guard after.intact else {
            throw KeystoreError.corruptRecord("the restored audit chain does not verify: " + after.findings.prefix(5).map(\.description).joined(separator: "; "))
        }
        return Report(manifest: manifest, previousHead: previousHead, recordsAfterSnapshot: records, recordsAfterSnapshotCount: recordsCount,
                      destroyedKnown: destroyedKnown, destroyedSinceSnapshot: destroyed, destroyedAgain: options.keepDestroyed ? [] : revived,
                      keptAlive: options.keepDestroyed ? revived : [], notes: notes, restoreRecordSequence: restoreSequence, keysChecked: checked.checked)
    }
}

/// The old data directory, read through a private copy of its database (the original
/// is never opened for writing): its audit log after the snapshot, the keys it knows
/// as destroyed, its shred ledger.
struct PreviousDirectory {
    var head: (sequence: Int64, hash: [UInt8])
    var recordsAfter: [AuditRecord]
    var destroyed: [DataDirectoryRestore.DestroyedKey]
    var shredFloors: [String: Int]
    var notes: [String]

    static let maximumRecords = 1_000_000

    static func read(_ path: String, root: any RootOfTrust, snapshot: BackupManifest.AuditHead) async throws -> PreviousDirectory {
        let database = path + "/" + DataDirectoryBackup.databaseName
        guard FileManager.default.fileExists(atPath: database) else {
            throw KeystoreError.invalidArgument("--previous \(path) holds no \(DataDirectoryBackup.databaseName)")
        }
        let copy = NSTemporaryDirectory() + "custos-previous-\(UInt32.random(in: 0 ... .max))"
        guard mkdir(copy, 0o700) == 0 else { throw KeystoreError.invalidArgument("cannot create \(copy)") }
        defer { DataDirectoryBackup.removeTree(copy) }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: database + suffix) {
            try FileManager.default.copyItem(atPath: database + suffix, toPath: copy + "/" + DataDirectoryBackup.databaseName + suffix)
        }
        let store = try await SQLiteStore.open(path: copy + "/" + DataDirectoryBackup.databaseName)
        do {
            let result = try await read(store, root: root, snapshot: snapshot, path: path)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    private static func read(_ store: SQLiteStore, root: any RootOfTrust, snapshot: BackupManifest.AuditHead, path: String) async throws -> PreviousDirectory {
        let log: AuditLog
        do {
            log = try await AuditLog.open(store: store, root: root)
        } catch {
            throw KeystoreError.invalidArgument("--previous \(path): its audit log does not open under this root of trust (\(error))")
        }
        guard let head = try await store.auditHead() else {
            throw KeystoreError.invalidArgument("--previous \(path) has an empty audit log: it is not where this backup came from")
        }
        if snapshot.sequence > 0 {
            let atSnapshot = try await store.auditRecords(AuditQuery(after: snapshot.sequence - 1, limit: 1)).first
            guard let atSnapshot, atSnapshot.sequence == snapshot.sequence, Hex.encode(atSnapshot.hash) == snapshot.hash.lowercased() else {
                throw KeystoreError.invalidArgument("--previous \(path): its audit log does not contain the snapshot's head (record \(snapshot.sequence)); it is not the directory this backup was taken from, or it was cut back")
            }
        }
        var notes: [String] = []
        let verification = try await log.verify()
        for finding in verification.findings.prefix(20) { notes.append("the old audit log: \(finding)") }
        var records: [AuditRecord] = []
        var after = snapshot.sequence
        while records.count < maximumRecords {
            let page = try await store.auditRecords(AuditQuery(after: after, limit: 1000))
            records += page
            guard let last = page.last, page.count == 1000 else { break }
            after = last.sequence
        }
        var destroyed: [DataDirectoryRestore.DestroyedKey] = []
        for record in records where record.operation == AuditOperation.destroy.rawValue && record.outcome == AuditOutcome.success.rawValue {
            guard let tenant = record.tenantID, let keyID = record.keyID,
                  let alias = (try? JSONDecoder().decode([String: String].self, from: Data(record.details.utf8)))?["alias"] else { continue }
            destroyed.append(.init(tenant: tenant, alias: alias, keyID: keyID))
        }
        // Key records marked destroyed cover destroys whose records were lost.
        for tenant in try await store.tenants() {
            var cursor: String?
            repeat {
                let page = try await store.listKeys(tenantID: tenant.id, filter: KeyFilter(status: .destroyed), page: PageRequest(limit: 1000, after: cursor))
                for key in page.keys where !destroyed.contains(where: { $0.keyID == key.id }) {
                    destroyed.append(.init(tenant: tenant.id, alias: key.alias, keyID: key.id))
                }
                cursor = page.nextCursor
            } while cursor != nil
        }
        return PreviousDirectory(head: head, recordsAfter: records, destroyed: destroyed,
                                 shredFloors: DataDirectoryBackup.shredFloors(path + "/" + ShredLedger.fileName), notes: notes)
    }
}

extension KeyService {
    /// Audits a backup just taken, as `backup.create` with the snapshot's head, so the
    /// live log says which of its states a backup holds.
    public func recordBackup(_ manifest: BackupManifest, destination: String, by principal: Principal) async throws {
        try await audit.recordNow([event(.backupCreate, by: principal, tenant: nil, details: [
            "snapshot_sequence": String(manifest.auditHead.sequence), "snapshot_head": manifest.auditHead.hash,
            "destination": destination, "created": manifest.created,
        ])])
    }
}
