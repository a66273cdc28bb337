import CustosJSON
import Foundation

// MARK: Signing responses without JSONEncoder
//
// A signing request is answered thousands of times a second; these write the same
// JSON the Codable conformances produce (nil fields omitted) at a fraction of the cost.

extension SignResponse {
    public func write(to text: inout JSONText) {
        text.raw("{")
        text.key("signature", first: true); text.string(signature)
        text.key("key_id"); text.string(keyID)
        text.key("alias"); text.string(alias)
        text.key("version"); text.integer(version)
        text.key("scheme"); text.string(scheme)
        if let format { text.key("format"); text.string(format) }
        text.raw("}")
    }

    public var jsonBytes: [UInt8] {
        var text = JSONText(capacity: 256, escapingSlashes: false)
        write(to: &text)
        return text.bytes
    }
}

extension ProblemSummary {
    public func write(to text: inout JSONText) {
        text.raw("{")
        text.key("code", first: true); text.string(code)
        text.key("detail"); text.string(detail)
        text.raw("}")
    }
}

extension BatchResponse where Result == SignResponse {
    public var jsonBytes: [UInt8] {
        var text = JSONText(capacity: 64 + results.count * 240, escapingSlashes: false)
        text.raw("{")
        text.key("results", first: true)
        text.raw("[")
        for (position, item) in results.enumerated() {
            if position > 0 { text.raw(",") }
            text.raw("{")
            text.key("index", first: true); text.integer(item.index)
            if let result = item.result { text.key("result"); result.write(to: &text) }
            if let error = item.error { text.key("error"); error.write(to: &text) }
            text.raw("}")
        }
        text.raw("]")
        text.key("succeeded"); text.integer(succeeded)
        text.key("failed"); text.integer(failed)
        text.raw("}")
        return text.bytes
    }
}
