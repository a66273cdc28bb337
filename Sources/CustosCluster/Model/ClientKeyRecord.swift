import Crypto

/// A client key record (docs/cluster.md, "Client nodes"): the new public keys of (k, e), bound
/// by the new signing key, authorised by the signing key of (k, e−1).
///     ClientRecordBody = [k, e ≥ 1, ClientKeySet, binding signature, command]
///     ClientRecord     = [ClientRecordBody bytes, authority signature]
public struct ClientKeyRecord: Equatable, Sendable {
    public static let maximumByteCount = 1024

    public let name: ClientKeyName
    public let keySet: ClientKeySet
    /// By the new signing key over binding(k, e).
    public let bindingSignature: [UInt8]
    /// The command this record answers; 0 when none.
    public let command: UInt64
    public let authoritySignature: [UInt8]
    public let bodyBytes: [UInt8]
    /// The exact ClientRecord bytes.
    public let bytes: [UInt8]
    /// SHA-256 of `bytes`.
    public let digest: [UInt8]

    public var keys: ClientKeys { ClientKeys(name: name, keySet: keySet) }

    /// M(client-record-authority, cluster, ClientRecordBody bytes as bstr).
    public static func authorityMessage(cluster: [UInt8], bodyBytes: [UInt8]) -> [UInt8] {
        SignatureTag.clientRecordAuthority.message(cluster: cluster, body: .bytes(bodyBytes))
    }

    /// M(client-key-approval, cluster, [k, e, record digest]), signed under the client-key-approval DST.
    public static func approvalMessage(cluster: [UInt8], record: ClientKeyRecord) -> [UInt8] {
        SignatureTag.clientKeyApproval.message(cluster: cluster, body: .array([
            .unsigned(UInt64(record.name.client.rawValue)), .unsigned(record.name.epoch), .bytes(record.digest),
        ]))
    }

    /// Builds the record for `name` from candidate keys: the binding by the new signing key,
    /// then the authority signature by the signing key of (k, e−1) through `authority`.
    public static func build(cluster: [UInt8], name: ClientKeyName, keys: ClientCandidateKeys, command: UInt64 = 0,
                             authority: ([UInt8]) async throws -> [UInt8]) async throws -> ClientKeyRecord {
        let binding = try keys.signBinding(keys.keySet.bindingMessage(cluster: cluster, name: name))
        let body = CBORValue.array([
            .unsigned(UInt64(name.client.rawValue)), .unsigned(name.epoch), keys.keySet.cbor, .bytes(binding), .unsigned(command),
        ]).encoded
        let signature = try await authority(authorityMessage(cluster: cluster, bodyBytes: body))
        return try ClientKeyRecord(bytes: CBORValue.array([.bytes(body), .bytes(signature)]).encoded)
    }

    /// Decodes, refusing more than 1024 bytes, any field of the wrong shape, epoch 0 and an
    /// invalid signing key. Signatures are checked by `verify`.
    public init(bytes: [UInt8]) throws {
        let outer = try CBORValue.decode(bytes, what: "client record", limit: Self.maximumByteCount).array("client record", count: 2)
        let bodyBytes = try outer[0].bytes("client record body", maximum: Self.maximumByteCount)
        authoritySignature = try outer[1].bytes("client record authority signature", count: ClientSigningKey.signatureByteCount)
        let f = try CBORValue.decode(bodyBytes, what: "client record body", limit: Self.maximumByteCount).array("client record body", count: 5)
        let client = try ClientID(value: f[0], what: "client record client")
        name = ClientKeyName(client: client, epoch: try f[1].unsigned("client record epoch"))
        guard name.epoch >= 1 else { throw ClusterError.unexpectedClientEpoch(name, expected: 1) }
        keySet = try ClientKeySet(value: f[2])
        bindingSignature = try f[3].bytes("client record binding signature", count: ClientSigningKey.signatureByteCount)
        command = try f[4].unsigned("client record command")
        self.bodyBytes = bodyBytes
        self.bytes = bytes
        digest = Array(SHA256.hash(data: bytes))
    }

    /// Checks the binding under the record's own signing key and the authority signature under
    /// `authorityKey` (the signing key of (k, e−1)). Epoch order and replay are the caller's.
    public func verify(cluster: [UInt8], authorityKey: ClientSigningKey) throws {
        guard keySet.signingKey.isValidSignature(bindingSignature, for: keySet.bindingMessage(cluster: cluster, name: name)),
              authorityKey.isValidSignature(authoritySignature, for: Self.authorityMessage(cluster: cluster, bodyBytes: bodyBytes)) else {
            throw ClusterError.badClientRecordSignature(name)
        }
    }

    public static func == (a: ClientKeyRecord, b: ClientKeyRecord) -> Bool { a.bytes == b.bytes }
}
