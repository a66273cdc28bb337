import Crypto
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Logging
import RawSecp256k1

// Raw vs Custos, interleaved: each round times a block of `blockSize` raw operations
// and a block of Custos operations back to back (order alternating ABBA), so a burst of
// load from other processes lands on both sides of the same round. Per side we report
// the median time per operation over rounds; the ratio is the median over rounds of
// (raw time / Custos time) for the same round, i.e. Custos throughput / raw throughput.
//
// Usage: swift run -c release PairedRatios [--rounds R] [--block B]

var rounds = 600
var blockSize = 40
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--rounds": rounds = Int(arguments.popFirst() ?? "") ?? rounds
    case "--block": blockSize = Int(arguments.popFirst() ?? "") ?? blockSize
    default:
        FileHandle.standardError.write(Data("usage: PairedRatios [--rounds R] [--block B]\n".utf8))
        exit(2)
    }
}

@inline(never) func consume<T>(_ value: T) { withExtendedLifetime(value) {} }

let message: [UInt8] = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
let digest: [UInt8] = Array(SHA256.hash(data: message))
let clock = ContinuousClock()

func nanoseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

struct Outcome {
    let name: String
    let raw: [Double]   // ns per op, per round
    let ours: [Double]

    func report(goal: String, met: (Double, Double) -> Bool) {
        let ratios = zip(raw, ours).map { $0 / $1 }
        let rawMedian = median(raw), oursMedian = median(ours), ratio = median(ratios)
        print(name.padding(toLength: 42, withPad: " ", startingAt: 0) + String(format: "raw %8.2f µs (%7.0f/s)  Custos %8.2f µs (%7.0f/s)  throughput ratio %6.1f%% (IQR %5.1f–%5.1f%%)  time %5.2f×  goal %@: %@",
                     rawMedian / 1000, 1e9 / rawMedian, oursMedian / 1000, 1e9 / oursMedian,
                     ratio * 100, percentile(ratios, 0.25) * 100, percentile(ratios, 0.75) * 100, 1 / ratio,
                     goal, met(ratio, 1 / ratio) ? "met" : "MISSED"))
    }
}

func paired(_ name: String, rounds: Int, blockSize: Int, raw: () throws -> Void, ours: () throws -> Void) rethrows -> Outcome {
    for _ in 0..<(blockSize * 5) { try raw(); try ours() }  // warm-up
    var rawTimes: [Double] = [], ourTimes: [Double] = []
    for round in 0..<rounds {
        func block(_ body: () throws -> Void) rethrows -> Double {
            let start = clock.now
            for _ in 0..<blockSize { try body() }
            return nanoseconds(clock.now - start) / Double(blockSize)
        }
        if round % 2 == 0 {
            rawTimes.append(try block(raw)); ourTimes.append(try block(ours))
        } else {
            ourTimes.append(try block(ours)); rawTimes.append(try block(raw))
        }
    }
    return Outcome(name: name, raw: rawTimes, ours: ourTimes)
}

func pairedAsync(_ name: String, rounds: Int, blockSize: Int, raw: () throws -> Void, ours: () async throws -> Void) async throws -> Outcome {
    for _ in 0..<(blockSize * 5) { try raw(); try await ours() }
    var rawTimes: [Double] = [], ourTimes: [Double] = []
    for round in 0..<rounds {
        func rawBlock() throws -> Double {
            let start = clock.now
            for _ in 0..<blockSize { try raw() }
            return nanoseconds(clock.now - start) / Double(blockSize)
        }
        func ourBlock() async throws -> Double {
            let start = clock.now
            for _ in 0..<blockSize { try await ours() }
            return nanoseconds(clock.now - start) / Double(blockSize)
        }
        if round % 2 == 0 {
            rawTimes.append(try rawBlock()); ourTimes.append(try await ourBlock())
        } else {
            ourTimes.append(try await ourBlock()); rawTimes.append(try rawBlock())
        }
    }
    return Outcome(name: name, raw: rawTimes, ours: ourTimes)
}

print("PairedRatios: \(rounds) rounds × \(blockSize) operations per side, \(ProcessInfo.processInfo.activeProcessorCount) cores")

// 1. Ed25519 and P-256 through CustosCrypto vs swift-crypto.
let rawEd = Curve25519.Signing.PrivateKey()
let ourEd = try SigningPrivateKey(generating: .ed25519)
try paired("Ed25519 sign", rounds: rounds, blockSize: blockSize, raw: { consume(try rawEd.signature(for: message)) },
           ours: { consume(try ourEd.signature(for: message)) })
    .report(goal: "≥ 95%") { ratio, _ in ratio >= 0.95 }

