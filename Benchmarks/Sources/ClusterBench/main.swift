// Release-mode timings of the replica network's certificates (docs/cluster.md):
//   - a key-record quorum certificate: decode + verify (FastAggregateVerify under the approval
//     DST over the signers' cached keys), for N = 4 and 64 — compared with blst by
//     scripts/cluster_vs_blst.py, which verifies the very certificates written to --fixtures;
//   - a stable-checkpoint certificate (Q Ed25519 signatures): decode + verify, against N,
//     with one raw Ed25519 verify (swift-crypto) as the unit.
// Run: swift build -c release --product ClusterBench && .build/release/ClusterBench [--fixtures FILE]
import BLS12381
import Crypto
import CustosCluster
import Foundation

/// Best of 15 batches, like BLSBench: on a shared machine the fastest batch is the least disturbed.
func measure(_ name: String, iterations: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    let batch = max(1, iterations / 5)
    var best = Double.infinity
    for _ in 0..<15 {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<batch { try body() }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / Double(batch))
    }
    print(name.padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: " %.2f µs", best / 1e3))
    return best
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

let cluster = [UInt8](repeating: 0xC1, count: 16)
let arguments = CommandLine.arguments
let fixturesPath = arguments.firstIndex(of: "--fixtures").map { arguments[$0 + 1] }
var fixtures: [[String: Any]] = []

for n in [4, 64] {
    let f = (n - 1) / 3, quorum = n - f
    let keys = (0..<n).map { i -> BLS12381.PrivateKey in
        var ikm = [UInt8](repeating: 7, count: 32)
        ikm[0] = UInt8(i)
        return try! BLS12381.PrivateKey(ikm: ikm)
    }
    let subject = KeyName(replica: ReplicaID(1), generation: 0, epoch: 1)
    let digest = Array(SHA256.hash(data: Array("record".utf8)))
    let message = Approval.message(cluster: cluster, record: subject, digest: digest)
    let names = (0..<n).map { KeyName(replica: ReplicaID($0), generation: 0, epoch: 0) }
    let approvals = (0..<quorum).map {
        Approval(approverKey: names[$0], share: keys[$0].signature(for: message, domain: SignatureTag.keyLogApprovalDST))
    }
    let publicKeys = Dictionary(uniqueKeysWithValues: zip(names, keys.map(\.publicKey)))
    let certificate = try! ClusterCertificate.combine(approvals, message: message, domain: SignatureTag.keyLogApprovalDST,
                                                      replicaCount: n, quorum: quorum) { publicKeys[$0] }
    let bytes = certificate.bytes
    _ = try measure("Certificate decode + verify, N = \(n) (Q = \(quorum))", iterations: 100) {
        let decoded = try ClusterCertificate(bytes: bytes, replicaCount: n)
        try decoded.verify(message: message, domain: SignatureTag.keyLogApprovalDST, replicaCount: n, quorum: quorum) { publicKeys[$0] }
    }
    fixtures.append([
        "n": n, "quorum": quorum, "message": hex(message), "certificate": hex(bytes),
        "dst": String(decoding: SignatureTag.keyLogApprovalDST.bytes, as: UTF8.self),
        "public_keys": keys.map { hex($0.publicKey.compressedRepresentation) },
    ])
}

let edKey = Curve25519.Signing.PrivateKey()
let edMessage = Array("checkpoint".utf8)
let edSignature = try! edKey.signature(for: edMessage)
let unit = measure("Ed25519 verify (swift-crypto), the unit", iterations: 2000) {
    precondition(edKey.publicKey.isValidSignature(edSignature, for: edMessage))
}
for n in [4, 7, 10, 64] {
    let f = (n - 1) / 3, quorum = n - f
    let mains = (0..<n).map { _ in Curve25519.Signing.PrivateKey() }
    let names = (0..<n).map { KeyName(replica: ReplicaID($0), generation: 0, epoch: 1) }
    let statement = CheckpointStatement(boundary: 300, ledgerDigest: [UInt8](repeating: 9, count: 32), logLength: UInt64(n),
                                        logHead: [UInt8](repeating: 3, count: 32))
    let signed = statement.message(cluster: cluster)
    let signatures = (0..<quorum).map {
        CheckpointSignature(statement: statement, signer: names[$0], signature: Array(try! mains[$0].signature(for: signed)))
    }
    let raw = Dictionary(uniqueKeysWithValues: zip(names, mains.map { Array($0.publicKey.rawRepresentation) }))
    let bytes = try! CheckpointCertificate.combine(signatures, cluster: cluster, quorum: quorum) { raw[$0] }.encoded
    let t = try measure("Checkpoint certificate decode + verify, N = \(n)", iterations: 200) {
        try CheckpointCertificate(bytes: bytes).verify(cluster: cluster, replicaCount: n, quorum: quorum) { raw[$0] }
    }
    print(String(format: "  = %.1f Ed25519 verifies (Q = %d)", t / unit, quorum))
}

if let fixturesPath {
    let data = try! JSONSerialization.data(withJSONObject: fixtures, options: [.sortedKeys])
    try! data.write(to: URL(fileURLWithPath: fixturesPath))
}
