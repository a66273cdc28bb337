import Testing
@testable import BLS12381

@Suite struct HashToCurveVectorTests {
    @Test(arguments: ["expand_message_xmd_SHA256_38.json", "expand_message_xmd_SHA256_256.json"])
    func expandMessageXMD(file: String) throws {
        let doc = try Vectors.json("hash-to-curve/" + file)
        let dst = Array((doc["DST"] as! String).utf8)
        let tests = doc["tests"] as! [[String: Any]]
        #expect(tests.count == 10)
        for t in tests {
            let msg = Array((t["msg"] as! String).utf8)
            let len = Int((t["len_in_bytes"] as! String).dropFirst(2), radix: 16)!
            let out = HashToCurve.expandMessageXMD(msg, dst: dst, length: len)
            #expect(hexString(out) == (t["uniform_bytes"] as! String), "msg \(t["msg"]!) len \(len)")
        }
    }

    @Test func hashToG1() throws {
        let doc = try Vectors.json("hash-to-curve/BLS12381G1_XMD_SHA-256_SSWU_RO_.json")
        let dst = Array((doc["dst"] as! String).utf8)
        let vectors = doc["vectors"] as! [[String: Any]]
        #expect(vectors.count == 5)
        for v in vectors {
            let msg = Array((v["msg"] as! String).utf8)
            let u = HashToCurve.hashToFieldFp(msg, dst: dst, count: 2)
            let expectedU = (v["u"] as! [String]).map(fpFromHex)
            #expect(u == expectedU)
            for (key, ui) in [("Q0", u[0]), ("Q1", u[1])] {
                let q = (v[key] as! [String: String])
                let got = HashToCurve.mapToG1(ui).toAffine()
                #expect(got.x == fpFromHex(q["x"]!) && got.y == fpFromHex(q["y"]!), "\(key) for msg \(v["msg"]!)")
            }
            let pDict = v["P"] as! [String: String]
            let p = HashToCurve.hashToG1(msg, dst: dst).toAffine()
            #expect(p.x == fpFromHex(pDict["x"]!) && p.y == fpFromHex(pDict["y"]!), "P for msg \(v["msg"]!)")
        }
    }

    @Test func hashToG2() throws {
        let doc = try Vectors.json("hash-to-curve/BLS12381G2_XMD_SHA-256_SSWU_RO_.json")
        let dst = Array((doc["dst"] as! String).utf8)
        let vectors = doc["vectors"] as! [[String: Any]]
        #expect(vectors.count == 5)
        for v in vectors {
            let msg = Array((v["msg"] as! String).utf8)
            let u = HashToCurve.hashToFieldFp2(msg, dst: dst, count: 2)
            let expectedU = (v["u"] as! [String]).map(fp2FromHex)
            #expect(u == expectedU)
            for (key, ui) in [("Q0", u[0]), ("Q1", u[1])] {
                let q = (v[key] as! [String: String])
                let got = HashToCurve.mapToG2(ui).toAffine()
                #expect(got.x == fp2FromHex(q["x"]!) && got.y == fp2FromHex(q["y"]!), "\(key) for msg \(v["msg"]!)")
            }
            let pDict = v["P"] as! [String: String]
            let p = HashToCurve.hashToG2(msg, dst: dst).toAffine()
            #expect(p.x == fp2FromHex(pDict["x"]!) && p.y == fp2FromHex(pDict["y"]!), "P for msg \(v["msg"]!)")
        }
    }
}
