import CustosKeystore
import CustosStore
import Foundation

// The JSON bodies of the HTTP API (`openapi.yaml` is their contract). Shared by the
// server and the command line's client mode, so both speak exactly one dialect.
// Binary values travel as standard base64 strings.

public struct CreateTenantRequest: Codable, Sendable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct TenantList: Codable, Sendable {
    public var tenants: [TenantInfo]
    public init(tenants: [TenantInfo]) { self.tenants = tenants }
}

public struct CreateTokenRequest: Codable, Sendable {
    public var tenant: String?
    public var role: String
    public var ttlSeconds: Int
    public var description: String?

    public init(tenant: String?, role: String, ttlSeconds: Int, description: String?) {
        self.tenant = tenant
        self.role = role
        self.ttlSeconds = ttlSeconds
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case tenant, role, description
        case ttlSeconds = "ttl_seconds"
    }
}

public struct CreatedTokenResponse: Codable, Sendable {
    public var token: TokenInfo
    /// The bearer secret; returned once, never again.
    public var bearer: String
    public init(token: TokenInfo, bearer: String) {
        self.token = token
        self.bearer = bearer
    }
}

public struct TokenList: Codable, Sendable {
    public var tokens: [TokenInfo]
    public init(tokens: [TokenInfo]) { self.tokens = tokens }
}

public struct GenerateKeyRequest: Codable, Sendable {
    public var alias: String
    public var scheme: String
    public var category: String?
    public var labels: [String: String]?
    public var externalID: String?
    public var rsaBits: Int?

    public init(alias: String, scheme: String, category: String? = nil, labels: [String: String]? = nil,
                externalID: String? = nil, rsaBits: Int? = nil) {
        self.alias = alias
        self.scheme = scheme
        self.category = category
        self.labels = labels
        self.externalID = externalID
        self.rsaBits = rsaBits
    }

    enum CodingKeys: String, CodingKey {
        case alias, scheme, category, labels
        case externalID = "external_id"
        case rsaBits = "rsa_bits"
    }
}

public struct ImportKeyRequest: Codable, Sendable {
    public var alias: String
    public var scheme: String
    public var category: String?
    public var labels: [String: String]?
    public var externalID: String?
    /// PKCS#8 (or SEC1/PKCS#1), PEM text or base64 DER.
    public var privateKey: String

    public init(alias: String, scheme: String, category: String? = nil, labels: [String: String]? = nil,
                externalID: String? = nil, privateKey: String) {
        self.alias = alias
        self.scheme = scheme
        self.category = category
        self.labels = labels
        self.externalID = externalID
        self.privateKey = privateKey
    }

    enum CodingKeys: String, CodingKey {
        case alias, scheme, category, labels
        case externalID = "external_id"
        case privateKey = "private_key"
    }
}

public struct KeyList: Codable, Sendable {
    public var keys: [KeyInfo]
    /// Pass as `after` for the next page; absent on the last page.
    public var next: String?
    public init(keys: [KeyInfo], next: String?) {
        self.keys = keys
        self.next = next
    }
}

public struct PublicKeyResponse: Codable, Sendable {
    public var alias: String
    public var version: Int
    public var scheme: String
    public var fingerprint: String
    public var format: String
    /// PEM text, base64 DER, or base64 raw/compressed point.
    public var publicKey: String?
    public var jwk: [String: String]?

    public init(alias: String, version: Int, scheme: String, fingerprint: String, format: String,
                publicKey: String?, jwk: [String: String]?) {
        self.alias = alias
        self.version = version
        self.scheme = scheme
        self.fingerprint = fingerprint
        self.format = format
        self.publicKey = publicKey
        self.jwk = jwk
    }

    enum CodingKeys: String, CodingKey {
        case alias, version, scheme, fingerprint, format, jwk
        case publicKey = "public_key"
    }
}

public struct ProofOfPossessionResponse: Codable, Sendable {
    public var alias: String
    public var version: Int
    public var publicKey: String
    public var proofOfPossession: String

    public init(alias: String, version: Int, publicKey: String, proofOfPossession: String) {
        self.alias = alias
        self.version = version
        self.publicKey = publicKey
        self.proofOfPossession = proofOfPossession
    }

    enum CodingKeys: String, CodingKey {
        case alias, version
        case publicKey = "public_key"
        case proofOfPossession = "proof_of_possession"
    }
}

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

