import CustosMacros
import Foundation

// Signatures, one at a time and in batches.

@PublicMemberwiseInit
public struct SignRequest: Codable, Sendable {
    public var message: String
    /// der or raw, for ECDSA; absent: the scheme's default.
    public var format: String? = nil
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct SignResponse: Codable, Sendable {
    public var signature: String
    public var keyID: String
    public var alias: String
    public var version: Int
    public var scheme: String
    public var format: String?
}

@PublicMemberwiseInit
public struct VerifyRequest: Codable, Sendable {
    public var message: String
    public var signature: String
    public var format: String? = nil
    public var version: Int? = nil
}

@PublicMemberwiseInit
public struct VerifyResponse: Codable, Sendable {
    public var valid: Bool
    public var version: Int?
}

@PublicMemberwiseInit
public struct BatchSignRequest: Codable, Sendable {
    @PublicMemberwiseInit
    public struct Item: Codable, Sendable {
        public var alias: String
        public var message: String
        public var format: String? = nil
    }
    public var items: [Item]
}

@PublicMemberwiseInit
public struct BatchVerifyRequest: Codable, Sendable {
    @PublicMemberwiseInit
    public struct Item: Codable, Sendable {
        public var alias: String
        public var message: String
        public var signature: String
        public var format: String? = nil
        public var version: Int? = nil
    }
    public var items: [Item]
}

/// One item's outcome: exactly one of `result` and `error`.
@PublicMemberwiseInit
public struct BatchItemResult<Result: Codable & Sendable>: Codable, Sendable {
    public var index: Int
    public var result: Result?
    public var error: ProblemSummary?
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

@PublicMemberwiseInit
public struct ProblemSummary: Codable, Sendable, Equatable {
    public var code: String
    public var detail: String
}
