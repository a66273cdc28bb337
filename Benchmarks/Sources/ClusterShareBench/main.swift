import BLS12381
import CustosCluster
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Logging

// A consensus share as the replica signs it, against its two floors, interleaved in one run:
//   share   KeystoreReplicaVault.decideConsensusShare (watermark check + insert + audit record,
//           one SQLite transaction, synchronous = FULL) then vault.signConsensus (BLS, keystore key);
//   bls     a raw BLS12-381 sign of the same message under the same DST (BLS12381 module);
//   overlap the same, the BLS signature computed while the decision is made durable (released
//           only once the decision is `.recorded`);
//   append  the durable-append floor: one autocommitted INSERT on the same store (same WAL,
//           same synchronous = FULL, same actor hop): one fsync.
// Each round times a block of each, the order rotating per round, so load from other processes
// lands on all three. Reported: the median time per operation over rounds, and per-round ratios.
//
// Usage: swift run -c release ClusterShareBench [--rounds R] [--block B]

var rounds = 60
var blockSize = 20
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--rounds": rounds = Int(arguments.popFirst() ?? "") ?? rounds
    case "--block": blockSize = Int(arguments.popFirst() ?? "") ?? blockSize
    default:
        FileHandle.standardError.write(Data("usage: ClusterShareBench [--rounds R] [--block B]\n".utf8))
        exit(2)
    }
}

let clock = ContinuousClock()
func nanoseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
}
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
func quartiles(_ values: [Double]) -> (Double, Double) {
    let sorted = values.sorted()
    return (sorted[sorted.count / 4], sorted[(3 * sorted.count) / 4])
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-share-bench-\(UUID().uuidString)").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName, passphrase: SecretBytes(Array("benchmark passphrase".utf8)),
                                     cost: .init(logN: 10))
let store = try await SQLiteStore.open(path: directory + "/custos.sqlite", logger: quiet)
let service = try await KeyService(store: store, root: root, logger: quiet)
let vault = KeystoreReplicaVault(keys: service)

// The replica's key, made by the vault as a candidate; the raw baseline signs with its own key.
let name = KeyName(replica: ReplicaID(0), generation: 0, epoch: 1)
_ = try await vault.createCandidate(name) { keys in keys.consensusPublicKey.compressedRepresentation }
let rawKey = BLS12381.PrivateKey()
let cluster = [UInt8](repeating: 7, count: 16)
let dst = SignatureTag.consensusShareDST
let event = ClusterAuditEvent(operation: "cluster.share", outcome: "ok", subject: "benchmark", detail: "prepare")

var sequence: UInt64 = 0
@MainActor func nextMessage() throws -> (ConsensusMessage, [UInt8]) {
    sequence += 1
    var digest = [UInt8](repeating: 0, count: 32)
    withUnsafeBytes(of: sequence.bigEndian) { digest.replaceSubrange(0..<8, with: $0) }
    let message = try ConsensusMessage(view: 0, sequence: sequence, phase: .prepare, digest: digest)
    return (message, message.message(cluster: cluster))
}

@inline(never) func consume<T>(_ value: T) { withExtendedLifetime(value) {} }

@MainActor func share() async throws {
    let (message, bytes) = try nextMessage()
    guard try await vault.decideConsensusShare(message.slot, digest: message.digest, floor: 0, audit: event) == .recorded else {
        fatalError("the benchmark's slot was not new")
    }
    consume(try await vault.signConsensus(name, bytes, domain: dst))
}
/// The same, with the BLS signature computed while the decision is made durable: the
/// signature is released only once the decision returns `.recorded`.
@MainActor func shareOverlapped() async throws {
    let (message, bytes) = try nextMessage()
    async let signature = vault.signConsensus(name, bytes, domain: dst)
    let decision = try await vault.decideConsensusShare(message.slot, digest: message.digest, floor: 0, audit: event)
    let signed = try await signature
    guard decision == .recorded else { fatalError("the benchmark's slot was not new") }
    consume(signed)
}
/// The decision alone (no signature): what the watermark adds over the append floor.
@MainActor func decisionOnly() async throws {
    let (message, _) = try nextMessage()
    guard try await vault.decideConsensusShare(message.slot, digest: message.digest, floor: 0, audit: event) == .recorded else {
        fatalError("the benchmark's slot was not new")
    }
}
@MainActor func rawSign() throws {
    let (_, bytes) = try nextMessage()
    consume(rawKey.signature(for: bytes, domain: dst))
}
var appended = 0
@MainActor func durableAppend() async throws {
    appended += 1
    try await store.setMetadata("bench-\(appended)", [1])
}

