/// The body of a replica-to-replica call (docs/cluster.md, "Peer requests").
public enum PeerRequest: Equatable, Sendable {
    case approve(Proposal)
    case logEntries(after: UInt64, limit: UInt64)
    case stableCheckpoints(after: UInt64, limit: UInt64)
    case checkpointSignature(boundary: UInt64)
    case status

    public static let maximumByteCount = Proposal.maximumByteCount + 16

    public var encoded: [UInt8] {
        switch self {
        case .approve(let p): CBORValue.array([.unsigned(1), p.cbor]).encoded
        case .logEntries(let after, let limit): CBORValue.array([.unsigned(2), .unsigned(after), .unsigned(limit)]).encoded
        case .stableCheckpoints(let after, let limit): CBORValue.array([.unsigned(3), .unsigned(after), .unsigned(limit)]).encoded
        case .checkpointSignature(let b): CBORValue.array([.unsigned(4), .unsigned(b)]).encoded
        case .status: CBORValue.array([.unsigned(5)]).encoded
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
        default:
            throw ClusterError.malformed("unknown peer request kind \(kind)")
        }
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
