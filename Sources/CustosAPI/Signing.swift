import Foundation

// Signatures, one at a time and in batches.

public struct SignRequest: Codable, Sendable {
    public var message: String
    /// der or raw, for ECDSA; absent: the scheme's default.
    public var format: String?
    public init(message: String, format: String? = nil) {
        self.message = message
        self.format = format
    }
}

public struct SignResponse: Codable, Sendable {
    public var signature: String
    public var keyID: String
    public var alias: String
    public var version: Int
    public var scheme: String
    public var format: String?

    public init(signature: String, keyID: String, alias: String, version: Int, scheme: String, format: String?) {
        self.signature = signature
        self.keyID = keyID
        self.alias = alias
        self.version = version
        self.scheme = scheme
        self.format = format
    }

    enum CodingKeys: String, CodingKey {
        case signature, alias, version, scheme, format
        case keyID = "key_id"
    }
}

public struct VerifyRequest: Codable, Sendable {
    public var message: String
    public var signature: String
    public var format: String?
    public var version: Int?
    public init(message: String, signature: String, format: String? = nil, version: Int? = nil) {
        self.message = message
        self.signature = signature
        self.format = format
        self.version = version
    }
}

public struct VerifyResponse: Codable, Sendable {
    public var valid: Bool
    public var version: Int?
    public init(valid: Bool, version: Int?) {
        self.valid = valid
        self.version = version
    }
}

public struct BatchSignRequest: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public var alias: String
        public var message: String
        public var format: String?
        public init(alias: String, message: String, format: String? = nil) {
            self.alias = alias
            self.message = message
            self.format = format
        }
    }
    public var items: [Item]
    public init(items: [Item]) { self.items = items }
}

public struct BatchVerifyRequest: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public var alias: String
        public var message: String
        public var signature: String
        public var format: String?
        public var version: Int?
        public init(alias: String, message: String, signature: String, format: String? = nil, version: Int? = nil) {
            self.alias = alias
            self.message = message
            self.signature = signature
            self.format = format
            self.version = version
        }
    }
    public var items: [Item]
    public init(items: [Item]) { self.items = items }
}

/// One item's outcome: exactly one of `result` and `error`.
public struct BatchItemResult<Result: Codable & Sendable>: Codable, Sendable {
    public var index: Int
    public var result: Result?
    public var error: ProblemSummary?
    public init(index: Int, result: Result?, error: ProblemSummary?) {
        self.index = index
        self.result = result
        self.error = error
    }
}

public struct BatchResponse<Result: Codable & Sendable>: Codable, Sendable {
    public var results: [BatchItemResult<Result>]
    public var succeeded: Int
    public var failed: Int
    public init(results: [BatchItemResult<Result>]) {
        self.results = results
        self.succeeded = results.filter { $0.error == nil }.count
        self.failed = results.count - succeeded
    }
}

public struct ProblemSummary: Codable, Sendable, Equatable {
    public var code: String
    public var detail: String
    public init(code: String, detail: String) {
        self.code = code
        self.detail = detail
    }
}
