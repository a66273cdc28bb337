// Roots of trust and security levels, timed with ContinuousClock in one process:
//   1. unseal time per provider (passphrase/scrypt, PKCS#11, TPM 2.0, AWS KMS);
//   2. signing throughput at each security level (standard, high, ultimate), and
//      SoftHSM2's own C_Sign on the same key, called directly, as the reference;
//   3. root migration rate (wrapping keys re-wrapped per second).
// The services come from scripts/roots_bench.py, which starts SoftHSM2, swtpm and
// moto_server and passes their coordinates in the environment.
import CPKCS11
import Crypto
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Logging

let environment = ProcessInfo.processInfo.environment
func env(_ name: String) -> String {
    guard let value = environment[name], !value.isEmpty else {
        FileHandle.standardError.write(Data("RootBench: \(name) is not set; run scripts/roots_bench.py\n".utf8))
        exit(2)
    }
    return value
}
let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), arguments.index(after: index) < arguments.endIndex,
          let value = Int(arguments[arguments.index(after: index)]) else { return fallback }
    return value
}
let unsealRuns = option("--unseal-runs", 15)
let signOps = option("--sign-ops", 3000)
let tenants = option("--tenants", 2000)

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .error
    return handler
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
func us(_ s: Double) -> String { String(format: "%.1f µs", s * 1e6) }

let pin = SecretBytes(Array(env("CUSTOS_PKCS11_PIN").utf8))
let pkcs11 = PKCS11Configuration(module: env("BENCH_PKCS11_MODULE"), tokenLabel: env("BENCH_PKCS11_TOKEN"), keyLabel: "bench-root")
let tpm = TPMConfiguration(tcti: env("BENCH_TPM_TCTI"))
let kms = KMSConfiguration(endpoint: env("BENCH_KMS_ENDPOINT"), region: "us-east-1", keyID: env("BENCH_KMS_KEY_ID"))
let kmsClient = try KMSClient(configuration: kms, credentials: try AWSCredentials.fromEnvironment())
let work = FileManager.default.temporaryDirectory.appendingPathComponent("custos-rootbench-\(UUID().uuidString)").path
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: work) }

// MARK: 1. Unseal per provider

print("## Unseal time per provider (\(unsealRuns) unseals each, one process)\n")
print("| provider | median | p90 | min |")
print("|---|---|---|---|")
func report(_ name: String, _ times: [Double]) {
    print("| \(name) | \(ms(median(times))) | \(ms(percentile(times, 0.9))) | \(ms(times.min()!)) |")
}
do {
    let path = work + "/root.seal"
    let passphrase = SecretBytes(Array("benchmark passphrase".utf8))
    _ = try PassphraseRoot.create(at: path, passphrase: passphrase, cost: .standard)
    var times: [Double] = []
    for _ in 0..<max(5, unsealRuns / 3) {
        let start = ContinuousClock.now
        _ = try PassphraseRoot.unseal(at: path, passphrase: passphrase)
        times.append(seconds(ContinuousClock.now - start))
    }
    report("passphrase (scrypt N = 2^16, r = 8, p = 1)", times)
}
var sealedRoots: [String: SealedRoot] = [:]
for (name, sealer) in [("pkcs11 (SoftHSM2, AES-GCM in the token)", try PKCS11Sealer(configuration: pkcs11, pin: pin) as any RootSealer),
                       ("tpm (swtpm over TCP: primary + load + unseal)", try TPMSealer(configuration: tpm)),
                       ("kms (moto_server on loopback: DescribeKey + Decrypt)", KMSSealer(client: kmsClient))] {
    let root = try await SealedRoot.create(sealer: sealer)
    sealedRoots[sealer.provider] = root
    var times: [Double] = []
    for _ in 0..<unsealRuns {
        let start = ContinuousClock.now
        _ = try await SealedRoot.unseal(sealer: sealer, sealedRootKey: root.sealedRootKey, rootKeyID: root.rootKeyID)
        times.append(seconds(ContinuousClock.now - start))
    }
    report(name, times)
}

// MARK: 2. Signing throughput per security level

