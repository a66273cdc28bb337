import CustosCrypto
import Testing
@testable import CustosCluster

@Suite struct CBORTests {
    /// RFC 8949 Appendix A examples inside the subset, byte for byte.
    static let appendixA: [(CBORValue, String)] = [
        (.unsigned(0), "00"), (.unsigned(1), "01"), (.unsigned(10), "0a"), (.unsigned(23), "17"), (.unsigned(24), "1818"),
        (.unsigned(25), "1819"), (.unsigned(100), "1864"), (.unsigned(1000), "1903e8"), (.unsigned(1_000_000), "1a000f4240"),
        (.unsigned(1_000_000_000_000), "1b000000e8d4a51000"), (.unsigned(UInt64.max), "1bffffffffffffffff"),
        (.null, "f6"), (.bytes([]), "40"), (.bytes([1, 2, 3, 4]), "4401020304"),
        (.text(""), "60"), (.text("a"), "6161"), (.text("IETF"), "6449455446"), (.text("\"\\"), "62225c"),
        (.text("\u{00fc}"), "62c3bc"), (.text("\u{6c34}"), "63e6b0b4"), (.text("\u{10151}"), "64f0908591"),
        (.array([]), "80"), (.array([.unsigned(1), .unsigned(2), .unsigned(3)]), "83010203"),
        (.array([.unsigned(1), .array([.unsigned(2), .unsigned(3)]), .array([.unsigned(4), .unsigned(5)])]), "8301820203820405"),
        (.array((1...25).map { .unsigned(UInt64($0)) }), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ]

    @Test func encodesAndDecodesTheAppendixAExamples() throws {
        for (value, encoding) in Self.appendixA {
            #expect(Hex.encode(value.encoded) == encoding)
            #expect(try CBOR.decode(hex(encoding)) == value)
        }
    }

    @Test func integerBoundariesUseTheShortestHead() throws {
        let cases: [(UInt64, Int)] = [(23, 1), (24, 2), (255, 2), (256, 3), (65535, 3), (65536, 5), (0xffff_ffff, 5), (0x1_0000_0000, 9)]
        for (n, size) in cases {
            let bytes = CBORValue.unsigned(n).encoded
            #expect(bytes.count == size)
            #expect(try CBOR.decode(bytes) == .unsigned(n))
        }
    }

    /// Every Appendix A example outside the subset is refused, named by its cause.
    @Test func refusesTheAppendixAExamplesOutsideTheSubset() {
        let refused: [(String, CBORError)] = [
            ("20", .unsupportedType(majorType: 1)), ("3863", .unsupportedType(majorType: 1)),
            ("3bffffffffffffffff", .unsupportedType(majorType: 1)),
            ("c249010000000000000000", .unsupportedType(majorType: 6)), ("a0", .unsupportedType(majorType: 5)),
            ("a201020304", .unsupportedType(majorType: 5)), ("f90000", .unsupportedType(majorType: 7)),
            ("fa47c35000", .unsupportedType(majorType: 7)), ("fb3ff199999999999a", .unsupportedType(majorType: 7)),
            ("f4", .unsupportedSimpleValue(20)), ("f5", .unsupportedSimpleValue(21)), ("f7", .unsupportedSimpleValue(23)),
            ("f0", .unsupportedSimpleValue(16)), ("f8ff", .unsupportedSimpleValue(255)),
            ("5f42010243030405ff", .indefiniteLength), ("7f657374726561646d696e67ff", .indefiniteLength),
            ("9fff", .indefiniteLength), ("9f018202039f0405ffff", .indefiniteLength), ("ff", .indefiniteLength),
        ]
        for (encoding, error) in refused {
            #expect(throws: error) { try CBOR.decode(hex(encoding)) }
        }
    }

    @Test func refusesNonShortestForms() {
        for encoding in ["1800", "1817", "190000", "1900ff", "1a00000000", "1a0000ffff", "1b0000000000000000", "1b00000000ffffffff",
                         "5800", "5817" + String(repeating: "00", count: 23), "780161", "98020102", "990000"] {
            #expect(throws: CBORError.nonShortestForm) { try CBOR.decode(hex(encoding)) }
        }
    }

    @Test func refusesReservedAdditionalInformation() {
        for encoding in ["1c", "1d", "1e", "5c", "9d", "fc"] {
            #expect(throws: CBORError.reservedAdditionalInformation) { try CBOR.decode(hex(encoding)) }
        }
    }

    @Test func refusesTruncatedAndTrailingBytes() throws {
        let full = CBORValue.array([.unsigned(1_000_000), .bytes([1, 2, 3]), .text("abc"), .null]).encoded
        for length in 0..<full.count {
            #expect(throws: CBORError.truncated) { try CBOR.decode(Array(full.prefix(length))) }
        }
        #expect(throws: CBORError.trailingBytes(count: 1)) { try CBOR.decode(full + [0]) }
        #expect(throws: CBORError.trailingBytes(count: 2)) { try CBOR.decode([0x01, 0x01, 0x01]) }
        // A count far beyond the input fails before anything is allocated.
        #expect(throws: CBORError.truncated) { try CBOR.decode(hex("9affffffff"), maximumLength: .max) }
        #expect(throws: CBORError.truncated) { try CBOR.decode(hex("5a00100000"), maximumLength: .max) }
    }

    @Test func refusesNestingDeeperThanEight() throws {
        func nested(_ depth: Int) -> CBORValue { depth == 0 ? .unsigned(0) : .array([nested(depth - 1)]) }
        #expect(try CBOR.decode(nested(8).encoded) == nested(8))
        #expect(throws: CBORError.nestingTooDeep(limit: 8)) { try CBOR.decode(nested(9).encoded) }
    }

    @Test func refusesLengthsOverTheCallersLimit() throws {
        #expect(try CBOR.decode(CBORValue.bytes([UInt8](repeating: 1, count: 16)).encoded, maximumLength: 16) == .bytes([UInt8](repeating: 1, count: 16)))
        #expect(throws: CBORError.lengthOverLimit(limit: 15)) { try CBOR.decode(CBORValue.bytes([UInt8](repeating: 1, count: 16)).encoded, maximumLength: 15) }
        #expect(throws: CBORError.lengthOverLimit(limit: 3)) { try CBOR.decode(CBORValue.text("abcd").encoded, maximumLength: 3) }
        #expect(throws: CBORError.lengthOverLimit(limit: 2)) { try CBOR.decode(CBORValue.array([.null, .null, .null]).encoded, maximumLength: 2) }
    }

    @Test func refusesInvalidUTF8() {
        for encoding in ["61ff", "62c328", "63e28228", "64f0908c28", "62c0af", "63eda080"] {
            #expect(throws: CBORError.invalidUTF8) { try CBOR.decode(hex(encoding)) }
        }
    }

    @Test func roundTripsEveryAcceptedInput() throws {
        // Every value of a small exhaustive-ish set, and re-encoding what was decoded.
        var values: [CBORValue] = [.null, .text("custos/cluster/v1/checkpoint"), .bytes([UInt8](repeating: 0xab, count: 300))]
        for shift in 0..<64 { values.append(.unsigned(1 << UInt64(shift))); values.append(.unsigned((1 << UInt64(shift)) - 1)) }
        values.append(.array(values))
        values.append(.array([.array([.array([.bytes([]), .text("ü")])]), .null]))
        for value in values {
            let bytes = value.encoded
            let decoded = try CBOR.decode(bytes)
            #expect(decoded == value)
            #expect(decoded.encoded == bytes)
        }
        // And every two-byte input the decoder accepts re-encodes to itself.
        for a in 0...255 {
            for b in 0...255 {
                let input: [UInt8] = [UInt8(a), UInt8(b)]
                if let decoded = try? CBOR.decode(input) { #expect(decoded.encoded == input) }
            }
        }
    }

    @Test func errorsNeverCarryTheInput() {
        // A refused text string's content is not in the message.
        let bytes = CBORValue.text("\u{1b}[31msecret").encoded
        do {
            _ = try CBORValue.decode(bytes, what: "address", limit: 4)
            Issue.record("expected a refusal")
        } catch {
            #expect(!"\(error)".contains("secret"))
            #expect(!"\(error)".contains("\u{1b}"))
        }
    }
}

@Suite struct CBOREqualityTests {
    /// "K" and U+212A KELVIN SIGN are equal Swift strings with different encodings.
    @Test func equalityIsByteExact() {
        #expect("K" == "\u{212A}")
        #expect(CBORValue.text("K") != CBORValue.text("\u{212A}"))
        #expect(CBORValue.text("K").encoded != CBORValue.text("\u{212A}").encoded)
        let a = LogEntry(sequence: 1, record: [], certificate: [], status: .void, reason: "K")
        let b = LogEntry(sequence: 1, record: [], certificate: [], status: .void, reason: "\u{212A}")
        #expect(a != b)
        #expect(CBORValue.array([.text("é")]) == CBORValue.array([.text("é")]))
    }
}
