import Foundation
import Testing
@testable import BLS12381

/// dudect-style leakage check (Reparaz, Balasch, Verbauwhede 2016): time an operation on two classes
/// of secret inputs, interleaved in random order, and compare the classes with Welch's t-test.
/// |t| above 4.5 would indicate a timing difference. Class A: scalars of Hamming weight 1 or 2;
/// class B: uniformly random scalars. The light default runs a few hundred samples;
/// CUSTOS_CT_TEST=1 runs a much longer test (use a release build for meaningful numbers:
/// `CUSTOS_CT_TEST=1 swift test -c release -Xswiftc -enable-testing --filter ConstantTime`).
@Suite struct ConstantTimeTests {
    static var heavy: Bool { ProcessInfo.processInfo.environment["CUSTOS_CT_TEST"] == "1" }

    struct Welch {
        var n = [0.0, 0.0], mean = [0.0, 0.0], m2 = [0.0, 0.0]
        mutating func add(_ x: Double, to c: Int) {
            n[c] += 1
            let d = x - mean[c]
            mean[c] += d / n[c]
            m2[c] += d * (x - mean[c])
        }
        var t: Double {
            let v0 = m2[0] / (n[0] - 1), v1 = m2[1] / (n[1] - 1)
            return (mean[0] - mean[1]) / (v0 / n[0] + v1 / n[1]).squareRoot()
        }
    }

    /// Runs the measurement and returns the largest |t| over dudect's crop levels
    /// (all samples, and samples below several percentiles to shed interrupt noise).
    static func maxAbsT(samplesPerClass: Int, seed: UInt64, _ operation: ([UInt8]) -> Void) -> Double {
        var rng = SplitMix64(seed: seed)
        func lowWeightScalar() -> [UInt8] {
            var s = [UInt8](repeating: 0, count: 32)
            s[31] = 1
            let bit = Int.random(in: 8..<250, using: &rng)
            s[31 - bit / 8] |= 1 << UInt8(bit % 8)
            return s
        }
        func randomScalar() -> [UInt8] {
            var s = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            s[0] &= 0x3f // keep below r
            return s
        }
        var classes = [Int](repeating: 0, count: samplesPerClass) + [Int](repeating: 1, count: samplesPerClass)
        classes.shuffle(using: &rng)
        let inputs = classes.map { $0 == 0 ? lowWeightScalar() : randomScalar() }
        // Warm-up outside the measurement.
        for i in 0..<min(4, inputs.count) { operation(inputs[i]) }
        var timings = [Double](repeating: 0, count: inputs.count)
        for (i, input) in inputs.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            operation(input)
            timings[i] = Double(DispatchTime.now().uptimeNanoseconds - start)
        }
        let sorted = timings.sorted()
        var worst = 0.0
        for pct in [1.0, 0.9, 0.75, 0.5] {
            let cutoff = sorted[min(sorted.count - 1, Int(Double(sorted.count) * pct))]
            var w = Welch()
            for (c, t) in zip(classes, timings) where t <= cutoff { w.add(t, to: c) }
            worst = max(worst, abs(w.t))
        }
        return worst
    }

    @Test func skToPkTimingDoesNotDependOnScalar() {
        let n = Self.heavy ? 3000 : (isDebugBuild ? 200 : 400)
        let t = Self.maxAbsT(samplesPerClass: n, seed: 0xC7) { scalar in
            _ = G1Projective.generatorMultipliedConstantTime(byBigEndian: scalar).toAffine()
        }
        print("dudect SkToPk (G1 fixed-base comb): max |t| = \(t) over \(2 * n) samples")
        #expect(t < 4.5)
    }

    @Test func signTimingDoesNotDependOnScalar() {
        let n = Self.heavy ? 1500 : (isDebugBuild ? 80 : 200)
        let h = HashToCurve.hashToG2(Array("fixed message".utf8), dst: BLS12381.signatureDST)
        let t = Self.maxAbsT(samplesPerClass: n, seed: 0x51) { scalar in
            _ = h.multipliedConstantTimeGLS(byBigEndian: scalar).toAffine()
        }
        print("dudect Sign (G2 GLS, psi-decomposed): max |t| = \(t) over \(2 * n) samples")
        #expect(t < 4.5)
    }

    /// Sanity check of the harness itself: a deliberately variable-time double-and-add is detected.
    @Test func harnessDetectsVariableTimeCode() {
        let n = isDebugBuild ? 30 : 150
        let t = Self.maxAbsT(samplesPerClass: n, seed: 0x99) { scalar in
            var words = [UInt64](repeating: 0, count: 4)
            for i in 0..<32 { words[3 - i / 8] = (words[3 - i / 8] << 8) | UInt64(scalar[i]) }
            _ = G1Projective.generator.multipliedVartime(by: words)
        }
        print("dudect control (variable-time double-and-add): max |t| = \(t)")
        #expect(t > 4.5)
    }
}
