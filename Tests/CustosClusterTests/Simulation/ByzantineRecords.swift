import BLS12381
import CustosCluster
import CustosCrypto

/// Records a byzantine replica can make with keys it holds (its own, or public ones it copied),
/// for the approver's refusals.
struct ByzantineRecords {
    let cluster: SimulatedCluster
    var random: SeededRandom

    init(cluster: SimulatedCluster, seed: UInt64) {
        self.cluster = cluster
        random = SeededRandom(seed: seed)
    }

    /// Candidate keys whose public parts may be replaced: a copied consensus key or proof of
    /// possession, or bindings made by other keys than the ones named.
    mutating func keys(consensusKey: BLS12381.PublicKey? = nil, proofOfPossession: BLS12381.ProofOfPossession? = nil,
                       consensusSigner: BLS12381.PrivateKey? = nil, mainSigner: SigningPrivateKey? = nil) -> CandidateKeys {
        let consensus = random.blsKey()
        let main = random.ed25519Key()
        let bindingKey = consensusSigner ?? consensus
        let mainBindingKey = mainSigner ?? main
        return CandidateKeys(consensusPublicKey: consensusKey ?? consensus.publicKey,
                             proofOfPossession: proofOfPossession ?? consensus.proofOfPossession(),
                             mainPublicKey: main.publicKey.rawRepresentation!, tlsPin: random.bytes(32),
                             signConsensus: { bindingKey.signature(for: $0, domain: $1) },
                             signMain: { try mainBindingKey.signature(for: $0).bytes })
    }

    /// A record for `name` authorised by `authority` (a bootstrap main key the test holds).
    func record(_ name: KeyName, keys: CandidateKeys, authority: SigningPrivateKey) async throws -> KeyExchangeRecord {
        try await KeyExchangeRecord.build(cluster: cluster.configuration.clusterID, name: name, keys: keys) { try authority.signature(for: $0).bytes }
    }

    /// A record authorised through any signer, e.g. the vault of the replica whose key it is.
    func record(_ name: KeyName, keys: CandidateKeys, authorize: ([UInt8]) async throws -> [UInt8]) async throws -> KeyExchangeRecord {
        try await KeyExchangeRecord.build(cluster: cluster.configuration.clusterID, name: name, keys: keys, authority: authorize)
    }

    static func proposal(_ record: KeyExchangeRecord) -> [UInt8] { PeerRequest.approve(Proposal(record: record, previous: nil)).encoded }
}
