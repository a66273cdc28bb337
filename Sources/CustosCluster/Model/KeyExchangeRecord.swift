import BLS12381
import Crypto

/// A key-exchange record (docs/cluster.md, "Key exchange"): the new public keys of (r, g, e),
/// bound to each other by signatures of the new keys, and authorised by the main key of
/// (r, g, e−1).
public struct KeyExchangeRecord: Equatable, Sendable {
    public static let maximumByteCount = 1024

    public let name: KeyName
    public let consensusKey: BLS12381.PublicKey
    public let proofOfPossession: BLS12381.ProofOfPossession
    public let consensusBinding: BLS12381.Signature
    /// Raw Ed25519 public key, 32 bytes.
    public let mainKey: [UInt8]
    /// Ed25519 signature by the new main key, 64 bytes.
    public let mainBinding: [UInt8]
    public let tlsPin: [UInt8]
    /// The command this record answers; 0 when none.
    public let command: UInt64
    public let authoritySignature: [UInt8]
    public let bodyBytes: [UInt8]
    /// The exact Record bytes.
    public let bytes: [UInt8]
    /// SHA-256 of `bytes`.
    public let digest: [UInt8]

    /// M(key-binding, cluster, [r, g, e, consensus key, main key, TLS pin]).
    public static func bindingMessage(cluster: [UInt8], name: KeyName, consensusKey: [UInt8], mainKey: [UInt8], tlsPin: [UInt8]) -> [UInt8] {
        SignatureTag.keyBinding.message(cluster: cluster, body: .array([
            .unsigned(UInt64(name.replica.rawValue)), .unsigned(name.generation), .unsigned(name.epoch),
            .bytes(consensusKey), .bytes(mainKey), .bytes(tlsPin),
        ]))
    }

    /// M(record-authority, cluster, RecordBody bytes as bstr).
    public static func authorityMessage(cluster: [UInt8], bodyBytes: [UInt8]) -> [UInt8] {
        SignatureTag.recordAuthority.message(cluster: cluster, body: .bytes(bodyBytes))
    }

    /// Builds the record for `name` from fresh candidate keys: both bindings by the new keys,
    /// then the authority signature by the main key of (r, g, e−1) through `authority`.
    public static func build(cluster: [UInt8], name: KeyName, keys: CandidateKeys, command: UInt64 = 0,
                             authority: ([UInt8]) async throws -> [UInt8]) async throws -> KeyExchangeRecord {
        let consensus = keys.consensusPublicKey.compressedRepresentation
        let binding = bindingMessage(cluster: cluster, name: name, consensusKey: consensus, mainKey: keys.mainPublicKey, tlsPin: keys.tlsPin)
        let consensusBinding = keys.signConsensus(binding, SignatureTag.keyBindingDST)
        let mainBinding = try keys.signMain(binding)
        let body = CBORValue.array([
            .unsigned(UInt64(name.replica.rawValue)), .unsigned(name.generation), .unsigned(name.epoch),
            .bytes(consensus), .bytes(keys.proofOfPossession.compressedRepresentation), .bytes(consensusBinding.compressedRepresentation),
            .bytes(keys.mainPublicKey), .bytes(mainBinding), .bytes(keys.tlsPin), .unsigned(command),
        ]).encoded
        let signature = try await authority(authorityMessage(cluster: cluster, bodyBytes: body))
        return try KeyExchangeRecord(bytes: CBORValue.array([.bytes(body), .bytes(signature)]).encoded)
    }

    /// Decodes, refusing more than 1024 bytes, any field of the wrong shape, an id beyond the
    /// protocol's 256 replicas, and a consensus key that fails KeyValidate. Signatures are
    /// checked by `verify`.
    public init(bytes: [UInt8]) throws {
        let outer = try CBORValue.decode(bytes, what: "record", limit: Self.maximumByteCount).array("record", count: 2)
        let bodyBytes = try outer[0].bytes("record body", maximum: Self.maximumByteCount)
        authoritySignature = try outer[1].bytes("record authority signature", count: 64)
        let f = try CBORValue.decode(bodyBytes, what: "record body", limit: Self.maximumByteCount).array("record body", count: 10)
        let r = try f[0].unsigned("record replica")
        guard r < 256 else { throw ClusterError.replicaOutOfRange(r) }
        name = KeyName(replica: ReplicaID(Int(r)), generation: try f[1].unsigned("record generation"), epoch: try f[2].unsigned("record epoch"))
        guard name.epoch >= 1 else { throw ClusterError.unexpectedEpoch(name, expected: 1) }
        do {
            consensusKey = try BLS12381.PublicKey(compressedRepresentation: try f[3].bytes("record consensus key", count: 48))
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError.invalidConsensusKey(what: "record \(name)")
        }
        do {
            proofOfPossession = try BLS12381.ProofOfPossession(compressedRepresentation: try f[4].bytes("record proof of possession", count: 96))
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError.badProofOfPossession(what: "record \(name)")
        }
        do {
            consensusBinding = try BLS12381.Signature(compressedRepresentation: try f[5].bytes("record consensus binding", count: 96))
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError.badConsensusBinding(name)
        }
        mainKey = try f[6].bytes("record main key", count: 32)
        mainBinding = try f[7].bytes("record main binding", count: 64)
        tlsPin = try f[8].bytes("record TLS pin", count: 32)
        command = try f[9].unsigned("record command")
        self.bodyBytes = bodyBytes
        self.bytes = bytes
        digest = Array(SHA256.hash(data: bytes))
    }

    /// Checks the cryptography of the record for `cluster`: the proof of possession, both
    /// bindings, and the authority signature under `authorityKey` (the raw Ed25519 main key of
    /// (r, g, e−1)). Epoch order and replay are the caller's (the approver's, the key log's).
    public func verify(cluster: [UInt8], authorityKey: [UInt8]) throws {
        guard consensusKey.isValidProofOfPossession(proofOfPossession) else { throw ClusterError.badProofOfPossession(what: "record \(name)") }
        let binding = Self.bindingMessage(cluster: cluster, name: name, consensusKey: consensusKey.compressedRepresentation, mainKey: mainKey, tlsPin: tlsPin)
        guard consensusKey.isValidSignature(consensusBinding, for: binding, domain: SignatureTag.keyBindingDST) else {
            throw ClusterError.badConsensusBinding(name)
        }
        guard Ed25519Verifier.isValid(signature: mainBinding, message: binding, key: mainKey) else { throw ClusterError.badMainBinding(name) }
        guard Ed25519Verifier.isValid(signature: authoritySignature, message: Self.authorityMessage(cluster: cluster, bodyBytes: bodyBytes), key: authorityKey) else {
            throw ClusterError.badAuthoritySignature(name)
        }
    }

    public static func == (a: KeyExchangeRecord, b: KeyExchangeRecord) -> Bool { a.bytes == b.bytes }
}

/// Ed25519 verification over raw keys (main keys travel as 32 raw bytes).
enum Ed25519Verifier {
    static func isValid(signature: [UInt8], message: [UInt8], key: [UInt8]) -> Bool {
        guard signature.count == 64, key.count == 32, let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return false }
        return publicKey.isValidSignature(signature, for: message)
    }
}
