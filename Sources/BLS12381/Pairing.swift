import Synchronization

/// Counts pairing work done by the current task, so tests can assert the cost of an operation
/// (e.g. that a quorum certificate costs one pairing check however many signers it has).
public final class PairingCostCounter: Sendable {
    private let counts = Mutex<(millerLoopPairs: Int, finalExponentiations: Int)>((0, 0))
    @TaskLocal public static var current: PairingCostCounter?

    public init() {}
    public var millerLoopPairs: Int { counts.withLock { $0.millerLoopPairs } }
    public var finalExponentiations: Int { counts.withLock { $0.finalExponentiations } }
    func recordMillerLoops(_ n: Int) { counts.withLock { $0.millerLoopPairs += n } }
    func recordFinalExponentiation() { counts.withLock { $0.finalExponentiations += 1 } }
}

// Optimal ate pairing on BLS12-381: Miller loop over |x| = 0xd201000000010000 with sparse line
// multiplication, shared across pairs, then one final exponentiation.

/// Miller-loop accumulator for the G2 side, in Jacobian coordinates as the line formulas expect.

struct MillerG2State {
    var x: Fp2, y: Fp2, z: Fp2
}

/// Line coefficients (c0, c1, c2) evaluated later at a G1 point.

typealias LineCoefficients = (Fp2, Fp2, Fp2)

/// Tangent line at r and r <- 2r (Costello-Lange-Naehrig, eprint 2010/354, Alg. 26).

func doublingStep(_ r: inout MillerG2State) -> LineCoefficients {
    let tmp0 = r.x.square()
    let tmp1 = r.y.square()
    let tmp2 = tmp1.square()
    var tmp3 = (tmp1 + r.x).square() - tmp0 - tmp2
    tmp3 = tmp3 + tmp3
    let tmp4 = tmp0 + tmp0 + tmp0
    var tmp6 = r.x + tmp4
    let tmp5 = tmp4.square()
    let zsquared = r.z.square()
    r.x = tmp5 - tmp3 - tmp3
    r.z = (r.z + r.y).square() - tmp1 - zsquared
    r.y = (tmp3 - r.x) * tmp4
    var t2 = tmp2 + tmp2
    t2 = t2 + t2
    t2 = t2 + t2
    r.y = r.y - t2
    var t3 = tmp4 * zsquared
    t3 = t3 + t3
    t3 = -t3
    tmp6 = tmp6.square() - tmp0 - tmp5
    var t1 = tmp1 + tmp1
    t1 = t1 + t1
    tmp6 = tmp6 - t1
    var t0 = r.z * zsquared
    t0 = t0 + t0
    return (t0, t3, tmp6)
}

/// Line through r and q and r <- r + q (eprint 2010/354, Alg. 27).

func additionStep(_ r: inout MillerG2State, _ q: G2Affine) -> LineCoefficients {
    let zsquared = r.z.square()
    let ysquared = q.y.square()
    let t0 = zsquared * q.x
    let t1 = ((q.y + r.z).square() - ysquared - zsquared) * zsquared
    let t2 = t0 - r.x
    let t3 = t2.square()
    var t4 = t3 + t3
    t4 = t4 + t4
    let t5 = t4 * t2
    var t6 = t1 - r.y - r.y
    var t9 = t6 * q.x
    let t7 = t4 * r.x
    r.x = t6.square() - t5 - t7 - t7
    r.z = (r.z + t2).square() - zsquared - t3
    var t10 = q.y + r.z
    let t8 = (t7 - r.x) * t6
    var u0 = r.y * t5
    u0 = u0 + u0
    r.y = t8 - u0
    t10 = t10.square() - ysquared
    let ztsquared = r.z.square()
    t10 = t10 - ztsquared
    t9 = t9 + t9 - t10
    t10 = r.z + r.z
    t6 = -t6
    let u1 = t6 + t6
    return (t10, u1, t9)
}


func evaluateLine(_ f: Fp12, _ c: LineCoefficients, _ p: G1Affine) -> Fp12 {
    f.mulBy014(c.2, c.1 * p.x, c.0 * p.y)
}

/// Product of Miller loops f_{|x|,Q}(P) over all pairs; pairs with an identity contribute 1.
public func multiMillerLoop(_ pairs: [(G1Affine, G2Affine)]) -> Fp12 {
    let active = pairs.filter { !$0.0.isIdentity && !$0.1.isIdentity }
    PairingCostCounter.current?.recordMillerLoops(active.count)
    if active.isEmpty { return .one }
    var states = active.map { MillerG2State(x: $0.1.x, y: $0.1.y, z: .one) }
    var f = Fp12.one
    var foundOne = false
    var b = 63
    while b >= 0 {
        let bit = ((blsXAbs >> 1) >> UInt64(b)) & 1 == 1
        b -= 1
        if !foundOne { foundOne = bit; continue }
        for k in active.indices {
            f = evaluateLine(f, doublingStep(&states[k]), active[k].0)
        }
        if bit {
            for k in active.indices {
                f = evaluateLine(f, additionStep(&states[k], active[k].1), active[k].0)
            }
        }
        f = f.square()
    }
    for k in active.indices {
        f = evaluateLine(f, doublingStep(&states[k]), active[k].0)
    }
    // x is negative.
    return f.conjugate()
}

