// swift-tools-version:6.1
import PackageDescription

// Performance benchmarks for Custos. A separate package so that `make test` at the
// repository root never builds it. Run from this directory:
//   swift package benchmark                       (all benchmark targets)
//   swift package benchmark --target CryptoBenchmarks
//   swift run -c release PairedRatios             (raw vs Custos interleaved, paired ratios)
//   swift run -c release ColdStart                (cold start on a 100,000-key store)
//   swift run -c release ClusterShareBench        (a consensus share vs raw BLS sign vs durable append)
//   load/run.sh                                   (HTTP server under wrk vs raw one-core signing)
// See ../BENCHMARKS.md.
let package = Package(
    name: "CustosBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Custos", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // Direct libsecp256k1 access for the raw baseline.
        .systemLibrary(
            name: "CSecp256k1Raw",
            path: "Sources/CSecp256k1Raw",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        // The raw libsecp256k1 baseline, shared by CryptoBenchmarks and PairedRatios.
        .target(name: "RawSecp256k1", dependencies: ["CSecp256k1Raw"], path: "Sources/RawSecp256k1"),
        // The one-core recoverable secp256k1 baseline for the JSON-RPC signer (load/eth-rpc.sh).
        .executableTarget(name: "RawEthereumSignRate", dependencies: ["RawSecp256k1"], path: "Sources/RawEthereumSignRate"),
        // The one-core Ed25519 baseline for the server load benchmark (load/run.sh).
        .executableTarget(
            name: "RawSignRate",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/RawSignRate"
        ),
        // BLS12-381 operations, compared with blst (scripts/blst_bench.py) in the same session.
        .executableTarget(
            name: "BLSBench",
            dependencies: [.product(name: "BLS12381", package: "Custos")],
            path: "Sources/BLSBench"
        ),
        // The replica network's certificates, compared with blst (scripts/cluster_vs_blst.py).
        .executableTarget(
            name: "ClusterBench",
            dependencies: [
                .product(name: "BLS12381", package: "Custos"),
                .product(name: "CustosCluster", package: "Custos"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/ClusterBench"
        ),
        .executableTarget(
            name: "CryptoBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CustosCrypto", package: "Custos"),
                .product(name: "Crypto", package: "swift-crypto"),
                "RawSecp256k1",
            ],
            path: "Benchmarks/CryptoBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "KeystoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CustosCrypto", package: "Custos"),
                .product(name: "CustosStore", package: "Custos"),
                .product(name: "CustosKeystore", package: "Custos"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/KeystoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A consensus share through the keystore vault against a raw BLS sign and the
        // durable-append floor, interleaved in one run (plain executable, ContinuousClock).
        .executableTarget(
            name: "ClusterShareBench",
            dependencies: [
                .product(name: "BLS12381", package: "Custos"),
                .product(name: "CustosCluster", package: "Custos"),
                .product(name: "CustosCrypto", package: "Custos"),
                .product(name: "CustosStore", package: "Custos"),
                .product(name: "CustosKeystore", package: "Custos"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/ClusterShareBench"
        ),
        // Not a Benchmark-harness target: a plain executable timed with ContinuousClock.
        .executableTarget(
            name: "ColdStart",
            dependencies: [
                .product(name: "CustosCrypto", package: "Custos"),
                .product(name: "CustosStore", package: "Custos"),
                .product(name: "CustosKeystore", package: "Custos"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/ColdStart"
        ),
        // Not a Benchmark-harness target: roots of trust and security levels against
        // SoftHSM2, swtpm and moto_server (started by scripts/roots_bench.py).
        .executableTarget(
            name: "RootBench",
            dependencies: [
                .product(name: "CustosCrypto", package: "Custos"),
                .product(name: "CustosStore", package: "Custos"),
                .product(name: "CustosKeystore", package: "Custos"),
                .product(name: "CPKCS11", package: "Custos"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/RootBench"
        ),
        // Not a Benchmark-harness target: raw and Custos interleaved in short alternating
        // blocks, so load from other processes hits both sides alike.
        .executableTarget(
            name: "PairedRatios",
            dependencies: [
                .product(name: "CustosCrypto", package: "Custos"),
                .product(name: "CustosStore", package: "Custos"),
                .product(name: "CustosKeystore", package: "Custos"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                "RawSecp256k1",
            ],
            path: "Sources/PairedRatios"
        ),
    ],
    swiftLanguageModes: [.v6]
)