// Warm-up: caches, page cache, WAL.
for _ in 0..<blockSize { try await share(); try await shareOverlapped(); try await decisionOnly(); try rawSign(); try await durableAppend() }

var shareTimes: [Double] = [], overlappedTimes: [Double] = [], decisionTimes: [Double] = [], rawTimes: [Double] = [], appendTimes: [Double] = []
for round in 0..<rounds {
    for step in 0..<5 {
        let which = (round + step) % 5
        let start = clock.now
        for _ in 0..<blockSize {
            switch which {
            case 0: try await share()
            case 1: try await shareOverlapped()
            case 2: try rawSign()
            case 3: try await decisionOnly()
            default: try await durableAppend()
            }
        }
        let perOp = nanoseconds(clock.now - start) / Double(blockSize)
        switch which {
        case 0: shareTimes.append(perOp)
        case 1: overlappedTimes.append(perOp)
        case 2: rawTimes.append(perOp)
        case 3: decisionTimes.append(perOp)
        default: appendTimes.append(perOp)
        }
    }
}

func line(_ label: String, _ times: [Double]) {
    let (q1, q3) = quartiles(times)
    print(label.padding(toLength: 64, withPad: " ", startingAt: 0)
          + String(format: "%9.1f µs/op  (%7.0f/s)   IQR %8.1f–%8.1f µs", median(times) / 1000, 1e9 / median(times), q1 / 1000, q3 / 1000))
}
func ratio(_ label: String, _ values: [Double]) {
    let (q1, q3) = quartiles(values)
    print(label.padding(toLength: 64, withPad: " ", startingAt: 0) + String(format: "%6.2f×  (IQR %5.2f–%5.2f×)", median(values), q1, q3))
}
print("ClusterShareBench: \(rounds) rounds × \(blockSize) ops per block, interleaved; \(ProcessInfo.processInfo.activeProcessorCount) cores")
line("share: decideConsensusShare + signConsensus (keystore)", shareTimes)
line("share, signature computed during the decision", overlappedTimes)
line("decision alone: decideConsensusShare (check, insert, audit)", decisionTimes)
line("raw BLS12-381 sign (same DST, same message size)", rawTimes)
line("durable-append floor: one INSERT + commit, synchronous=FULL", appendTimes)
ratio("decision alone / durable-append floor", zip(decisionTimes, appendTimes).map { $0 / $1 })
ratio("share / raw BLS sign", zip(shareTimes, rawTimes).map { $0 / $1 })
ratio("share / durable-append floor", zip(shareTimes, appendTimes).map { $0 / $1 })
ratio("share / (raw BLS sign + durable-append floor)", (0..<rounds).map { shareTimes[$0] / (rawTimes[$0] + appendTimes[$0]) })
ratio("share overlapped / (raw BLS sign + durable-append floor)", (0..<rounds).map { overlappedTimes[$0] / (rawTimes[$0] + appendTimes[$0]) })
ratio("share overlapped / max(raw BLS sign, durable-append floor)", (0..<rounds).map { overlappedTimes[$0] / max(rawTimes[$0], appendTimes[$0]) })
let floors = try await vault.consensusFloors()
print("slots recorded: \(floors.highestSigned ?? 0) (highest sequence); audit records: \(try await store.auditHead()?.sequence ?? 0)")
try await service.close()
