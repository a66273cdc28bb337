import CustosJSON
import Foundation
import Testing

@Suite("JSONValue: exact JSON reading")
struct JSONValueTests {
    @Test func numbersKeepTheirTextAndStringsTheirEscapes() throws {
        let text = #"{"max": 115792089237316195423570985008687907853269984665640564039457584007913129639935, "neg": -1.5e-3, "s": "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "l": [true, false, null, {}], "e": []}"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value["max"] == .number("115792089237316195423570985008687907853269984665640564039457584007913129639935"))
        #expect(value["neg"] == .number("-1.5e-3"))
        #expect(value["s"] == .string("a\"\\/\u{8}\u{c}\n\r\té😀"))
        #expect(value["l"] == .array([.bool(true), .bool(false), .null, .object([:])]))
        // Foundation reads the same text to the same strings.
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(foundation?["s"] as? String == value["s"].flatMap { if case .string(let s) = $0 { s } else { nil } })
        // Written back with sorted keys, and read again to the same value.
        #expect(try JSONValue.parse(Array(value.text.utf8)) == value)
        #expect(value.text.hasPrefix(#"{"e":[],"l":[true,false,null,{}],"max":115792089237316195423570985008687907853269984665640564039457584007913129639935,"#))
    }

    @Test(arguments: [
        ("", "ends where a value should start"),
        ("{\"a\":1,\"a\":2}", "appears twice"),
        ("[1,]", "unexpected text"),
        ("01", "leading zero"),
        ("1.", "digit must follow the decimal point"),
        ("1e", "digit must follow the exponent"),
        ("\"a\u{01}\"", "control character"),
        ("\"\\x\"", "unknown escape"),
        ("\"\\ud800\"", "high surrogate"),
        ("\"\\udc00\"", "lone surrogate"),
        ("\"\\u12zz\"", "four hex digits"),
        ("\"\\u12\"", "ends inside an escape"),
        ("[1] [2]", "text follows"),
        ("{1:2}", "key must be a string"),
        ("{\"a\" 1}", "':' must follow"),
        ("[", "ends where a value should start"),
        ("tru", "unexpected text"),
        ("NaN", "unexpected text"),
    ])
    func malformedTextIsRefused(text: String, reason: String) {
        let error = #expect(throws: JSONValueError.self) { try JSONValue.parse(Array(text.utf8)) }
        #expect(error?.reason.contains(reason) == true, "\(text): \(String(describing: error))")
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        #expect(throws: JSONValueError.self) { try JSONValue.parse([0x22, 0xff, 0x22]) }
        let deep = String(repeating: "[", count: JSONValue.maximumDepth + 1) + String(repeating: "]", count: JSONValue.maximumDepth + 1)
        #expect(throws: JSONValueError.self) { try JSONValue.parse(Array(deep.utf8)) }
        let allowed = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(throws: Never.self) { try JSONValue.parse(Array(allowed.utf8)) }
    }
}
