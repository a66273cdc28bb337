import Foundation

/// Verifies signatures described as JSON objects, one independent result per request:
/// `{"id","scheme","public_key" (SPKI DER hex, PEM or raw hex),"message" (hex),
/// "signature" (hex),"signature_format" ("der"|"raw", ECDSA only)}`.
/// For `bls12381-pop`, a request takes one of: `public_key` (Verify); `public_keys`,
/// `proofs_of_possession` and one `message` (FastAggregateVerify); `public_keys`,
/// `proofs_of_possession` and distinct `messages` (AggregateVerify); `public_key` and
/// `proof_of_possession` (PopVerify). Every aggregate form checks a proof per key.
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
        func hexList(_ name: String) throws -> [[UInt8]] {
            guard let list = object[name] as? [String] else { throw BatchError("field '\(name)' must be an array of hex strings") }
            return try list.enumerated().map { index, text in
                guard let bytes = Hex.decode(text) else { throw BatchError("\(name)[\(index)] is not hex") }
                return bytes
            }
        }
        if scheme == .bls12381Pop {
            if let proof = object["proof_of_possession"] {
                guard let text = proof as? String, let bytes = Hex.decode(text) else { throw BatchError("field 'proof_of_possession' is not hex") }
                return try SigningPublicKey(encoded: try field("public_key"), scheme: scheme).isValidProofOfPossession(bytes)
            }
            if object["public_keys"] != nil {
                guard let texts = object["public_keys"] as? [String] else { throw BatchError("field 'public_keys' must be an array of hex strings") }
                let keys = try texts.map { try SigningPublicKey(encoded: $0, scheme: scheme) }
                let proofs = object["proofs_of_possession"] == nil ? [] : try hexList("proofs_of_possession")
                if object["messages"] != nil {
                    return try BLSAggregation.aggregateVerify(signature: try hexField("signature"), messages: try hexList("messages"),
                                                              publicKeys: keys, proofsOfPossession: proofs)
                }
                return try BLSAggregation.fastAggregateVerify(signature: try hexField("signature"), message: try hexField("message"),
                                                                    publicKeys: keys, proofsOfPossession: proofs)
            }
        }
        let key = try SigningPublicKey(encoded: try field("public_key"), scheme: scheme)
        return try key.isValidSignature(try hexField("signature"), for: try hexField("message"), format: format)
    }

    struct BatchError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
