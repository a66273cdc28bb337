/// The body of a replica-to-replica call (docs/cluster.md, "Peer requests").
public enum PeerRequest: Equatable, Sendable {
    case approve(Proposal)
    case logEntries(after: UInt64, limit: UInt64)
    case stableCheckpoints(after: UInt64, limit: UInt64)
    case checkpointSignature(boundary: UInt64)
    case status
    /// The SignedCommand bytes a relaying replica asks approval for.
    case approveCommand([UInt8])
    /// The ClientRecord bytes a relaying replica asks approval for.
    case approveClientRecord([UInt8])
    /// A client submits its own ClientRecord bytes.
    case submitClientRecord([UInt8])
    /// Log entries with index ≥ `after`, waiting up to `waitMilliseconds` for the first.
    case watchLog(after: UInt64, limit: UInt64, waitMilliseconds: UInt64)

    /// The longest a watch-log request may wait.
    public static let maximumWaitMilliseconds: UInt64 = 25000
    public static let maximumByteCount = Proposal.maximumByteCount + 16

    public var encoded: [UInt8] {
        switch self {
        case .approve(let p): CBORValue.array([.unsigned(1), p.cbor]).encoded
        case .logEntries(let after, let limit): CBORValue.array([.unsigned(2), .unsigned(after), .unsigned(limit)]).encoded
        case .stableCheckpoints(let after, let limit): CBORValue.array([.unsigned(3), .unsigned(after), .unsigned(limit)]).encoded
        case .checkpointSignature(let b): CBORValue.array([.unsigned(4), .unsigned(b)]).encoded
        case .status: CBORValue.array([.unsigned(5)]).encoded
        case .approveCommand(let b): CBORValue.array([.unsigned(6), .bytes(b)]).encoded
        case .approveClientRecord(let b): CBORValue.array([.unsigned(7), .bytes(b)]).encoded
        case .submitClientRecord(let b): CBORValue.array([.unsigned(8), .bytes(b)]).encoded
        case .watchLog(let after, let limit, let wait): CBORValue.array([.unsigned(9), .unsigned(after), .unsigned(limit), .unsigned(wait)]).encoded
        }
    }

    public init(bytes: [UInt8]) throws {
        let f = try CBORValue.decode(bytes, what: "peer request", limit: Self.maximumByteCount).array("peer request")
        guard let kind = try f.first?.unsigned("peer request kind") else { throw ClusterError.malformed("peer request is empty") }
        func fields(_ count: Int) throws {
            guard f.count == count else { throw ClusterError.malformed("peer request \(kind) must have \(count) fields, has \(f.count)") }
        }
        switch kind {
        case 1:
            try fields(2)
            self = .approve(try Proposal(value: f[1]))
        case 2:
            try fields(3)
            self = .logEntries(after: try f[1].unsigned("after index"), limit: try f[2].unsigned("limit"))
        case 3:
            try fields(3)
            self = .stableCheckpoints(after: try f[1].unsigned("after boundary"), limit: try f[2].unsigned("limit"))
        case 4:
            try fields(2)
            self = .checkpointSignature(boundary: try f[1].unsigned("boundary"))
        case 5:
            try fields(1)
            self = .status
        case 6:
            try fields(2)
            self = .approveCommand(try f[1].bytes("command", maximum: OperatorCommand.maximumByteCount))
        case 7:
            try fields(2)
            self = .approveClientRecord(try f[1].bytes("client record", maximum: ClientKeyRecord.maximumByteCount))
        case 8:
            try fields(2)
            self = .submitClientRecord(try f[1].bytes("client record", maximum: ClientKeyRecord.maximumByteCount))
        case 9:
            try fields(4)
            let wait = try f[3].unsigned("wait milliseconds")
            guard wait <= Self.maximumWaitMilliseconds else {
                throw ClusterError.malformed("watch-log wait must be at most \(Self.maximumWaitMilliseconds) ms, is \(wait)")
            }
            self = .watchLog(after: try f[1].unsigned("after index"), limit: try f[2].unsigned("limit"), waitMilliseconds: wait)
        default:
            throw ClusterError.malformed("unknown peer request kind \(kind)")
        }
    }
}

extension PeerRequest {
    /// Whether a client node may make this request (the others are refused `notAReplica`).
    public var isOpenToClients: Bool {
        switch self {
        case .logEntries, .stableCheckpoints, .status, .submitClientRecord, .watchLog: true
        case .approve, .checkpointSignature, .approveCommand, .approveClientRecord: false
        }
    }
}

/// The answer to `PeerRequest.submitClientRecord`: [state, approvals, quorum].
public struct ClientSubmissionState: Equatable, Sendable {
    public enum State: UInt64, Sendable {
        case pending = 0
        case certified = 1
        case inLog = 2
    }

    public let state: State
    public let approvals: UInt64
    public let quorum: UInt64

    public init(state: State, approvals: UInt64, quorum: UInt64) {
        self.state = state
        self.approvals = approvals
        self.quorum = quorum
    }

    public var encoded: [UInt8] { CBORValue.array([.unsigned(state.rawValue), .unsigned(approvals), .unsigned(quorum)]).encoded }

    public init(bytes: [UInt8]) throws {
        let f = try CBORValue.decode(bytes, what: "client submission state", limit: 64).array("client submission state", count: 3)
        let code = try f[0].unsigned("submission state")
        guard let state = State(rawValue: code) else { throw ClusterError.malformed("submission state must be 0, 1 or 2, is \(code)") }
        self.state = state
        approvals = try f[1].unsigned("approvals")
        quorum = try f[2].unsigned("quorum")
    }
}

/// The answer to `PeerRequest.status`: [latest stable boundary, highest signed sequence or null].
public struct PeerStatus: Equatable, Sendable {
    public let latestStableBoundary: UInt64
    public let highestSignedSequence: UInt64?

    public init(latestStableBoundary: UInt64, highestSignedSequence: UInt64?) {
        self.latestStableBoundary = latestStableBoundary
        self.highestSignedSequence = highestSignedSequence
    }

    public var encoded: [UInt8] {
        CBORValue.array([.unsigned(latestStableBoundary), highestSignedSequence.map { .unsigned($0) } ?? .null]).encoded
    }

    public init(bytes: [UInt8]) throws {
        let f = try CBORValue.decode(bytes, what: "peer status", limit: 64).array("peer status", count: 2)
        latestStableBoundary = try f[0].unsigned("latest stable boundary")
        highestSignedSequence = f[1].isNull ? nil : try f[1].unsigned("highest signed sequence")
    }
}
