import Crypto
import CustosCrypto
import CustosStore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a backup holds, written beside its files as `manifest.json`.
public struct BackupManifest: Codable, Sendable, Equatable {
    public static let formatName = "custos-backup"
    public static let currentVersion = 1

    public struct AuditHead: Codable, Sendable, Equatable {
        public var sequence: Int64
        /// Hex; empty for a log without records.
        public var hash: String
    }

    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var size: Int64
        public var sha256: String
    }

    public var format: String
    public var formatVersion: Int
    public var custosVersion: String?
    public var schemaVersion: Int
    public var rootProvider: String
    public var rootKeyID: String?
    /// The last audit record in the snapshot.
    public var auditHead: AuditHead
    /// `custos.shred` as it was: the lowest wrapping-key generation each tenant may use.
    public var shredFloors: [String: Int]
    public var created: String
    public var files: [File]

    enum CodingKeys: String, CodingKey {
        case format, files, created
        case formatVersion = "format_version"
        case custosVersion = "custos_version"
        case schemaVersion = "schema_version"
        case rootProvider = "root_provider"
        case rootKeyID = "root_key_id"
        case auditHead = "audit_head"
        case shredFloors = "shred_floors"
    }
}

/// Online backups of a data directory, and the checks a backup must pass to be restored.
///
/// Taking one needs no root of trust: it copies the sealed root file, the shred ledger
/// and the audit high-water mark as they are, then the database as one consistent
/// snapshot (`SQLiteSnapshot`), and reads only metadata for the manifest. The small
/// files are read before the snapshot: each is written only after the database
/// commit it follows, so the copies never run ahead of the snapshot's database.
public enum DataDirectoryBackup {
    public static let manifestName = "manifest.json"
    public static let databaseName = "custos.sqlite"
    /// Files a data directory holds, besides the database (see `LocalLayout` and the
    /// root, shred-ledger and audit-mark code). Cluster state and TLS material live
    /// in the database.
    public static let sideFiles = [PassphraseRoot.fileName, RootFile.fileName, ShredLedger.fileName, databaseName + AuditLog.markSuffix]
    /// Files that betray a copy of a live database rather than a backup.
    static let liveDatabaseSuffixes = ["-wal", "-shm", "-journal"]

    /// Takes a backup of `dataDirectory` into `destination`: a new (or empty)
    /// directory, or, when the name ends in `.tar`, one archive file. Either appears
    /// whole or not at all (staged beside it, fsync'd, then renamed).
    public static func create(dataDirectory: String, destination: String, custosVersion: String? = nil) async throws -> BackupManifest {
        let source = absolute(dataDirectory)
        guard let provider = RootDirectory.provider(directory: source),
              FileManager.default.fileExists(atPath: source + "/" + databaseName) else {
            throw KeystoreError.notInitialized(source)
        }
        if RootDirectory.pendingFile(directory: source) != nil {
            throw KeystoreError.invalidArgument("a root migration is pending in \(source): finish it with 'custos root migrate --resume' before taking a backup")
        }
        let target = absolute(destination)
        let asArchive = target.hasSuffix(".tar")
        try checkFreshTarget(target, archive: asArchive)
        let parent = (target as NSString).deletingLastPathComponent
        let staging = try makeStagingDirectory(beside: target)
        var keepStaging = false
        defer { if !keepStaging { removeTree(staging) } }

        var names: [String] = []
        for name in sideFiles where FileManager.default.fileExists(atPath: source + "/" + name) {
            guard let bytes = FileManager.default.contents(atPath: source + "/" + name) else {
                throw KeystoreError.invalidArgument("cannot read \(source)/\(name)")
            }
            try AtomicFile.write(Array(bytes), to: staging + "/" + name)
            names.append(name)
        }
        let summary = try await SQLiteSnapshot.copy(database: source + "/" + databaseName, to: staging + "/" + databaseName)
        try syncFile(staging + "/" + databaseName)
        names.append(databaseName)

        var files: [BackupManifest.File] = []
        for name in names.sorted() {
            let (size, digest) = try sha256(of: staging + "/" + name)
            files.append(.init(name: name, size: size, sha256: digest))
        }
        let manifest = BackupManifest(
            format: BackupManifest.formatName, formatVersion: BackupManifest.currentVersion, custosVersion: custosVersion,
            schemaVersion: summary.schemaVersion, rootProvider: provider, rootKeyID: summary.rootKeyID,
            auditHead: .init(sequence: summary.auditHeadSequence, hash: Hex.encode(summary.auditHeadHash)),
            shredFloors: shredFloors(staging + "/" + ShredLedger.fileName), created: ISO8601DateFormatter().string(from: Date()), files: files)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(Array(try encoder.encode(manifest)) + [0x0a], to: staging + "/" + manifestName)

        if asArchive {
            let temporary = target + ".tmp-\(UInt32.random(in: 0 ... .max))"
            do {
                try BackupArchive.write([manifestName] + names.sorted(), from: staging, to: temporary)
                try AtomicFile.rename(temporary, to: target)
            } catch {
                unlink(temporary)
                throw error
            }
        } else {
            // An empty directory given as the target is replaced by the staged one.
            if FileManager.default.fileExists(atPath: target) { guard rmdir(target) == 0 else { throw KeystoreError.invalidArgument("cannot replace the empty directory \(target)") } }
            try AtomicFile.rename(staging, to: target)
            keepStaging = true
        }
        AtomicFile.syncDirectory(of: parent + "/.")
        return manifest
    }

