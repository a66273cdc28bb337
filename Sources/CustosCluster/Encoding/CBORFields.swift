/// Typed reads of the fixed-position arrays of docs/cluster.md. Each names the field it reads
/// (a name from the code, never from the input) so that a refusal says what was wrong.
extension CBORValue {
    /// Decodes `bytes` (at most `limit` of them) as one item.
    public static func decode(_ bytes: [UInt8], what: String, limit: Int) throws -> CBORValue {
        guard bytes.count <= limit else { throw ClusterError.oversized(what: what, limit: limit, actual: bytes.count) }
        do {
            return try CBOR.decode(bytes, maximumLength: limit)
        } catch {
            throw ClusterError.encoding(what: what, error)
        }
    }

    public func array(_ what: String, count: Int? = nil) throws -> [CBORValue] {
        guard case .array(let items) = self else { throw ClusterError.malformed("\(what) must be an array") }
        if let count, items.count != count {
            throw ClusterError.malformed("\(what) must have \(count) fields, has \(items.count)")
        }
        return items
    }

    public func unsigned(_ what: String) throws -> UInt64 {
        guard case .unsigned(let n) = self else { throw ClusterError.malformed("\(what) must be an unsigned integer") }
        return n
    }

    public func bytes(_ what: String, count: Int) throws -> [UInt8] {
        guard case .bytes(let b) = self else { throw ClusterError.malformed("\(what) must be a byte string") }
        guard b.count == count else { throw ClusterError.malformed("\(what) must be \(count) bytes, has \(b.count)") }
        return b
    }

    public func bytes(_ what: String, maximum: Int) throws -> [UInt8] {
        guard case .bytes(let b) = self else { throw ClusterError.malformed("\(what) must be a byte string") }
        guard b.count <= maximum else { throw ClusterError.oversized(what: what, limit: maximum, actual: b.count) }
        return b
    }

    public func text(_ what: String, maximum: Int) throws -> String {
        guard case .text(let s) = self else { throw ClusterError.malformed("\(what) must be a text string") }
        guard s.utf8.count <= maximum else { throw ClusterError.oversized(what: what, limit: maximum, actual: s.utf8.count) }
        return s
    }

    public var isNull: Bool { self == .null }
}
