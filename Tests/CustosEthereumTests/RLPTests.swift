import BigInt
import Testing

@testable import CustosEthereum

@Suite("RLP")
struct RLPTests {
    /// The examples of the Ethereum wiki's RLP page and the Yellow Paper, appendix B.
    static let published: [(RLP, String)] = [
        (.bytes(Array("dog".utf8)), "83646f67"),
        (.list([.bytes(Array("cat".utf8)), .bytes(Array("dog".utf8))]), "c88363617483646f67"),
        (.bytes([]), "80"),
        (.list([]), "c0"),
        (.integer(UInt64(0)), "80"),
        (.bytes([0x00]), "00"),
        (.integer(UInt64(15)), "0f"),
        (.integer(UInt64(1024)), "820400"),
        (.list([.list([]), .list([.list([])]), .list([.list([]), .list([.list([])])])]), "c7c0c1c0c3c0c1c0"),
        (.bytes(Array("Lorem ipsum dolor sit amet, consectetur adipisicing elit".utf8)),
         "b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974"),
    ]

    @Test func publishedExamplesEncodeAndDecode() throws {
        for (item, hex) in Self.published {
            #expect(item.encoded == [UInt8](hex: hex), "\(hex)")
            #expect(try RLP.decode([UInt8](hex: hex)) == item, "\(hex)")
        }
    }

    @Test func longListsAndStringsUseTheLongForm() throws {
        let long = RLP.bytes([UInt8](repeating: 0xaa, count: 1024))
        #expect(long.encoded.prefix(3) == [0xb9, 0x04, 0x00])
        let list = RLP.list(Array(repeating: .bytes([0x01]), count: 60))
        #expect(list.encoded.prefix(2) == [0xf8, 60])
        #expect(try RLP.decode(long.encoded) == long)
        #expect(try RLP.decode(list.encoded) == list)
        #expect(RLP.integer(BigUInt(1) << 255).encoded.prefix(2) == [0xa0, 0x80])
    }

    /// Each has a canonical twin; a second spelling would give a transaction a second hash.
    @Test(arguments: [
        ("8105", "a single byte below 0x80"),
        ("b800", "leading zero"),
        ("b80100", "short form"),
        ("b9003801", "leading zero"),
        ("f80100", "short form"),
        ("83646f", "runs past"),
        ("83646f6700", "follow"),
        ("", "ends"),
        ("c3836f", "runs past"),
        ("c28300", "runs past"),
        ("bc7fffffffffff", "too long"),
    ])
    func nonCanonicalOrTruncatedInputIsRefused(hex: String, reason: String) {
        let error = #expect(throws: RLPError.self) { try RLP.decode([UInt8](hex: hex)) }
        #expect(error?.reason.contains(reason) == true, "\(hex): \(String(describing: error))")
    }

    @Test func nestingIsBounded() throws {
        var nested = RLP.list([])
        for _ in 0..<RLP.maximumDepth { nested = .list([nested]) }
        #expect(throws: RLPError.self) { try RLP.decode(nested.encoded) }
        var allowed = RLP.list([])
        for _ in 0..<(RLP.maximumDepth - 1) { allowed = .list([allowed]) }
        #expect(try RLP.decode(allowed.encoded) == allowed)
    }

    @Test func integersAreReadOnlyInCanonicalForm() throws {
        #expect(try RLP.bytes([0x04, 0x00]).uint64("nonce") == 1024)
        #expect(try RLP.bytes([]).integer("value") == 0)
        #expect(throws: RLPError("nonce has a leading zero byte")) { try RLP.bytes([0x00, 0x01]).uint64("nonce") }
        #expect(throws: RLPError("nonce is wider than 64 bits")) { try RLP.bytes([UInt8](repeating: 1, count: 9)).uint64("nonce") }
        #expect(throws: RLPError("value is wider than 256 bits")) { try RLP.bytes([UInt8](repeating: 1, count: 33)).integer("value") }
        #expect(throws: RLPError("to must be a byte string, not a list")) { try RLP.list([]).bytes("to") }
    }
}
