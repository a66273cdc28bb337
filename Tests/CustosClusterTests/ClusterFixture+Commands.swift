import BLS12381
import CustosCrypto
import Foundation
@testable import CustosCluster

/// The private keys of one client key name, held by a test in place of a client vault.
struct TestClientKeys: @unchecked Sendable {
    let name: ClientKeyName
    let signing: SigningPrivateKey
    let tlsPin: [UInt8]
    let apiTLSPin: [UInt8]

    /// Keys derived from (seed, name, scheme): the same inputs give the same keys.
    init(name: ClientKeyName, seed: UInt8, scheme: SignatureScheme = .ed25519) {
        self.name = name
        var ikm = [UInt8](repeating: seed, count: 32)
        ikm[0] = 0xC1
        ikm[1] = UInt8(truncatingIfNeeded: name.client.rawValue)
        ikm[2] = UInt8(truncatingIfNeeded: name.client.rawValue >> 8)
        ikm[3] = UInt8(truncatingIfNeeded: name.epoch)
        signing = try! SigningPrivateKey(secretMaterial: SecretBytes(ikm), scheme: scheme)
        ikm[4] = 0xCC
        tlsPin = ikm
        ikm[4] = 0xDD
        apiTLSPin = ikm
    }

    var signingKey: ClientSigningKey {
        try! ClientSigningKey(scheme: signing.scheme, rawRepresentation: signing.publicKey.rawRepresentation!)
    }

    /// 64 bytes: Ed25519, or P-256 raw r‖s.
    func sign(_ message: [UInt8]) -> [UInt8] {
        try! signing.signature(for: message, format: signing.scheme == .ecdsaP256SHA256 ? .raw : nil).bytes
    }

    var keySet: ClientKeySet { ClientKeySet(signingKey: signingKey, tlsPin: tlsPin, apiTLSPin: apiTLSPin) }

    var candidate: ClientCandidateKeys {
        let signing = signing
        return ClientCandidateKeys(signingKey: signingKey, tlsPin: tlsPin, apiTLSPin: apiTLSPin,
                                   signBinding: { try signing.signature(for: $0, format: signing.scheme == .ecdsaP256SHA256 ? .raw : nil).bytes })
    }

    /// The same keys with some kinds replaced by those of `other` (a rotation that carries the rest over).
    func carrying(_ kinds: ClientKeyKinds, from other: TestClientKeys) -> ClientCandidateKeys {
        let signer = kinds.contains(.signing) ? other.signing : signing
        let key = kinds.contains(.signing) ? other.signingKey : signingKey
        return ClientCandidateKeys(signingKey: key, tlsPin: kinds.contains(.tls) ? other.tlsPin : tlsPin,
                                   apiTLSPin: kinds.contains(.apiTLS) ? other.apiTLSPin : apiTLSPin,
                                   signBinding: { try signer.signature(for: $0, format: signer.scheme == .ecdsaP256SHA256 ? .raw : nil).bytes })
    }
}

extension ClusterFixture {
    /// A fixed "now" for commands (after the configuration's creation).
    static let now: UInt64 = 1_764_000_600

    func clientKeys(_ client: Int, epoch: UInt64, scheme: SignatureScheme = .ed25519) -> TestClientKeys {
        TestClientKeys(name: ClientKeyName(client: ClientID(client), epoch: epoch), seed: seed, scheme: scheme)
    }

    func clientDescriptor(_ client: Int, keys: TestClientKeys? = nil) async throws -> ClientDescriptor {
        let keys = keys ?? clientKeys(client, epoch: 0)
        return try await ClientDescriptor.build(cluster: cluster, client: ClientID(client), keys: keys.keySet) { keys.sign($0) }
    }

    /// The client record for `name` with the given candidate keys (default: fresh keys of
    /// `name`), authorised by `authority` (default: the keys of e−1).
    func clientRecord(_ name: ClientKeyName, keys: ClientCandidateKeys? = nil, authority: TestClientKeys? = nil,
                      command: UInt64 = 0) async throws -> ClientKeyRecord {
        let keys = keys ?? TestClientKeys(name: name, seed: seed).candidate
        let authority = authority ?? TestClientKeys(name: ClientKeyName(client: name.client, epoch: name.epoch - 1), seed: seed)
        return try await ClientKeyRecord.build(cluster: cluster, name: name, keys: keys, command: command) { authority.sign($0) }
    }

    /// A command signed by the fixture's operator key (or `signer`).
    func command(_ number: UInt64, _ action: OperatorCommand.Action, expiresAt: UInt64 = ClusterFixture.now + 3600,
                 signer: SigningPrivateKey? = nil, cluster: [UInt8]? = nil) async throws -> OperatorCommand {
        let signer = signer ?? operatorKey
        return try await OperatorCommand.sign(cluster: cluster ?? self.cluster, number: number, expiresAt: expiresAt, action: action) {
            try signer.signature(for: $0, format: signer.scheme == .ecdsaP384SHA384 ? .raw : nil).bytes
        }
    }

    /// A certificate over an arbitrary approval message.
    func certificate(message: [UInt8], domain: BLS12381.DomainSeparationTag, by approvers: [TestKeys]) throws -> ClusterCertificate {
        let byName = Dictionary(uniqueKeysWithValues: approvers.map { ($0.name, $0.consensus.publicKey) })
        let approvals = approvers.map { Approval(approverKey: $0.name, share: $0.consensus.signature(for: message, domain: domain)) }
        return try ClusterCertificate.combine(approvals, message: message, domain: domain, replicaCount: n, quorum: configuration.quorum) { byName[$0] }
    }

    func certificate(of command: OperatorCommand, by approvers: [TestKeys]) throws -> ClusterCertificate {
        try certificate(message: OperatorCommand.approvalMessage(cluster: cluster, command: command), domain: SignatureTag.commandApprovalDST, by: approvers)
    }

    func certificate(of record: ClientKeyRecord, by approvers: [TestKeys]) throws -> ClusterCertificate {
        try certificate(message: ClientKeyRecord.approvalMessage(cluster: cluster, record: record), domain: SignatureTag.clientKeyApprovalDST, by: approvers)
    }

    /// The proof a new operator key gives in rotate-operator-key command `number`.
    func operatorKeyAction(_ number: UInt64, newKey: SigningPrivateKey) throws -> OperatorCommand.Action {
        let key = try OperatorKey(scheme: newKey.scheme, rawRepresentation: newKey.publicKey.rawRepresentation!)
        let proof = try newKey.signature(for: OperatorCommand.operatorKeyBindingMessage(cluster: cluster, number: number, key: key),
                                         format: newKey.scheme == .ecdsaP384SHA384 ? .raw : nil).bytes
        return .rotateOperatorKey(key, proof: proof)
    }

    /// The configuration form of a replacement for `replica` with the keys of generation g, epoch 0.
    func replacement(_ replica: Int, generation: UInt64, address: String? = nil) -> ReplicaDescriptor {
        let keys = keys(replica, generation: generation, epoch: 0)
        let d = keys.descriptor
        return ReplicaDescriptor(id: d.id, address: address ?? "127.0.0.1:\(8000 + replica)", mainKey: d.mainKey, consensusKey: d.consensusKey,
                                 proofOfPossession: d.proofOfPossession, tlsPin: d.tlsPin)
    }
}
