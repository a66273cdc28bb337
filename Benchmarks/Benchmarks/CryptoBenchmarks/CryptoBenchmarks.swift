import Benchmark
import Crypto
import CustosCrypto
import RawSecp256k1

// Each Custos benchmark has a "raw" twin that calls the underlying library directly
// with the same input, in the same process and the same run, so the ratio
// raw time / Custos time (= Custos throughput / raw throughput) is what the goals
// in BENCHMARKS.md are stated in.

/// A 64-byte message (the size of a typical transaction hash pair / JWT header+claims
/// digest input). Ed25519 and ECDSA hash it internally.
let message: [UInt8] = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

/// A fixed 32-byte digest for the secp256k1 digest APIs.
let digest: [UInt8] = Array(SHA256.hash(data: message))

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 50,
        maxDuration: .seconds(4),
        maxIterations: 1_000_000
    )

    // MARK: Ed25519

    Benchmark("Ed25519 sign / raw swift-crypto") { benchmark in
        let key = Curve25519.Signing.PrivateKey()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try key.signature(for: message))
        }
    }

    Benchmark("Ed25519 sign / Custos") { benchmark in
        let key = try SigningPrivateKey(generating: .ed25519)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try key.signature(for: message))
        }
    }

    // MARK: ECDSA P-256 (DER output)

    Benchmark("P-256 sign DER / raw swift-crypto") { benchmark in
        let key = P256.Signing.PrivateKey()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try key.signature(for: message).derRepresentation)
        }
    }

    Benchmark("P-256 sign DER / Custos") { benchmark in
        let key = try SigningPrivateKey(generating: .ecdsaP256SHA256)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try key.signature(for: message, format: .der))
        }
    }

    // MARK: secp256k1

    Benchmark("secp256k1 sign / raw libsecp256k1") { benchmark in
        let raw = RawSecp256k1()
        let seckey = raw.makeSecretKey()
        var output = [UInt8](repeating: 0, count: 64)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            raw.sign(digest: digest, seckey: seckey, into: &output)
            blackHole(output)
        }
    }

    Benchmark("secp256k1 sign / Custos") { benchmark in
        let key = Secp256k1.PrivateKey()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try key.signature(forDigest: digest))
        }
    }

    Benchmark("secp256k1 verify / raw libsecp256k1") { benchmark in
        let raw = RawSecp256k1()
        let seckey = raw.makeSecretKey()
        var signature = [UInt8](repeating: 0, count: 64)
        raw.sign(digest: digest, seckey: seckey, into: &signature)
        var pubkey = raw.publicKey(seckey: seckey)
        precondition(raw.verify(signature: signature, digest: digest, pubkey: &pubkey))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(raw.verify(signature: signature, digest: digest, pubkey: &pubkey))
        }
    }

    Benchmark("secp256k1 verify / Custos") { benchmark in
        let key = Secp256k1.PrivateKey()
        let publicKey = key.publicKey
        let signature = try key.signature(forDigest: digest)
        precondition(publicKey.isValidSignature(signature, forDigest: digest, allowHighS: false))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(publicKey.isValidSignature(signature, forDigest: digest, allowHighS: false))
        }
    }

    Benchmark("secp256k1 recover / raw libsecp256k1") { benchmark in
        let raw = RawSecp256k1()
        let seckey = raw.makeSecretKey()
        let (signature, recoveryID) = raw.signRecoverable(digest: digest, seckey: seckey)
        var output = [UInt8](repeating: 0, count: 65)
        raw.recover(signature: signature, recoveryID: recoveryID, digest: digest, into: &output)
        precondition(output == raw.serializedPublicKey(seckey: seckey))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            raw.recover(signature: signature, recoveryID: recoveryID, digest: digest, into: &output)
            blackHole(output)
        }
    }

    Benchmark("secp256k1 recover / Custos") { benchmark in
        let key = Secp256k1.PrivateKey()
        let signature = try key.recoverableSignature(forDigest: digest)
        let recovered = try Secp256k1.PublicKey.recover(from: signature, forDigest: digest)
        precondition(recovered == key.publicKey)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try Secp256k1.PublicKey.recover(from: signature, forDigest: digest))
        }
    }
}