let rawP256 = P256.Signing.PrivateKey()
let ourP256 = try SigningPrivateKey(generating: .ecdsaP256SHA256)
try paired("P-256 sign (DER)", rounds: rounds, blockSize: blockSize, raw: { consume(try rawP256.signature(for: message).derRepresentation) },
           ours: { consume(try ourP256.signature(for: message, format: .der)) })
    .report(goal: "≥ 95%") { ratio, _ in ratio >= 0.95 }

// 2. secp256k1 through CustosCrypto vs libsecp256k1.
let secp = RawSecp256k1()
let seckey = secp.makeSecretKey()
var rawOutput = [UInt8](repeating: 0, count: 64)
let ourK1 = Secp256k1.PrivateKey()
try paired("secp256k1 sign", rounds: rounds, blockSize: blockSize, raw: { secp.sign(digest: digest, seckey: seckey, into: &rawOutput); consume(rawOutput) },
           ours: { consume(try ourK1.signature(forDigest: digest)) })
    .report(goal: "≥ 90%") { ratio, _ in ratio >= 0.90 }

var rawSignature = [UInt8](repeating: 0, count: 64)
secp.sign(digest: digest, seckey: seckey, into: &rawSignature)
var rawPubkey = secp.publicKey(seckey: seckey)
let ourK1Public = ourK1.publicKey
let ourK1Signature = try ourK1.signature(forDigest: digest)
precondition(secp.verify(signature: rawSignature, digest: digest, pubkey: &rawPubkey))
precondition(ourK1Public.isValidSignature(ourK1Signature, forDigest: digest, allowHighS: false))
paired("secp256k1 verify", rounds: rounds, blockSize: blockSize, raw: { consume(secp.verify(signature: rawSignature, digest: digest, pubkey: &rawPubkey)) },
       ours: { consume(ourK1Public.isValidSignature(ourK1Signature, forDigest: digest, allowHighS: false)) })
    .report(goal: "≥ 90%") { ratio, _ in ratio >= 0.90 }

let (rawRecoverable, rawRecoveryID) = secp.signRecoverable(digest: digest, seckey: seckey)
var rawRecovered = [UInt8](repeating: 0, count: 65)
let ourRecoverable = try ourK1.recoverableSignature(forDigest: digest)
try paired("secp256k1 recover", rounds: rounds, blockSize: blockSize,
           raw: { secp.recover(signature: rawRecoverable, recoveryID: rawRecoveryID, digest: digest, into: &rawRecovered); consume(rawRecovered) },
           ours: { consume(try Secp256k1.PublicKey.recover(from: ourRecoverable, forDigest: digest)) })
    .report(goal: "≥ 90%") { ratio, _ in ratio >= 0.90 }

// 3. KeyService.sign with a cached key vs raw Ed25519.
// Built inside a nonisolated function so that the measured closures are not
// main-actor-isolated: `KeyService.sign` is awaited from the global executor, as a
// server's request handlers would, with no main-actor hop per call.
func keystorePairs(rounds: Int, blockSize: Int, rawEd: Curve25519.Signing.PrivateKey) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-paired-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var quiet = Logger(label: "custos.bench")
    quiet.logLevel = .warning
    let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName,
                                         passphrase: SecretBytes(Array("bench passphrase".utf8)), cost: .init(logN: 10))
    let store = try await SQLiteStore.open(path: directory + "/custos.sqlite", logger: quiet)
    let service = try await KeyService(store: store, root: root, logger: quiet)
    _ = try await service.createTenant("bench", by: .local)
    _ = try await service.generateKey(KeySpec(tenant: "bench", alias: "signer", algorithm: .signing(.ed25519)), by: .local)
    _ = try await service.sign(tenant: "bench", alias: "signer", message: message, by: .local)  // caches the key
    let missesBefore = service.cacheStatistics.misses
    try await pairedAsync("KeyService.sign (cached) vs raw Ed25519", rounds: rounds, blockSize: blockSize, raw: { consume(try rawEd.signature(for: message)) },
                          ours: { consume(try await service.sign(tenant: "bench", alias: "signer", message: message, by: .local)) })
        .report(goal: "≤ 1.20× time") { _, time in time <= 1.2 }
    precondition(service.cacheStatistics.misses == missesBefore, "a measured sign missed the cache")
    try await pairedAsync("store.key(tenantID:alias:) vs raw Ed25519", rounds: rounds, blockSize: blockSize, raw: { consume(try rawEd.signature(for: message)) },
                          ours: { consume(try await store.key(tenantID: "bench", alias: "signer")) })
        .report(goal: "(attribution only)") { _, _ in true }
    try await service.close()
}
try await keystorePairs(rounds: rounds, blockSize: blockSize, rawEd: rawEd)
