import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Logging

// Cold start on a large store: open the SQLite store, unseal the passphrase root
// (production scrypt cost, logN 16), construct KeyService, and make the first
// signature with one key looked up by alias. Timed with ContinuousClock.
//
// Usage: swift run -c release ColdStart [--keys N] [--runs R] [--dir PATH] [--sign-loop N]
// --sign-loop N: afterwards, N more signatures with one (cached) key on the same store,
// a steady loop to attach `perf record` to.
// Defaults: 100,000 keys, 5 runs, /tmp/custos-bench-<N>/ (reused when complete).

let passphrase = "custos cold start benchmark"
let tenant: TenantID = "cold"

var keyCount = 100_000
var runs = 5
var directoryOverride: String?
var signLoop = 0
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--keys": keyCount = Int(arguments.popFirst() ?? "") ?? keyCount
    case "--runs": runs = Int(arguments.popFirst() ?? "") ?? runs
    case "--dir": directoryOverride = arguments.popFirst()
    case "--sign-loop": signLoop = Int(arguments.popFirst() ?? "") ?? signLoop
    default:
        FileHandle.standardError.write(Data("usage: ColdStart [--keys N] [--runs R] [--dir PATH] [--sign-loop N]\n".utf8))
        exit(2)
    }
}
let directory = directoryOverride ?? "/tmp/custos-bench-\(keyCount >= 1000 && keyCount % 1000 == 0 ? "\(keyCount / 1000)k" : "\(keyCount)")"
let databasePath = directory + "/custos.sqlite"
let rootPath = directory + "/" + PassphraseRoot.fileName
let completeMarker = directory + "/complete"

var quiet = Logger(label: "custos.bench")
quiet.logLevel = .warning

@MainActor func alias(_ index: Int) -> KeyAlias { KeyAlias(String(format: "key-%06d", index))! }

func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Builds the store once; a directory with the `complete` marker is reused as is.
@MainActor
func prepareStore() async throws {
    if let marker = try? String(contentsOfFile: completeMarker, encoding: .utf8),
       Int(marker.trimmingCharacters(in: .whitespacesAndNewlines)) == keyCount {
        print("reusing \(directory) (\(keyCount) keys)")
        return
    }
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    print("creating \(directory) with \(keyCount) Ed25519 keys…")
    let clock = ContinuousClock()
    let started = clock.now
    let root = try PassphraseRoot.create(at: rootPath, passphrase: SecretBytes(Array(passphrase.utf8)), cost: .standard)
    let store = try await SQLiteStore.open(path: databasePath, logger: quiet)
    let service = try await KeyService(store: store, root: root, logger: quiet)
    _ = try await service.createTenant(tenant, by: .local)
    let chunk = 1_000
    var next = 0
    while next < keyCount {
        let specs = (next..<min(next + chunk, keyCount)).map {
            KeySpec(tenant: tenant, alias: alias($0), algorithm: .signing(.ed25519))
        }
        _ = try await service.generateKeys(specs, batchSize: chunk, by: .local)
        next += specs.count
        if next % 10_000 == 0 || next == keyCount {
            print("  \(next) keys, \(String(format: "%.1f", milliseconds(clock.now - started) / 1000)) s")
        }
    }
    try await service.close()
    try String(keyCount).write(toFile: completeMarker, atomically: true, encoding: .utf8)
    print("created in \(String(format: "%.1f", milliseconds(clock.now - started) / 1000)) s")
}

try await prepareStore()
let databaseBytes = (try? FileManager.default.attributesOfItem(atPath: databasePath)[.size] as? Int) ?? 0
print("database: \(databasePath), \(databaseBytes / 1_048_576) MiB")

let message = Array("cold start benchmark message".utf8)
let clock = ContinuousClock()
var phases: [(open: Double, unseal: Double, service: Double, sign: Double, total: Double)] = []
for run in 1...runs {
    let target = alias(Int.random(in: 0..<keyCount))
    let t0 = clock.now
    let store = try await SQLiteStore.open(path: databasePath, logger: quiet)
    let t1 = clock.now
    let root = try PassphraseRoot.unseal(at: rootPath, passphrase: SecretBytes(Array(passphrase.utf8)))
    let t2 = clock.now
    let service = try await KeyService(store: store, root: root, logger: quiet)
    let t3 = clock.now
    let result = try await service.sign(tenant: tenant, alias: target, message: message, by: .local)
    let t4 = clock.now
    precondition(result.signature.count == 64)
    try await service.close()
    let row = (open: milliseconds(t1 - t0), unseal: milliseconds(t2 - t1), service: milliseconds(t3 - t2),
               sign: milliseconds(t4 - t3), total: milliseconds(t4 - t0))
    phases.append(row)
    print(String(format: "run %d (%@): open store %.2f ms, unseal root %.2f ms, KeyService %.2f ms, first sign %.2f ms, total %.2f ms",
                 run, target, row.open, row.unseal, row.service, row.sign, row.total))
}
print(String(format: "median of %d runs: open store %.2f ms, unseal root %.2f ms, KeyService %.2f ms, first sign %.2f ms, total %.2f ms",
             runs, median(phases.map(\.open)), median(phases.map(\.unseal)), median(phases.map(\.service)),
             median(phases.map(\.sign)), median(phases.map(\.total))))

if signLoop > 0 {
    let store = try await SQLiteStore.open(path: databasePath, logger: quiet)
    let root = try PassphraseRoot.unseal(at: rootPath, passphrase: SecretBytes(Array(passphrase.utf8)))
    let service = try await KeyService(store: store, root: root, logger: quiet)
    let target = alias(keyCount / 2)
    _ = try await service.sign(tenant: tenant, alias: target, message: message, by: .local)
    let started = clock.now
    for _ in 0..<signLoop {
        _ = try await service.sign(tenant: tenant, alias: target, message: message, by: .local)
    }
    let elapsed = milliseconds(clock.now - started)
    print(String(format: "sign loop: %d signatures with %@ (cached), mean %.2f µs", signLoop, target, elapsed * 1000 / Double(signLoop)))
    try await service.close()
}
