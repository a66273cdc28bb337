import Foundation

/// Verifies signatures described as JSON objects, one independent result per request:
/// `{"id","scheme","public_key" (SPKI DER hex, PEM or raw hex),"message" (hex),
/// "signature" (hex),"signature_format" ("der"|"raw", ECDSA only)}`.
/// A malformed request yields an error for that request only.
public enum BatchVerifier {
    public struct Result: Sendable, Equatable {
        /// The request's `id` (a string or number rendered as text), nil when unreadable.
        public var id: String?
        public var valid: Bool
        public var error: String?

        /// `{"id","valid","error"?}` with keys in a fixed order.
        public var jsonLine: String {
            var object: [String: Any] = ["id": id as Any? ?? NSNull(), "valid": valid]
            if let error { object["error"] = error }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Verifies one JSON line.
    public static func verify(line: some DataProtocol) -> Result {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
            return Result(id: nil, valid: false, error: "line is not a JSON object")
        }
        let id: String? = switch object["id"] {
        case let text as String: text
        case let number as NSNumber: number.stringValue
        default: nil
        }
        do {
            return Result(id: id, valid: try verify(object), error: nil)
        } catch {
            return Result(id: id, valid: false, error: String(describing: error))
        }
    }

    static func verify(_ object: [String: Any]) throws -> Bool {
        func field(_ name: String) throws -> String {
            guard let value = object[name] as? String else { throw BatchError("missing or non-string field '\(name)'") }
            return value
        }
        func hexField(_ name: String) throws -> [UInt8] {
            guard let bytes = Hex.decode(try field(name)) else { throw BatchError("field '\(name)' is not hex") }
            return bytes
        }
        let scheme = try SignatureScheme(identifier: try field("scheme"))
        var format: SignatureFormat?
        if let raw = object["signature_format"] {
            guard let text = raw as? String, let parsed = SignatureFormat(rawValue: text) else {
                throw BatchError("signature_format must be \"der\" or \"raw\"")
            }
            format = parsed
        }
        let key = try SigningPublicKey(encoded: try field("public_key"), scheme: scheme)
        return try key.isValidSignature(try hexField("signature"), for: try hexField("message"), format: format)
    }

    struct BatchError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
