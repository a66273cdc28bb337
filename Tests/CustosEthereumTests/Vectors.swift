import CustosJSON
import Foundation

/// The repository's vectors (`<package>/vectors/ethereum`), read with `JSONValue` so that
/// 256-bit numbers in them stay exact; `CUSTOS_VECTORS` names another copy.
enum EthereumVectors {
    static func load(_ name: String) throws -> JSONValue {
        let directory = ProcessInfo.processInfo.environment["CUSTOS_VECTORS"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("vectors")
        return try JSONValue.parse(Array(try Data(contentsOf: directory.appendingPathComponent("ethereum/\(name)"))))
    }
}

extension JSONValue {
    var arrayValue: [JSONValue] { if case .array(let elements) = self { elements } else { [] } }
}

extension Array where Element == UInt8 {
    init(hex text: String) {
        let digits = Array((text.hasPrefix("0x") ? String(text.dropFirst(2)) : text).utf8)
        self = stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }
}