public struct EncryptRequest: Codable, Sendable {
    public var plaintext: String
    public var associatedData: String?
    public init(plaintext: String, associatedData: String? = nil) {
        self.plaintext = plaintext
        self.associatedData = associatedData
    }
    enum CodingKeys: String, CodingKey {
        case plaintext
        case associatedData = "associated_data"
    }
}

public struct EncryptResponse: Codable, Sendable {
    public var ciphertext: String
    public init(ciphertext: String) { self.ciphertext = ciphertext }
}

public struct DecryptRequest: Codable, Sendable {
    public var ciphertext: String
    public var associatedData: String?
    public init(ciphertext: String, associatedData: String? = nil) {
        self.ciphertext = ciphertext
        self.associatedData = associatedData
    }
    enum CodingKeys: String, CodingKey {
        case ciphertext
        case associatedData = "associated_data"
    }
}

public struct DecryptResponse: Codable, Sendable {
    public var plaintext: String
    public init(plaintext: String) { self.plaintext = plaintext }
}

public struct HMACRequest: Codable, Sendable {
    public var message: String
    /// When present, the response says whether it matches instead of computing one.
    public var mac: String?
    public init(message: String, mac: String? = nil) {
        self.message = message
        self.mac = mac
    }
}

public struct HMACResponse: Codable, Sendable {
    public var mac: String?
    public var version: Int?
    public var valid: Bool?
    public init(mac: String?, version: Int?, valid: Bool?) {
        self.mac = mac
        self.version = version
        self.valid = valid
    }
}

public struct AuditRecordResponse: Codable, Sendable {
    public var sequence: Int64
    public var time: Date
    public var actor: String
    public var tenant: String?
    public var operation: String
    public var keyID: String?
    public var keyVersion: Int?
    public var outcome: String
    public var details: [String: String]
    public var previousHash: String
    public var hash: String

    public init(sequence: Int64, time: Date, actor: String, tenant: String?, operation: String, keyID: String?,
                keyVersion: Int?, outcome: String, details: [String: String], previousHash: String, hash: String) {
        self.sequence = sequence
        self.time = time
        self.actor = actor
        self.tenant = tenant
        self.operation = operation
        self.keyID = keyID
        self.keyVersion = keyVersion
        self.outcome = outcome
        self.details = details
        self.previousHash = previousHash
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case sequence, time, actor, tenant, operation, outcome, details, hash
        case keyID = "key_id"
        case keyVersion = "key_version"
        case previousHash = "previous_hash"
    }
}

public struct AuditRecordList: Codable, Sendable {
    public var records: [AuditRecordResponse]
    public var next: Int64?
    public init(records: [AuditRecordResponse], next: Int64?) {
        self.records = records
        self.next = next
    }
}

public struct AuditVerifyResponse: Codable, Sendable {
    public struct Finding: Codable, Sendable {
        public var sequence: Int64
        public var kind: String
        public var detail: String
        public init(sequence: Int64, kind: String, detail: String) {
            self.sequence = sequence
            self.kind = kind
            self.detail = detail
        }
    }
    public var intact: Bool
    public var recordsChecked: Int
    public var headSequence: Int64
    public var checkpointsChecked: Int
    public var findings: [Finding]

    public init(intact: Bool, recordsChecked: Int, headSequence: Int64, checkpointsChecked: Int, findings: [Finding]) {
        self.intact = intact
        self.recordsChecked = recordsChecked
        self.headSequence = headSequence
        self.checkpointsChecked = checkpointsChecked
        self.findings = findings
    }

    enum CodingKeys: String, CodingKey {
        case intact, findings
        case recordsChecked = "records_checked"
        case headSequence = "head_sequence"
        case checkpointsChecked = "checkpoints_checked"
    }
}

public struct HealthResponse: Codable, Sendable {
    public var status: String
    public var checks: [String: String]?
    public init(status: String, checks: [String: String]? = nil) {
        self.status = status
        self.checks = checks
    }
}

/// RFC 9457 problem details; `code` is the stable machine-readable part.
public struct Problem: Codable, Sendable, Error {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var code: String

    public init(status: Int, code: String, title: String, detail: String) {
        self.type = "https://custos.dev/problems/\(code)"
        self.title = title
        self.status = status
        self.detail = detail
        self.code = code
    }
}

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
