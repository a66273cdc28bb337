/// An exported key log (docs/cluster.md, "Log export"), entries in the six-field form:
/// [SignedConfiguration, [LogEntry, …], [CheckpointCertificate, …]].
public struct LogExport: Equatable, Sendable {
    public let configuration: ClusterConfiguration
    public let entries: [LogEntry]
    /// Ascending boundaries.
    public let checkpoints: [CheckpointCertificate]

    public init(configuration: ClusterConfiguration, entries: [LogEntry], checkpoints: [CheckpointCertificate]) {
        self.configuration = configuration
        self.entries = entries
        self.checkpoints = checkpoints
    }

    public var encoded: [UInt8] {
        // The SignedConfiguration is embedded as its item: deterministic CBOR re-encodes it to
        // the same bytes, so the genesis hash is computed from what was signed.
        var out: [UInt8] = []
        CBOR.appendHead(4, 3, to: &out)
        out.append(contentsOf: configuration.signedBytes)
        out.append(contentsOf: CBORValue.array(entries.map(\.cbor)).encoded)
        out.append(contentsOf: CBORValue.array(checkpoints.map(\.cbor)).encoded)
        return out
    }

    /// Decodes, refusing a document over `limit` bytes (default 64 MiB).
    public init(bytes: [UInt8], limit: Int = 64 << 20) throws {
        let f = try CBORValue.decode(bytes, what: "log export", limit: limit).array("log export", count: 3)
        configuration = try ClusterConfiguration(value: f[0], signedBytes: f[0].encoded)
        entries = try f[1].array("log entries").map { try LogEntry(value: $0) }
        checkpoints = try f[2].array("stable checkpoints").map { try CheckpointCertificate(value: $0) }
    }
}

/// Verifies an exported key log from its genesis configuration alone, trusting no part of it:
/// every entry (replica record, client record or operator command) is recomputed as a schedule
/// notice and must come out identical, and every
/// stable-checkpoint certificate must be signed by Q main keys of keyset(B) over the head the
/// recomputed log has at B. Command expiry is never looked at: it bounds approval, and a
/// command approved in time stays valid in the log however late it is verified.
public enum LogVerifier {
    public struct Report: Sendable {
        public let log: KeyLog
        /// The highest boundary a verified stable checkpoint covers (0: none).
        public let verifiedBoundary: UInt64
        /// Entries covered by that checkpoint; the rest are recomputed but not yet certified.
        public let verifiedLength: UInt64

        /// The accepted operator commands, ascending, with their progress at the end of the log.
        public var commands: [CommandProgress] { log.commands }
        /// The registered clients that are not removed, with their newest keys.
        public var clients: [ClientKeys] { log.clients.compactMap { log.newestClientKeys(of: $0) } }
        /// Every client id ever added (removed ones included: ids are never reused).
        public var removedClients: [ClientID] { log.removedClients }
    }

    public static func verify(_ bytes: [UInt8]) throws -> Report {
        try verify(LogExport(bytes: bytes))
    }

    public static func verify(_ export: LogExport) throws -> Report {
        var log = KeyLog(configuration: export.configuration)
        var pending = export.checkpoints[...]
        var verifiedBoundary: UInt64 = 0
        var verifiedLength: UInt64 = 0
        var previous: UInt64?
        for c in export.checkpoints {
            if let p = previous, c.boundary <= p { throw ClusterError.checkpointOutOfOrder(boundary: c.boundary, after: p) }
            previous = c.boundary
        }
        func verifyCheckpoint(_ c: CheckpointCertificate) throws {
            let position = log.position(atBoundary: c.boundary)
            if c.statement.logLength > position.length { throw ClusterError.logTruncated(boundary: c.boundary) }
            guard c.statement.logLength == position.length, c.statement.logHead == position.head else {
                throw ClusterError.logHeadMismatch(boundary: c.boundary)
            }
            // The Q signatures below vouch that no entry ≤ B is missing.
            try log.checkpoint(boundary: c.boundary)
            guard try log.verify(c) == .matchesLog else { throw ClusterError.logHeadMismatch(boundary: c.boundary) }
            verifiedBoundary = c.boundary
            verifiedLength = position.length
        }
        for entry in export.entries {
            while let c = pending.first, c.boundary < entry.sequence {
                try verifyCheckpoint(c)
                pending = pending.dropFirst()
            }
            try log.append(verifying: entry)
        }
        for c in pending { try verifyCheckpoint(c) }
        return Report(log: log, verifiedBoundary: verifiedBoundary, verifiedLength: verifiedLength)
    }
}
