import CustosJSON
import Foundation
import Testing

/// `JSONText` must write exactly what Foundation's `JSONEncoder` writes, so audit
/// details keep one format whichever wrote them.
@Suite("JSON text")
struct JSONTextTests {
    func foundation(_ value: [String: String], escapingSlashes: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = escapingSlashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test func everyASCIICharacterIsEscapedLikeJSONEncoder() throws {
        var values: [String: String] = [:]
        for code in 0..<0x80 { values[String(format: "k%03d", code)] = String(UnicodeScalar(UInt8(code))) + "x/\(code)" }
        #expect(JSONText.sortedObject(values) == (try foundation(values)))
    }

    @Test func keysSortInUTF8OrderLikeJSONEncoder() throws {
        let values = ["B": "1", "Z": "2", "_": "3", "a": "4", "a10": "5", "a9": "6", "é": "7", "e": "8", "😀": "9", "": "10"]
        #expect(JSONText.sortedObject(values) == (try foundation(values)))
    }

    @Test func nonASCIIAndEmpty() throws {
        #expect(JSONText.sortedObject([:]) == "{}")
        let values = ["unicode": "é€😀\u{2028}\u{7f}", "quote\"key": "back\\slash", "nul": "\u{0}"]
        #expect(JSONText.sortedObject(values) == (try foundation(values)))
    }

    @Test func randomStringsMatchJSONEncoder() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab/\\\"\n\t\u{1}\u{1f} é€😀{}[]:,".unicodeScalars)
        for _ in 0..<200 {
            var values: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                func random() -> String {
                    String(String.UnicodeScalarView((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
                }
                values[random()] = random()
            }
            #expect(JSONText.sortedObject(values) == (try foundation(values)), "\(values)")
        }
    }

    @Test func withoutEscapingSlashes() throws {
        var text = JSONText(escapingSlashes: false)
        text.raw("{")
        text.string("a/b")
        text.raw(":")
        text.string("c/d\"")
        text.raw("}")
        #expect(String(decoding: text.bytes, as: UTF8.self) == (try foundation(["a/b": "c/d\""], escapingSlashes: false)))
    }
}