extension Fp12 {
    /// Squaring in the cyclotomic subgroup (Granger-Scott).
    func cyclotomicSquare() -> Fp12 {
        @inline(__always) func fp4Square(_ a: Fp2, _ b: Fp2) -> (Fp2, Fp2) {
            let t0 = a.square()
            let t1 = b.square()
            let c0 = t1.mulByNonresidue() + t0
            let c1 = (a + b).square() - t0 - t1
            return (c0, c1)
        }
        var z0 = c0.c0, z4 = c0.c1, z3 = c0.c2
        var z2 = c1.c0, z1 = c1.c1, z5 = c1.c2
        var (t0, t1) = fp4Square(z0, z1)
        z0 = t0 - z0
        z0 = z0 + z0 + t0
        z1 = t1 + z1
        z1 = z1 + z1 + t1
        (t0, t1) = fp4Square(z2, z3)
        let (t2, t3) = fp4Square(z4, z5)
        z4 = t0 - z4
        z4 = z4 + z4 + t0
        z5 = t1 + z5
        z5 = z5 + z5 + t1
        t0 = t3.mulByNonresidue()
        z2 = t0 + z2
        z2 = z2 + z2 + t0
        z3 = t2 - z3
        z3 = z3 + z3 + t2
        return Fp12(Fp6(z0, z4, z3), Fp6(z2, z1, z5))
    }

    /// self^x for the (negative) BLS parameter, self in the cyclotomic subgroup.
    func cyclotomicExpByX() -> Fp12 {
        var tmp = Fp12.one
        var foundOne = false
        var b = 63
        while b >= 0 {
            let bit = (blsXAbs >> UInt64(b)) & 1 == 1
            b -= 1
            if foundOne { tmp = tmp.cyclotomicSquare() } else { foundOne = bit }
            if bit { tmp = tmp * self }
        }
        return tmp.conjugate()
    }

    /// Final exponentiation f^((p^12 - 1)/r): easy part, then the hard part via the x-chain
    /// (Hayashida-Hayasaka-Teruya, eprint 2020/875) with cyclotomic squarings.
    public func finalExponentiation() -> Fp12 {
        PairingCostCounter.current?.recordFinalExponentiation()
        var f = self
        var t0 = f.frobenius().frobenius().frobenius().frobenius().frobenius().frobenius()
        var t1 = f.inverse()
        var t2 = t0 * t1
        t1 = t2
        t2 = t2.frobenius().frobenius()
        t2 = t2 * t1
        t1 = t2.cyclotomicSquare().conjugate()
        var t3 = t2.cyclotomicExpByX()
        var t4 = t3.cyclotomicSquare()
        var t5 = t1 * t3
        t1 = t5.cyclotomicExpByX()
        t0 = t1.cyclotomicExpByX()
        var t6 = t0.cyclotomicExpByX()
        t6 = t6 * t4
        t4 = t6.cyclotomicExpByX()
        t5 = t5.conjugate()
        t4 = t4 * (t5 * t2)
        t5 = t2.conjugate()
        t1 = t1 * t2
        t1 = t1.frobenius().frobenius().frobenius()
        t6 = t6 * t5
        t6 = t6.frobenius()
        t3 = t3 * t0
        t3 = t3.frobenius().frobenius()
        t3 = t3 * t1
        t3 = t3 * t6
        f = t3 * t4
        return f
    }

    /// self^e for a public exponent (little-endian words).
    public func pow(_ e: [UInt64]) -> Fp12 {
        var r = Fp12.one
        for w in e.reversed() {
            for bit in stride(from: 63, through: 0, by: -1) {
                r = r.square()
                if (w >> UInt64(bit)) & 1 == 1 { r = r * self }
            }
        }
        return r
    }
}

/// The optimal ate pairing e(P, Q) in GT.
public func pairing(_ p: G1Affine, _ q: G2Affine) -> Fp12 {
    multiMillerLoop([(p, q)]).finalExponentiation()
}

/// True when prod e(P_i, Q_i) == 1: one Miller loop per pair and a single final exponentiation.
public func pairingProductIsOne(_ pairs: [(G1Affine, G2Affine)]) -> Bool {
    multiMillerLoop(pairs).finalExponentiation().isOne
}
