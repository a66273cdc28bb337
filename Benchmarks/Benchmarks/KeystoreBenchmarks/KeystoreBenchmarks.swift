import Benchmark
import Crypto
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Logging

// KeyService.sign with a cached key vs the raw Ed25519 sign, both measured in this run.
// The keystore lives in a fresh temporary directory (cheap scrypt cost: the root is
// unsealed once in setup and is not part of the measurement).

let message: [UInt8] = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

/// Holds the service created in setup for the measured closure.
final class Keystore: @unchecked Sendable {
    static let shared = Keystore()
    static let tenant: TenantID = "bench"
    static let alias: KeyAlias = "ed25519-signer"

    private let lock = NSLock()
    private var _service: KeyService?
    private var _directory: String?

    var service: KeyService { lock.withLock { _service! } }

    func setUp() async throws {
        if lock.withLock({ _service != nil }) { return }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("custos-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var quiet = Logger(label: "custos.bench")
        quiet.logLevel = .warning
        let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName,
                                             passphrase: SecretBytes(Array("bench passphrase".utf8)),
                                             cost: .init(logN: 10))
        let store = try await SQLiteStore.open(path: directory + "/custos.sqlite", logger: quiet)
        let service = try await KeyService(store: store, root: root, logger: quiet)
        _ = try await service.createTenant(Self.tenant, by: .local)
        _ = try await service.generateKey(KeySpec(tenant: Self.tenant, alias: Self.alias, algorithm: .signing(.ed25519)), by: .local)
        // Warm-up sign: unwraps the key and puts it in the cache.
        _ = try await service.sign(tenant: Self.tenant, alias: Self.alias, message: message, by: .local)
        lock.withLock {
            _service = service
            _directory = directory
        }
    }

    func tearDown() async throws {
        let (service, directory) = lock.withLock { (_service, _directory) }
        lock.withLock {
            _service = nil
            _directory = nil
        }
        try await service?.close()
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 50,
        maxDuration: .seconds(4),
        maxIterations: 1_000_000
    )

    Benchmark("Ed25519 sign / raw swift-crypto") { benchmark in
        let key = Curve25519.Signing.PrivateKey()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try key.signature(for: message))
        }
    }

    Benchmark("Ed25519 sign / KeyService cached key",
              configuration: .init(setup: { try await Keystore.shared.setUp() },
                                   teardown: { try await Keystore.shared.tearDown() })) { benchmark in
        let service = Keystore.shared.service
        let hitsBefore = service.cacheStatistics.hits
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await service.sign(tenant: Keystore.tenant, alias: Keystore.alias, message: message, by: .local))
        }
        benchmark.stopMeasurement()
        // Every measured sign must have been a cache hit.
        precondition(service.cacheStatistics.hits - hitsBefore == benchmark.scaledIterations.count)
    }

    // Not a goal: the part of every KeyService.sign that is a store round trip (the
    // alias → key record lookup through the SQLiteStore actor and SQLiteNIO), shown so
    // the overhead above can be attributed.
    Benchmark("KeyService sign part: store.key(tenantID:alias:) lookup",
              configuration: .init(setup: { try await Keystore.shared.setUp() },
                                   teardown: { try await Keystore.shared.tearDown() })) { benchmark in
        let store = Keystore.shared.service.store
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await store.key(tenantID: Keystore.tenant.rawValue, alias: Keystore.alias.rawValue))
        }
    }
}
