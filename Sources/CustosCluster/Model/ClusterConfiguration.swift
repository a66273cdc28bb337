import BLS12381
import Crypto
import CustosCrypto

/// The operator's public key: Ed25519 (raw 32 bytes) or ECDSA P-384 with SHA-384 (SEC1
/// uncompressed, 97 bytes; signatures raw r‖s, 96 bytes).
public struct OperatorKey: Equatable, Sendable {
    public let scheme: SignatureScheme
    public let rawRepresentation: [UInt8]
    public let publicKey: SigningPublicKey

    public init(scheme: SignatureScheme, rawRepresentation raw: [UInt8]) throws {
        switch scheme {
        case .ed25519: guard raw.count == 32 else { throw ClusterError.invalidOperatorKey }
        case .ecdsaP384SHA384: guard raw.count == 97, raw.first == 0x04 else { throw ClusterError.invalidOperatorKey }
        default: throw ClusterError.unsupportedOperatorScheme
        }
        do {
            publicKey = try SigningPublicKey(rawRepresentation: raw, scheme: scheme)
        } catch {
            throw ClusterError.invalidOperatorKey
        }
        self.scheme = scheme
        rawRepresentation = raw
    }

    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        let format: SignatureFormat? = scheme == .ecdsaP384SHA384 ? .raw : nil
        return (try? publicKey.isValidSignature(signature, for: message, format: format)) ?? false
    }

    public static func == (a: OperatorKey, b: OperatorKey) -> Bool {
        a.scheme == b.scheme && a.rawRepresentation == b.rawRepresentation
    }

    var cbor: CBORValue { .array([.text(scheme.rawValue), .bytes(rawRepresentation)]) }
}

/// One replica of the configuration with its bootstrap public keys (epoch 0).
public struct ReplicaDescriptor: Equatable, Sendable {
    public let id: ReplicaID
    /// "host:port".
    public let address: String
    /// Raw Ed25519 public key, 32 bytes.
    public let mainKey: [UInt8]
    public let consensusKey: BLS12381.PublicKey
    public let proofOfPossession: BLS12381.ProofOfPossession
    /// RFC 7469 pin of the bootstrap TLS key, 32 bytes.
    public let tlsPin: [UInt8]

    public init(id: ReplicaID, address: String, mainKey: [UInt8], consensusKey: BLS12381.PublicKey,
                proofOfPossession: BLS12381.ProofOfPossession, tlsPin: [UInt8]) {
        self.id = id
        self.address = address
        self.mainKey = mainKey
        self.consensusKey = consensusKey
        self.proofOfPossession = proofOfPossession
        self.tlsPin = tlsPin
    }

    var cbor: CBORValue {
        .array([.unsigned(UInt64(id.rawValue)), .text(address), .bytes(mainKey), .bytes(consensusKey.compressedRepresentation),
                .bytes(proofOfPossession.compressedRepresentation), .bytes(tlsPin)])
    }
}

/// The configuration before it is signed.
public struct ConfigurationBody: Equatable, Sendable {
    public static let formatVersion: UInt64 = 1

    public let clusterID: [UInt8]
    public let checkpointInterval: UInt64
    public let operatorKey: OperatorKey
    public let replicas: [ReplicaDescriptor]
    /// Unix seconds.
    public let createdAt: UInt64

    public init(clusterID: [UInt8], checkpointInterval: UInt64, operatorKey: OperatorKey, replicas: [ReplicaDescriptor], createdAt: UInt64) {
        self.clusterID = clusterID
        self.checkpointInterval = checkpointInterval
        self.operatorKey = operatorKey
        self.replicas = replicas
        self.createdAt = createdAt
    }

    public var encoded: [UInt8] {
        CBORValue.array([.unsigned(Self.formatVersion), .bytes(clusterID), .unsigned(checkpointInterval), operatorKey.cbor,
                         .array(replicas.map(\.cbor)), .unsigned(createdAt)]).encoded
    }

    /// Decodes and checks every rule of docs/cluster.md except the operator signature.
    init(decoding value: CBORValue) throws {
        let f = try value.array("configuration body", count: 6)
        let version = try f[0].unsigned("configuration version")
        guard version == Self.formatVersion else { throw ClusterError.unsupportedVersion(what: "configuration", version: version) }
        clusterID = try f[1].bytes("cluster id", count: 16)
        checkpointInterval = try f[2].unsigned("checkpoint interval")
        guard checkpointInterval >= 1 else { throw ClusterError.zeroCheckpointInterval }
        let op = try f[3].array("operator key", count: 2)
        let scheme = try op[0].text("operator key scheme", maximum: 32)
        guard let parsedScheme = SignatureScheme(rawValue: scheme) else { throw ClusterError.unsupportedOperatorScheme }
        operatorKey = try OperatorKey(scheme: parsedScheme, rawRepresentation: try op[1].bytes("operator public key", maximum: 97))
        let list = try f[4].array("replicas")
        guard (1...256).contains(list.count) else { throw ClusterError.replicaCountOutOfRange(list.count) }
        var replicas: [ReplicaDescriptor] = []
        replicas.reserveCapacity(list.count)
        for (position, item) in list.enumerated() {
            replicas.append(try Self.replica(item, position: position))
        }
        try Self.checkDistinct(replicas)
        self.replicas = replicas
        createdAt = try f[5].unsigned("created at")
    }

