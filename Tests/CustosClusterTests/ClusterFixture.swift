import BLS12381
import CustosCrypto
import Foundation
@testable import CustosCluster

/// The private keys of one key name, held by a test in place of a vault.
struct TestKeys: @unchecked Sendable {
    let name: KeyName
    let consensus: BLS12381.PrivateKey
    let main: SigningPrivateKey
    let tlsPin: [UInt8]

    /// Keys derived from (seed, name): the same inputs give the same keys.
    init(name: KeyName, seed: UInt8) {
        self.name = name
        var ikm = [UInt8](repeating: seed, count: 32)
        ikm[0] = UInt8(truncatingIfNeeded: name.replica.rawValue)
        ikm[1] = UInt8(truncatingIfNeeded: name.generation)
        ikm[2] = UInt8(truncatingIfNeeded: name.epoch)
        consensus = try! BLS12381.PrivateKey(ikm: ikm)
        ikm[3] = 0xAA
        main = try! SigningPrivateKey(secretMaterial: SecretBytes(ikm), scheme: .ed25519)
        ikm[3] = 0xBB
        tlsPin = ikm
    }

    var mainPublicKey: [UInt8] { main.publicKey.rawRepresentation! }

    func signMain(_ message: [UInt8]) -> [UInt8] { try! main.signature(for: message).bytes }

    var candidate: CandidateKeys {
        let consensus = consensus, main = main
        return CandidateKeys(consensusPublicKey: consensus.publicKey, proofOfPossession: consensus.proofOfPossession(),
                             mainPublicKey: mainPublicKey, tlsPin: tlsPin,
                             signConsensus: { consensus.signature(for: $0, domain: $1) },
                             signMain: { try main.signature(for: $0).bytes })
    }

    var descriptor: ReplicaDescriptor {
        ReplicaDescriptor(id: name.replica, address: "127.0.0.1:\(7000 + Int(name.replica.rawValue))", mainKey: mainPublicKey,
                          consensusKey: consensus.publicKey, proofOfPossession: consensus.proofOfPossession(), tlsPin: tlsPin)
    }
}

/// A cluster of n replicas with every private key in memory, for building and breaking
/// protocol messages.
struct ClusterFixture: @unchecked Sendable {
    static let clusterID: [UInt8] = Array(0x10..<0x20)

    let n: Int
    let interval: UInt64
    let seed: UInt8
    let operatorKey: SigningPrivateKey
    let configuration: ClusterConfiguration
    var cluster: [UInt8] { configuration.clusterID }

    init(n: Int, interval: UInt64 = 4, seed: UInt8 = 7) async throws {
        self.n = n
        self.interval = interval
        self.seed = seed
        let op = try SigningPrivateKey(secretMaterial: SecretBytes([UInt8](repeating: seed &+ 1, count: 32)), scheme: .ed25519)
        operatorKey = op
        let body = ConfigurationBody(clusterID: Self.clusterID, checkpointInterval: interval,
                                     operatorKey: try OperatorKey(scheme: .ed25519, rawRepresentation: op.publicKey.rawRepresentation!),
                                     replicas: (0..<n).map { TestKeys(name: .bootstrap(ReplicaID($0)), seed: seed).descriptor },
                                     createdAt: 1_764_000_000)
        configuration = try await ClusterConfiguration.sign(body: body) { try op.signature(for: $0).bytes }
    }

    func keys(_ replica: Int, generation: UInt64 = 0, epoch: UInt64) -> TestKeys {
        TestKeys(name: KeyName(replica: ReplicaID(replica), generation: generation, epoch: epoch), seed: seed)
    }

    /// The record for `name` with fresh keys, authorised by `authority` (default: the keys of e−1).
    func record(_ name: KeyName, keys: TestKeys? = nil, authority: TestKeys? = nil, command: UInt64 = 0) async throws -> KeyExchangeRecord {
        let keys = keys ?? TestKeys(name: name, seed: seed)
        let authority = authority ?? TestKeys(name: KeyName(replica: name.replica, generation: name.generation, epoch: name.epoch - 1), seed: seed)
        return try await KeyExchangeRecord.build(cluster: cluster, name: name, keys: keys.candidate, command: command) { authority.signMain($0) }
    }

    func approval(of record: KeyExchangeRecord, by approver: TestKeys) -> Approval {
        Approval(approverKey: approver.name,
                 share: approver.consensus.signature(for: Approval.message(cluster: cluster, record: record), domain: SignatureTag.keyLogApprovalDST))
    }

    /// A certificate by the given approvers' keys (each knows its own public key).
    func certificate(of record: KeyExchangeRecord, by approvers: [TestKeys]) throws -> ClusterCertificate {
        let byName = Dictionary(uniqueKeysWithValues: approvers.map { ($0.name, $0.consensus.publicKey) })
        return try ClusterCertificate.combine(approvers.map { approval(of: record, by: $0) },
                                              message: Approval.message(cluster: cluster, record: record),
                                              domain: SignatureTag.keyLogApprovalDST, replicaCount: n, quorum: configuration.quorum) { byName[$0] }
    }

    func bootstrap(_ replicas: Range<Int>) -> [TestKeys] { replicas.map { keys($0, epoch: 0) } }

    func checkpointSignature(_ statement: CheckpointStatement, by keys: TestKeys) -> CheckpointSignature {
        CheckpointSignature(statement: statement, signer: keys.name, signature: keys.signMain(statement.message(cluster: cluster)))
    }
}

func hex(_ text: String) -> [UInt8] { Hex.decode(text)! }
