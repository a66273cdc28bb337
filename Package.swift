// swift-tools-version:6.1
import CompilerPluginSupport
import PackageDescription

// Layers depend downwards only (docs/architecture.md): custos (CLI) → CustosServer →
// CustosKeystore → CustosStore, CustosPKI → CustosCrypto → C modules. CustosAPI (the wire types and
// endpoints) stands alone on Foundation, CustosJSON and the compile-time CustosMacros, so
// CustosClient, the HTTP client of the command line's client mode, links no keystore, HSM
// or TPM code. Each layer has its own test target (the server is tested over HTTP by the
// interop suite too).
let package = Package(
    name: "Custos",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BLS12381", targets: ["BLS12381"]),
        .library(name: "CustosCrypto", targets: ["CustosCrypto"]),
        .library(name: "CustosStore", targets: ["CustosStore"]),
        .library(name: "CustosPKI", targets: ["CustosPKI"]),
        .library(name: "CustosCluster", targets: ["CustosCluster"]),
        .library(name: "CustosKeystore", targets: ["CustosKeystore"]),
        .library(name: "CustosAPI", targets: ["CustosAPI"]),
        .library(name: "CustosClient", targets: ["CustosClient"]),
        // The PKCS#11 shim, for benchmarks that time the token without Custos around it.
        .library(name: "CPKCS11", targets: ["CPKCS11"]),
        .executable(name: "custos", targets: ["custos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/attaswift/BigInt.git", from: "6.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/swiftlang/swift-syntax.git", from: "603.0.1"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        // Montgomery field arithmetic for BLS12-381 and the valgrind constant-time hooks, in C.
        // -O3 in every configuration, like BLS12381 below.
        .target(
            name: "CBLS12381Field",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // PKCS#11 through a module loaded at run time (dlopen); p11-kit's header only.
        .target(name: "CPKCS11", linkerSettings: [.linkedLibrary("dl")]),
        // prctl(2) for the process hardening at start (variadic in C, so not callable from Swift).
        .target(name: "CProcessControl"),
        // The commit a release binary was built from, written into it after linking by `make dist`.
        .target(name: "CBuildInfo"),
        // TPM 2.0 through the TSS2 ESAPI (Debian libtss2-dev).
        .target(
            name: "CTSS2",
            linkerSettings: [.linkedLibrary("tss2-esys"), .linkedLibrary("tss2-tctildr"),
                             .linkedLibrary("tss2-mu"), .linkedLibrary("tss2-rc")]
        ),
        // BLS12-381 multi-signatures, written here: no Swift package provides them.
        .target(
            name: "BLS12381",
            dependencies: ["CBLS12381Field", .product(name: "Crypto", package: "swift-crypto")],
            // Pairings are ~50× slower unoptimised; debug builds (tests, interop) keep -O here.
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        .target(
            name: "CustosCrypto",
            dependencies: [
                "CSecp256k1",
                "BLS12381",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // JSON text written without JSONEncoder, for the audit log and the API's hot path.
        .target(name: "CustosJSON"),
        // Ethereum accounts (docs/ethereum.md): RLP, transactions, EIP-191 and EIP-712. Pure: keys
        // sign through CustosCrypto, the keystore and the server do the rest.
        .target(
            name: "CustosEthereum",
            dependencies: ["CustosCrypto", "CustosJSON", .product(name: "BigInt", package: "BigInt")]
        ),
        .target(
            name: "CustosStore",
            dependencies: [
                "CustosJSON",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // X.509 certificates, CSRs and public-key pins (swift-certificates): pure, no I/O.
        .target(
            name: "CustosPKI",
            dependencies: [
                "CustosCrypto",
                "CustosJSON",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The replica network's protocol (docs/cluster.md): encodings, records, certificates, the
        // key log and the replica engine, behind ports for storage, keys, peers and time. Pure: the
        // keystore and the server plug in the real ones, the simulation tests in-memory ones.
        .target(
            name: "CustosCluster",
            dependencies: [
                "BLS12381",
                "CustosCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "CustosKeystore",
            dependencies: [
                "CustosCluster",
                "CustosCrypto",
                "CustosEthereum",
                "CustosPKI",
                "CustosJSON",
                "CustosStore",
                "CPKCS11",
                "CTSS2",
                "CProcessControl",
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `@PublicMemberwiseInit`, `@SnakeCaseCodingKeys`: wire types list their fields once. The macro
        // runs in the compiler; nothing of swift-syntax is linked into Custos.
        .macro(
            name: "CustosMacrosPlugin",
            dependencies: [
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
            ]
        ),
        .target(name: "CustosMacros", dependencies: ["CustosMacrosPlugin"]),
        // The HTTP API's bodies and endpoints, shared by the server and the client.
        .target(name: "CustosAPI", dependencies: ["CustosJSON", "CustosMacros"]),
        // A client of the HTTP API: wire types in, wire types out, errors naming the field.
        .target(name: "CustosClient", dependencies: ["CustosAPI"]),
        .target(
            name: "CustosServer",
            dependencies: [
                "CustosAPI", "CustosCluster", "CustosCrypto", "CustosEthereum", "CustosJSON", "CustosKeystore", "CustosPKI", "CustosStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CustosCLI",
            dependencies: [
                "CBuildInfo",
                "CustosAPI",
                "CustosClient",
                "CustosServer",
                "CustosCrypto",
                "CustosJSON",
                "CustosPKI",
                "CustosCluster",
                "CustosEthereum",
                "CustosKeystore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "custos", dependencies: ["CustosCLI"]),
        // Constant-time check of SkToPk, Sign and PopProve under valgrind (scripts/ct-valgrind.sh).
        .executableTarget(
            name: "bls-ct-check",
            dependencies: ["BLS12381", "CBLS12381Field"],
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        .testTarget(
            name: "CustosCryptoTests",
            dependencies: ["CustosCrypto", "BLS12381"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "BLS12381Tests",
            dependencies: ["BLS12381", "CBLS12381Field", .product(name: "BigInt", package: "BigInt")]
        ),
        .testTarget(name: "CustosStoreTests", dependencies: ["CustosStore"]),
        .testTarget(name: "CustosEthereumTests", dependencies: ["CustosEthereum", "CustosCrypto", "CustosJSON"]),
        .testTarget(name: "CustosClusterTests", dependencies: ["CustosCluster", "BLS12381", "CustosCrypto"]),
        .testTarget(name: "CustosPKITests", dependencies: ["CustosPKI", "CustosCrypto"]),
        .testTarget(
            name: "CustosMacrosTests",
            dependencies: [
                "CustosMacrosPlugin",
                .product(name: "SwiftSyntaxMacrosTestSupport", package: "swift-syntax"),
            ]
        ),
        .testTarget(name: "CustosAPITests", dependencies: ["CustosAPI", "CustosJSON", "CustosClient"]),
        .testTarget(
            name: "CustosKeystoreTests",
            dependencies: [
                "CustosKeystore", "CustosStore", "CustosCrypto", "CustosPKI", "CustosCluster", "BLS12381", "CustosEthereum", "CustosJSON",
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .testTarget(
            name: "CustosServerTests",
            dependencies: [
                "CustosServer", "CustosAPI", "CustosClient", "CustosStore", "CustosPKI", "CustosCrypto", "CustosKeystore", "CustosCluster",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "CustosCLITests", dependencies: ["CustosCLI", "CustosKeystore"]),
    ],
    swiftLanguageModes: [.v6]
)
