import CustosAPI
import CustosJSON
import Foundation
import Testing

@Suite("Strict decoding and terminal text")
struct StrictDecodingTests {
    @Test func onlyCanonicalBase64IsDecoded() {
        #expect(Base64Text.decode("aGVsbG8=") == Array("hello".utf8))
        #expect(Base64Text.decode("") == [])
        #expect(Base64Text.decode("AAECAw==") == [0, 1, 2, 3])
        // Non-zero unused bits, missing padding, whitespace, the URL alphabet.
        for text in ["aGVsbG9=", "aGVsbG8", "aGVs bG8=", "aGVsbG8=\n", "AAECAx==", "-_-_", "aGVsbG8==", "====", "%%%"] {
            #expect(Base64Text.decode(text) == nil, "\(text)")
        }
    }

    func duplicate(_ json: String) -> String? {
        Array(json.utf8).withUnsafeBytes { JSONDuplicateKeys.first(in: $0) }
    }

    @Test func repeatedKeysAreFoundWhereverTheyAre() {
        #expect(duplicate(#"{"message":"a","message":"b"}"#) == "message")
        #expect(duplicate(#"{"message":"a","\u006dessage":"b"}"#) == "message")
        #expect(duplicate(#"{"items":[{"alias":"k"},{"alias":"k","m":1,"alias":null}]}"#) == "items[1].alias")
        #expect(duplicate(#"{"labels":{"a":"1","b":{"a":2},"a":"3"}}"#) == "labels.a")
        #expect(duplicate(#"{"a":"\"a\"","b":[1,2.5e3,true,false,null,"a"],"c":{}}"#) == nil)
        // The same key in different objects, or as a value, is not a repeat.
        #expect(duplicate(#"{"a":{"a":"a"},"b":[{"a":1},{"a":2}]}"#) == nil)
        #expect(duplicate(#"{"x":"\ud83d\ude00","\ud83d\ude00":1,"😀":2}"#) == "😀")
        // Not JSON: left to the decoder, which reports it.
        #expect(duplicate(#"{"a":1,"b""#) == nil)
        #expect(duplicate(String(repeating: "[", count: 100_000)) == nil)
    }

    @Test func unsafeCharactersAreEscapedForTerminals() {
        #expect(TerminalText.escaped("plain alias/1:x é") == "plain alias/1:x é")
        #expect(TerminalText.escaped("a\nb\tc\r\u{1B}[2J\u{0}\u{7F}\u{9B}\u{202E}\u{2066}\u{2028}\\") ==
                #"a\nb\tc\r\x1b[2J\x00\x7f\x9b\u{202E}\u{2066}\u{2028}\\"#)
        #expect(TerminalText.escaped("line\n\tnext\u{1B}\\", keeping: ["\n", "\t"], escapingBackslash: false) == "line\n\tnext\\x1b\\")
        #expect(TerminalText.containsUnsafe("x\u{061C}") && !TerminalText.containsUnsafe("tenant-1.a_b"))
        // JSON keeps its value, with every unsafe character as \u escape.
        let json = TerminalText.escapedJSON("{\"a\":\"x\u{9B}y\u{202E}z\u{7F}\"}")
        #expect(json == #"{"a":"x\u009by\u202ez\u007f"}"#)
        let decoded = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(decoded == ["a": "x\u{9B}y\u{202E}z\u{7F}"])
    }
}