let store = try await SQLiteStore.open(path: work + "/custos.sqlite")
let rootPath = work + "/levels.seal"
let levelRoot = try PassphraseRoot.create(at: rootPath, passphrase: SecretBytes(Array("benchmark passphrase".utf8)), cost: .init(logN: 10))
let service = try await KeyService(store: store, root: levelRoot, hsmPIN: { _ in pin })
_ = try await service.registerHSM(name: "bench", module: pkcs11.module, tokenLabel: pkcs11.tokenLabel, by: .local)
for level in SecurityLevel.allCases {
    _ = try await service.createTenant(TenantID(level.rawValue)!, by: .local)
    _ = try await service.assignSecurityLevel(tenant: TenantID(level.rawValue)!, category: .ledger, level: level, hsm: level == .standard ? nil : "bench", by: .local)
}
let message = Array(repeating: UInt8(0x5a), count: 64)
let block = 50
let rounds = max(1, signOps / block)
print("\n## Signing throughput per security level (64-byte message, cached key, one thread; \(rounds) rounds × \(block) signs per level, levels interleaved)\n")
print("| scheme | level | median time per sign | ops/s (median over rounds) | ratio to standard |")
print("|---|---|---|---|---|")
for scheme in [SignatureScheme.ed25519, .ecdsaP256SHA256] {
    for level in SecurityLevel.allCases {
        _ = try await service.generateKey(KeySpec(tenant: TenantID(level.rawValue)!, alias: KeyAlias(scheme.rawValue)!, algorithm: .signing(scheme), category: .ledger), by: .local)
        _ = try await service.sign(tenant: TenantID(level.rawValue)!, alias: KeyAlias(scheme.rawValue)!, message: message, by: .local)  // unlock once
    }
    // SoftHSM2's own C_Sign on the same Ultimate key, through the thin C shim only.
    let record = try await store.key(tenantID: "ultimate", alias: scheme.rawValue)!
    let label = String(decoding: try await store.version(keyID: record.id, version: 1)!.wrappedMaterial!, as: UTF8.self)
    var session: OpaquePointer?
    let opened = pin.withUnsafeBytes { custos_p11_open(pkcs11.module, pkcs11.tokenLabel, $0.bindMemory(to: UInt8.self).baseAddress, $0.count, &session) }
    precondition(opened == 0, "C_OpenSession/C_Login failed")
    var handle: UInt = 0
    precondition(custos_p11_find_private_key(session, label, &handle) == 0)
    let input = scheme == .ed25519 ? message : Array(SHA256.hash(data: message))
    let mechanism: UInt = scheme == .ed25519 ? 0x1057 : 0x1041
    var out = [UInt8](repeating: 0, count: 512)

    let names = SecurityLevel.allCases.map(\.rawValue) + ["SoftHSM2 C_Sign alone (reference for ultimate)"]
    var perRound: [[Double]] = Array(repeating: [], count: names.count)
    for round in 0..<rounds {
        for offset in 0..<names.count {
            let index = (round + offset) % names.count
            let start = ContinuousClock.now
            if index < SecurityLevel.allCases.count {
                let tenant = TenantID(SecurityLevel.allCases[index].rawValue)!
                let alias = KeyAlias(scheme.rawValue)!
                for _ in 0..<block { _ = try await service.sign(tenant: tenant, alias: alias, message: message, by: .local) }
            } else {
                for _ in 0..<block {
                    var length = out.count
                    let rv = out.withUnsafeMutableBufferPointer { custos_p11_sign(session, handle, mechanism, 0, 0, 0, input, input.count, $0.baseAddress, &length) }
                    precondition(rv == 0)
                }
            }
            perRound[index].append(seconds(ContinuousClock.now - start) / Double(block))
        }
    }
    custos_p11_close(session)
    let standard = median(perRound[0])
    for (index, name) in names.enumerated() {
        let time = median(perRound[index])
        print("| \(scheme.rawValue) | \(name) | \(us(time)) | \(Int(1 / time)) | \(String(format: "%.2f×", time / standard)) time |")
    }
}
try await service.close()

// MARK: 3. Migration rate

print("\n## Root migration rate (\(tenants) tenant wrapping keys, SQLite, synchronous = FULL)\n")
print("| from → to | seconds | wrapping keys/s |")
print("|---|---|---|")
let migrationStore = try await SQLiteStore.open(path: work + "/migration.sqlite")
var current: any RootOfTrust = try PassphraseRoot.create(at: work + "/migration.seal", passphrase: SecretBytes(Array("benchmark passphrase".utf8)), cost: .init(logN: 10))
let migrating = try await KeyService(store: migrationStore, root: current)
for index in 0..<tenants { _ = try await migrating.createTenant(TenantID("t\(index)")!, by: .local) }
for provider in ["pkcs11", "tpm", "kms"] {
    let target = sealedRoots[provider]!
    let start = ContinuousClock.now
    let result = try await migrating.migrateRoot(to: target)
    let total = seconds(ContinuousClock.now - start)
    precondition(result.rewrapped == tenants)
    print("| \(current.provider) → \(provider) | \(String(format: "%.2f", total)) | \(Int(Double(tenants) / total)) |")
    current = target
}
try await migrating.close()