    private static func replica(_ value: CBORValue, position: Int) throws -> ReplicaDescriptor {
        let f = try value.array("replica", count: 6)
        let id = try f[0].unsigned("replica id")
        guard id == UInt64(position) else { throw ClusterError.replicaIDOutOfPosition(position: position, id: id) }
        let replica = ReplicaID(position)
        let address = try f[1].text("replica address", maximum: 255)
        guard isValidAddress(address) else { throw ClusterError.invalidReplicaAddress(replica) }
        let main = try f[2].bytes("bootstrap main key", count: 32)
        let consensusBytes = try f[3].bytes("bootstrap consensus key", count: 48)
        guard let consensus = try? BLS12381.PublicKey(compressedRepresentation: consensusBytes) else {
            throw ClusterError.invalidConsensusKey(what: "\(replica)")
        }
        let popBytes = try f[4].bytes("bootstrap proof of possession", count: 96)
        guard let pop = try? BLS12381.ProofOfPossession(compressedRepresentation: popBytes), consensus.isValidProofOfPossession(pop) else {
            throw ClusterError.badProofOfPossession(what: "\(replica)")
        }
        let pin = try f[5].bytes("bootstrap TLS pin", count: 32)
        return ReplicaDescriptor(id: replica, address: address, mainKey: main, consensusKey: consensus, proofOfPossession: pop, tlsPin: pin)
    }

    private static func checkDistinct(_ replicas: [ReplicaDescriptor]) throws {
        func check<K: Hashable>(_ field: String, _ key: (ReplicaDescriptor) -> K) throws {
            var seen: [K: ReplicaID] = [:]
            for r in replicas {
                if let first = seen.updateValue(r.id, forKey: key(r)) {
                    throw ClusterError.duplicateReplicaField(field: field, first: first, second: r.id)
                }
            }
        }
        try check("address") { $0.address }
        try check("consensus key") { $0.consensusKey.compressedRepresentation }
        try check("main key") { $0.mainKey }
        try check("TLS pin") { $0.tlsPin }
    }

    /// host:port with a printable ASCII host and a port 1…65535.
    static func isValidAddress(_ address: String) -> Bool {
        let bytes = Array(address.utf8)
        guard !bytes.isEmpty, bytes.count <= 255, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }),
              let colon = bytes.lastIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        let port = bytes[(colon + 1)...]
        guard (1...5).contains(port.count), port.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int(String(decoding: port, as: UTF8.self)), (1...65535).contains(value) else { return false }
        return true
    }
}

/// A decoded and verified signed configuration (docs/cluster.md, "Configuration and genesis").
public struct ClusterConfiguration: Equatable, Sendable {
    /// A configuration of 256 replicas takes about 128 KiB.
    public static let maximumByteCount = 256 * 1024

    public let body: ConfigurationBody
    public let bodyBytes: [UInt8]
    public let operatorSignature: [UInt8]
    /// The exact SignedConfiguration bytes.
    public let signedBytes: [UInt8]
    /// SHA-256 of `signedBytes`: the start of the key log's chain.
    public let genesisHash: [UInt8]

    public var clusterID: [UInt8] { body.clusterID }
    public var checkpointInterval: UInt64 { body.checkpointInterval }
    public var replicas: [ReplicaDescriptor] { body.replicas }
    public var operatorKey: OperatorKey { body.operatorKey }
    public var createdAt: UInt64 { body.createdAt }
    public var n: Int { body.replicas.count }
    public var f: Int { (n - 1) / 3 }
    public var quorum: Int { n - f }

    /// Decodes and verifies: every refusal of docs/cluster.md, the operator signature last.
    public init(signedBytes: [UInt8]) throws {
        let value = try CBORValue.decode(signedBytes, what: "signed configuration", limit: Self.maximumByteCount)
        try self.init(value: value, signedBytes: signedBytes)
    }

    /// From the SignedConfiguration item of a larger document (the log export).
    init(value: CBORValue, signedBytes: [UInt8]) throws {
        let outer = try value.array("signed configuration", count: 2)
        let bodyBytes = try outer[0].bytes("configuration body", maximum: Self.maximumByteCount)
        let signature = try outer[1].bytes("operator signature", maximum: 128)
        let body = try ConfigurationBody(decoding: try CBORValue.decode(bodyBytes, what: "configuration body", limit: Self.maximumByteCount))
        let message = SignatureTag.configuration.message(cluster: body.clusterID, body: .bytes(bodyBytes))
        guard body.operatorKey.isValidSignature(signature, for: message) else { throw ClusterError.badOperatorSignature }
        self.body = body
        self.bodyBytes = bodyBytes
        operatorSignature = signature
        self.signedBytes = signedBytes
        genesisHash = Array(SHA256.hash(data: signedBytes))
    }

    /// Encodes `body`, has the operator sign M(configuration, cluster, body bytes) and returns
    /// the verified result (a signer that signs with another key is refused here).
    public static func sign(body: ConfigurationBody, operatorSigner: ([UInt8]) async throws -> [UInt8]) async throws -> ClusterConfiguration {
        let bodyBytes = body.encoded
        let message = SignatureTag.configuration.message(cluster: body.clusterID, body: .bytes(bodyBytes))
        let signature = try await operatorSigner(message)
        return try ClusterConfiguration(signedBytes: CBORValue.array([.bytes(bodyBytes), .bytes(signature)]).encoded)
    }

    public func replica(_ id: ReplicaID) -> ReplicaDescriptor? {
        id.index < replicas.count ? replicas[id.index] : nil
    }

    public static func == (a: ClusterConfiguration, b: ClusterConfiguration) -> Bool { a.signedBytes == b.signedBytes }
}
