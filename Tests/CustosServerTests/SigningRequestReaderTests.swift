import CustosAPI
import Foundation
import Testing

/// The direct readers of signing request bodies must never disagree with
/// `JSONDecoder`: whatever they accept, it decodes to the same values.
@Suite("Signing request readers")
struct SigningRequestReaderTests {
    func read<T: DirectlyReadable>(_ type: T.Type, _ text: String) -> T? {
        Array(text.utf8).withUnsafeBytes { T.read(json: $0) }
    }

    func decoded<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(bytes))
    }

    func same(_ left: SignRequest, _ right: SignRequest) -> Bool {
        left.message == right.message && left.format == right.format
    }

    func same(_ left: BatchSignRequest, _ right: BatchSignRequest) -> Bool {
        left.items.count == right.items.count && zip(left.items, right.items).allSatisfy {
            $0.alias == $1.alias && $0.message == $1.message && $0.format == $1.format
        }
    }

    @Test func commonBodiesAreReadDirectly() throws {
        let plain = try #require(read(SignRequest.self, #"{"message":"AAEC"}"#))
        #expect(plain.message == "AAEC" && plain.format == nil)
        let spaced = try #require(read(SignRequest.self, " {\n\t\"format\" : \"raw\" ,\r\n \"message\":\"q+/w==\" }\n"))
        #expect(spaced.message == "q+/w==" && spaced.format == "raw")
        let batch = try #require(read(BatchSignRequest.self,
                                      #"{"items":[{"alias":"a","message":"AA=="},{"message":"AQ==","alias":"b","format":"der"}]}"#))
        #expect(batch.items.map(\.alias) == ["a", "b"] && batch.items.map(\.message) == ["AA==", "AQ=="])
        #expect(batch.items.map(\.format) == [nil, "der"])
        #expect(read(BatchSignRequest.self, #"{"items":[]}"#)?.items.isEmpty == true)
    }

    /// Each of these is valid JSON that the reader leaves to `JSONDecoder`, or invalid
    /// JSON that both refuse.
    @Test func everythingOutsideThePlainShapeIsLeftToJSONDecoder() {
        let single = [
            #"{"message":"a\/b"}"#, #"{"message":"\u0041"}"#, #"{"message":"AA","format":null}"#, #"{"message":1}"#,
            #"{"message":"é"}"#, #"{"message":"AA","other":"x"}"#, #"{"message":"AA","message":"AQ"}"#,
            #"{"format":"raw"}"#, #"{"message":"AA"} x"#, #"{"message":"AA",}"#, #"{"message" "AA"}"#, #"{"message":"AA""#,
            #"{"alias":"a","message":"AA"}"#, "\u{FEFF}{\"message\":\"AA\"}", #"["message"]"#, "", #"{"message":"a"b"}"#,
            "{\"message\":\"a\u{01}\"}",
        ]
        for text in single { #expect(read(SignRequest.self, text) == nil, "\(text)") }
        let batch = [
            #"{"items":[{"alias":"a"}]}"#, #"{"items":[{"alias":"a","message":"AA"},]}"#, #"{"items":{}}"#,
            #"{"items":[{"alias":"a","message":"AA"}],"items":[]}"#, #"{"items":[{"alias":"a","message":"AA","extra":"1"}]}"#,
            #"{"items":null}"#, #"{}"#, #"{"items":[{"alias":"a","message":"AA"}]"#,
        ]
        for text in batch { #expect(read(BatchSignRequest.self, text) == nil, "\(text)") }
    }

    /// Random bodies, and random edits of them: whenever a reader accepts one,
    /// `JSONDecoder` decodes it to the same values.
    @Test func whatTheReadersAcceptJSONDecoderDecodesAlike() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[],:" \"#.utf8) + Array("AQaz09+/=\\u\n\té".utf8)
        func value() -> String { String((0..<Int.random(in: 0...6, using: &generator)).map { _ in "AQz+/=9".randomElement()! }) }
        func item(alias: Bool) -> String {
            var members = ["\"message\":\"\(value())\""]
            if alias { members.append("\"alias\":\"\(value())\"") }
            if Bool.random() { members.append("\"format\":\"\(value())\"") }
            return "{" + members.shuffled().joined(separator: Bool.random() ? "," : " , ") + "}"
        }
        func mutated(_ text: String) -> [UInt8] {
            var bytes = Array(text.utf8)
            for _ in 0..<Int.random(in: 1...3) {
                let at = Int.random(in: 0...bytes.count)
                switch Int.random(in: 0..<3) {
                case 0: bytes.insert(alphabet.randomElement()!, at: at)
                case 1: if at < bytes.count { bytes.remove(at: at) }
                default: if at < bytes.count { bytes[at] = alphabet.randomElement()! }
                }
            }
            return bytes
        }
        var accepted = (single: 0, batch: 0)
        for round in 0..<3000 {
            let single = item(alias: false)
            let batch = "{\"items\":[" + (0..<Int.random(in: 0...4)).map { _ in item(alias: true) }.joined(separator: ",") + "]}"
            for bytes in [Array(single.utf8), mutated(single)] {
                if let direct = bytes.withUnsafeBytes({ SignRequest.read(json: $0) }) {
                    accepted.single += 1
                    let reference = try #require(decoded(SignRequest.self, bytes), "accepted, but JSONDecoder refuses: \(String(decoding: bytes, as: UTF8.self))")
                    #expect(same(direct, reference), "round \(round)")
                }
            }
            for bytes in [Array(batch.utf8), mutated(batch)] {
                if let direct = bytes.withUnsafeBytes({ BatchSignRequest.read(json: $0) }) {
                    accepted.batch += 1
                    let reference = try #require(decoded(BatchSignRequest.self, bytes), "accepted, but JSONDecoder refuses: \(String(decoding: bytes, as: UTF8.self))")
                    #expect(same(direct, reference), "round \(round)")
                }
            }
        }
        // Every unedited body is read directly, and some edited ones too.
        #expect(accepted.single > 3000 && accepted.batch > 3000)
    }
}