    /// `path` made absolute (against the working directory) and without `.`/`..` steps,
    /// so the staging folder and the folder to sync are the real parent.
    static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (full as NSString).standardizingPath
    }

    /// Refuses a destination that holds anything: a backup never overwrites.
    static func checkFreshTarget(_ target: String, archive: Bool) throws {
        var status = stat()
        guard lstat(target, &status) == 0 else {
            let parent = (target as NSString).deletingLastPathComponent
            guard FileManager.default.fileExists(atPath: parent.isEmpty ? "." : parent) else {
                throw KeystoreError.invalidArgument("the folder \(parent) does not exist")
            }
            return
        }
        if archive || status.st_mode & S_IFMT != S_IFDIR {
            throw KeystoreError.invalidArgument("\(target) already exists; a backup never overwrites anything")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? ["?"]
        guard entries.isEmpty else { throw KeystoreError.invalidArgument("\(target) is not empty; a backup never overwrites anything") }
    }

    /// A private (0700) folder next to `target`, on the same file system so it can be
    /// renamed into place.
    static func makeStagingDirectory(beside target: String) throws -> String {
        let parent = (target as NSString).deletingLastPathComponent
        let base = (target as NSString).lastPathComponent
        let path = (parent.isEmpty ? "." : parent) + "/.\(base).partial-\(UInt32.random(in: 0 ... .max))"
        guard mkdir(path, 0o700) == 0 else { throw KeystoreError.invalidArgument("cannot create \(path): \(String(cString: strerror(errno)))") }
        return path
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    static func syncFile(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0, fsync(fd) == 0 else {
            if fd >= 0 { close(fd) }
            throw KeystoreError.invalidArgument("cannot sync \(path)")
        }
        close(fd)
    }

    static func sha256(of path: String) throws -> (Int64, String) {
        guard let input = FileHandle(forReadingAtPath: path) else { throw KeystoreError.invalidArgument("cannot read \(path)") }
        defer { try? input.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (size, Hex.encode(Array(hasher.finalize())))
    }

    /// The floors a shred ledger file names (its MACs are checked when a store opens).
    static func shredFloors(_ path: String) -> [String: Int] {
        struct Entry: Decodable { var floor: Int }
        guard let data = FileManager.default.contents(atPath: path),
              let entries = try? JSONDecoder().decode([String: Entry].self, from: data) else { return [:] }
        return entries.mapValues(\.floor)
    }

    // MARK: Checking a backup

    /// A backup opened for checking or restoring: a directory, or an archive extracted
    /// into a private temporary folder (removed by `close`).
    public struct Opened: Sendable {
        public var directory: String
        public var manifest: BackupManifest
        /// Set for an archive: the folder it was extracted into.
        var extracted: String?

        public func close() {
            if let extracted { DataDirectoryBackup.removeTree(extracted) }
        }
    }

    /// What `check` found.
    public struct Check: Sendable {
        public var manifest: BackupManifest?
        /// Empty when the backup is sound.
        public var problems: [String]
    }

    /// Opens `path` (a backup directory or `.tar`) and checks it: the manifest, every
    /// file's size and SHA-256, no file the manifest does not name, and the database
    /// (rollback-mode header, `PRAGMA integrity_check`, a schema this binary knows, the
    /// audit head the manifest names). Throws when it is not a backup at all.
    public static func open(_ path: String) async throws -> (Opened, Check) {
        var status = stat()
        guard stat(path, &status) == 0 else { throw KeystoreError.invalidArgument("\(path) does not exist") }
        var directory = path
        var extracted: String?
        if status.st_mode & S_IFMT != S_IFDIR {
            let temporary = NSTemporaryDirectory() + "custos-backup-\(UInt32.random(in: 0 ... .max))"
            guard mkdir(temporary, 0o700) == 0 else { throw KeystoreError.invalidArgument("cannot create \(temporary)") }
            do {
                _ = try BackupArchive.extract(path, into: temporary)
            } catch {
                removeTree(temporary)
                throw error
            }
            directory = temporary
            extracted = temporary
        }
        do {
            let manifest = try readManifest(directory, shownAs: path)
            let problems = await checkFiles(directory, manifest: manifest)
            return (Opened(directory: directory, manifest: manifest, extracted: extracted), Check(manifest: manifest, problems: problems))
        } catch {
            if let extracted { removeTree(extracted) }
            throw error
        }
    }

    /// Why `directory` is a raw copy of a data directory rather than a backup, or nil.
    public static func rawCopyReason(_ directory: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        if let live = names.first(where: { name in liveDatabaseSuffixes.contains { name.hasSuffix($0) } }) {
            return "\(live) lies beside the database: this is a copy of a database that was open (its newest commits may be missing or torn)"
        }
        if names.contains(databaseName) {
            if let problem = SQLiteSnapshot.headerProblems(directory + "/" + databaseName).first { return problem }
        }
        if !names.contains(manifestName) && names.contains(databaseName) {
            return "it has no \(manifestName): it is a copy of a data directory, not a backup"
        }
        return nil
    }

    static func readManifest(_ directory: String, shownAs path: String) throws -> BackupManifest {
        if let reason = rawCopyReason(directory) {
            throw KeystoreError.invalidArgument("\(path) is not a Custos backup: \(reason). A file copy of a live data directory can lose the newest keys and audit records; take a backup with 'custos backup create' instead")
        }
        let manifestPath = directory + "/" + manifestName
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw KeystoreError.invalidArgument("\(path) is not a Custos backup: it has no \(manifestName)")
        }
        let manifest: BackupManifest
        do {
            manifest = try JSONDecoder().decode(BackupManifest.self, from: data)
        } catch {
            throw KeystoreError.invalidArgument("the manifest of \(path) is not valid JSON of a Custos backup")
        }
        guard manifest.format == BackupManifest.formatName else {
            throw KeystoreError.invalidArgument("the manifest of \(path) is not a Custos backup manifest")
        }
        guard manifest.formatVersion == BackupManifest.currentVersion else {
            throw KeystoreError.invalidArgument("the backup \(path) has format version \(manifest.formatVersion); this Custos reads version \(BackupManifest.currentVersion)")
        }
        return manifest
    }

    static func checkFiles(_ directory: String, manifest: BackupManifest) async -> [String] {
        var problems: [String] = []
        let present = Set(((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0 != manifestName })
        let named = manifest.files.map(\.name)
        for name in named where BackupArchive.nameProblem(name) != nil || (!sideFiles.contains(name) && name != databaseName) {
            problems.append("the manifest names '\(name.prefix(100))', which is not a data-directory file")
        }
        if Set(named).count != named.count { problems.append("the manifest names a file twice") }
        for extra in present.subtracting(named).sorted() { problems.append("\(extra) is not in the manifest") }
        guard named.contains(databaseName) else { return problems + ["the backup has no database (\(databaseName))"] }
        guard named.contains(PassphraseRoot.fileName) || named.contains(RootFile.fileName) else { return problems + ["the backup has no root file"] }
        for file in manifest.files where present.contains(file.name) && BackupArchive.nameProblem(file.name) == nil {
            var status = stat()
            guard lstat(directory + "/" + file.name, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
                problems.append("\(file.name) is not a regular file")
                continue
            }
            guard let hashed = try? sha256(of: directory + "/" + file.name) else {
                problems.append("\(file.name) cannot be read")
                continue
            }
            let (size, digest) = hashed
            if size != file.size || !ConstantTime.equals(Array(digest.utf8), Array(file.sha256.lowercased().utf8)) {
                problems.append("\(file.name) does not match its SHA-256 in the manifest (changed or damaged)")
            }
        }
        for missing in named where !present.contains(missing) { problems.append("\(missing) is missing") }
        guard problems.isEmpty else { return problems }
        let (databaseProblems, summary) = await SQLiteSnapshot.check(directory + "/" + databaseName)
        problems += databaseProblems
        if let summary {
            if summary.schemaVersion != manifest.schemaVersion {
                problems.append("the database has schema version \(summary.schemaVersion), the manifest says \(manifest.schemaVersion)")
            }
            if summary.auditHeadSequence != manifest.auditHead.sequence || Hex.encode(summary.auditHeadHash) != manifest.auditHead.hash.lowercased() {
                problems.append("the database's audit head (record \(summary.auditHeadSequence)) is not the one the manifest names (record \(manifest.auditHead.sequence))")
            }
        } else if databaseProblems.isEmpty {
            problems.append("the database cannot be read")
        }
        return problems
    }
}
