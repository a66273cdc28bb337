import CustosCrypto
import Foundation
import Testing

@Suite("Keccak-256")
struct Keccak256Tests {
    /// Input bytes shared with Fixtures/make_keccak256_fixture.py.
    static func message(_ length: Int) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    static func fixtureCases() throws -> [(length: Int, digest: String)] {
        let root = try #require(try TestVectors.fixture("keccak256_pycryptodome.json") as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        return try cases.map { (try #require($0["length"] as? Int), try #require($0["digest"] as? String)) }
    }

    @Test("known answers", arguments: [
        ("", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        ("abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        ("The quick brown fox jumps over the lazy dog",
         "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"),
        ("The quick brown fox jumps over the lazy dog.",
         "578951e24efd62a3d63a86f7cd19aaa53c898fe287d2552133220370240b572d"),
        // ERC-20 Transfer(address,address,uint256) event topic.
        ("Transfer(address,address,uint256)",
         "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"),
    ])
    func knownAnswers(input: String, expected: String) {
        #expect(Keccak256.hash(data: Array(input.utf8)).hexString == expected)
    }

    @Test("is not FIPS 202 SHA3-256")
    func differsFromSHA3() {
        // SHA3-256("") uses the 0x06 domain byte; Ethereum's Keccak-256 uses 0x01.
        #expect(Keccak256.hash(data: [UInt8]()).hexString
            != "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")
    }

    @Test("lengths 0...300 and 1 MiB match pycryptodome")
    func matchesPycryptodome() throws {
        let cases = try Self.fixtureCases()
        #expect(cases.count == 302)
        let longest = Self.message(cases.map(\.length).max() ?? 0)
        for (length, digest) in cases {
            #expect(Keccak256.hash(data: longest[0..<length]).hexString == digest, "length \(length)")
        }
    }

    @Test("incremental updates equal one-shot hashing", arguments: [1, 7, 64, 135, 136, 137, 1000])
    func incremental(chunk: Int) throws {
        let cases = try Self.fixtureCases()
        for (length, digest) in cases where length <= 300 || chunk >= 64 {
            let message = Self.message(length)
            var hasher = Keccak256()
            var offset = 0
            while offset < length {
                let end = min(offset + chunk, length)
                hasher.update(data: message[offset..<end])
                offset = end
            }
            #expect(hasher.finalize().hexString == digest, "length \(length), chunk \(chunk)")
        }
    }

    @Test("accepts Data and non-contiguous DataProtocol input")
    func dataProtocolInputs() {
        let message = Self.message(500)
        let expected = Keccak256.hash(data: message)
        #expect(Keccak256.hash(data: Data(message)) == expected)
        // DispatchData with several regions exercises the per-region path.
        var dispatch = DispatchData.empty
        for start in stride(from: 0, to: 500, by: 77) {
            message[start..<min(start + 77, 500)].withUnsafeBytes { dispatch.append($0) }
        }
        #expect(dispatch.regions.count > 1)
        #expect(Keccak256.hash(data: dispatch) == expected)
    }

    @Test("transaction hashes in the Ethereum vectors are Keccak-256 of the raw bytes")
    func ethereumTransactionHashes() throws {
        let root = try #require(try TestVectors.json("ethereum/transactions.json") as? [String: Any])
        let transactions = try #require(root["transactions"] as? [[String: Any]])
        var checked = 0
        for transaction in transactions {
            guard let txHash = transaction["tx_hash"] as? String, let raw = transaction["raw"] as? String else { continue }
            #expect(Keccak256.hash(data: [UInt8](hex: raw)).hexString == txHash)
            checked += 1
        }
        #expect(checked == 19)
    }
}
