import Crypto
import CustosCrypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Which KMS key seals the root key, and where the KMS API answers.
public struct KMSConfiguration: Codable, Sendable, Equatable {
    public var endpoint: String
    public var region: String
    public var keyID: String

    public static func defaultEndpoint(region: String) -> String { "https://kms.\(region).amazonaws.com" }

    public init(endpoint: String? = nil, region: String, keyID: String) {
        self.endpoint = endpoint ?? Self.defaultEndpoint(region: region)
        self.region = region
        self.keyID = keyID
    }

    enum CodingKeys: String, CodingKey {
        case endpoint, region
        case keyID = "key_id"
    }

    /// Plain `http` sends the root key in clear: accepted only for a loopback endpoint
    /// when `CUSTOS_KMS_ALLOW_HTTP=1` (a local test KMS).
    func validate(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host else {
            throw KeystoreError.invalidArgument("the KMS endpoint must be an https URL, got '\(endpoint.prefix(200))'")
        }
        if scheme == "http" {
            guard environment["CUSTOS_KMS_ALLOW_HTTP"] == "1", ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) else {
                throw KeystoreError.invalidArgument("the KMS endpoint must use https (plain http sends the root key in clear), got '\(endpoint.prefix(200))'")
            }
        }
        guard !region.isEmpty, region.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7a) }) else {
            throw KeystoreError.invalidArgument("the KMS region must be lowercase letters, digits and '-', got '\(region.prefix(60))'")
        }
        guard !keyID.isEmpty, keyID.utf8.count <= 2048 else {
            throw KeystoreError.invalidArgument("the KMS key id is empty or too long")
        }
    }
}

/// AWS credentials. The secret stays in zeroize-on-free storage.
public struct AWSCredentials: Sendable {
    public var accessKeyID: String
    var secretAccessKey: SecretBytes
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: SecretBytes, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// From AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN.
    /// The secret is copied from the environment block straight into `SecretBytes`.
    public static func fromEnvironment() throws -> AWSCredentials {
        func variable(_ name: String) -> String? {
            getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let id = variable("AWS_ACCESS_KEY_ID"),
              let secret = SecretEnvironment.value("AWS_SECRET_ACCESS_KEY"), secret.count > 0 else {
            throw KeystoreError.invalidArgument("kms: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let session = SecretEnvironment.value("AWS_SESSION_TOKEN").flatMap { $0.count > 0 ? $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } : nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: session)
    }
}

/// AWS Signature Version 4 for a JSON POST to `/`.
enum SigV4 {
    static func sha256Hex(_ bytes: [UInt8]) -> String { Hex.encode(SHA256.hash(data: bytes)) }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
    }

    static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: date)
        return (amzDate, String(amzDate.prefix(8)))
    }

    /// Signs the request; returns every header to send (besides Content-Length).
    static func headers(host: String, region: String, service: String, target: String, body: [UInt8],
                        credentials: AWSCredentials, date: Date) -> [String: String] {
        let (amzDate, day) = timestamps(date)
        var headers: [String: String] = [
            "content-type": "application/x-amz-json-1.1",
            "host": host,
            "x-amz-date": amzDate,
            "x-amz-target": target,
        ]
        if let token = credentials.sessionToken { headers["x-amz-security-token"] = token }
        let names = headers.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(headers[$0]!.trimmingCharacters(in: .whitespaces))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = ["POST", "/", "", canonicalHeaders, signedHeaders, sha256Hex(body)].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
        var seed = Array("AWS4".utf8) + credentials.secretAccessKey.copyBytes()
        defer { SecretBytes.zeroize(&seed) }
        let signingKey = hmac(hmac(hmac(hmac(seed, day), region), service), "aws4_request")
        let signature = Hex.encode(hmac(signingKey, stringToSign))
        headers["authorization"] = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return headers
    }
}

/// The four calls of the AWS KMS JSON API that the root of trust uses.
public struct KMSClient: Sendable {
    public let configuration: KMSConfiguration
    let credentials: AWSCredentials
    let timeout: TimeInterval

    public init(configuration: KMSConfiguration, credentials: AWSCredentials, timeout: TimeInterval = 10) throws {
        try configuration.validate()
        self.configuration = configuration
        self.credentials = credentials
        self.timeout = timeout
    }

    func call(_ operation: String, _ payload: [String: Any]) async throws -> [String: Any] {
        let data = try await send(operation, body: Array(try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])))
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw KeystoreError.unsealFailed("kms: \(operation) returned no JSON object")
        }
        return object
    }

    /// Signs and posts `body`; returns the body of a 200 answer, or throws naming the refusal.
    func send(_ operation: String, body: [UInt8]) async throws -> Data {
        let url = URL(string: configuration.endpoint)!
        var host = url.host ?? ""
        if let port = url.port { host += ":\(port)" }
        var request = URLRequest(url: url.path.isEmpty ? url.appendingPathComponent("/") : url)
        request.httpMethod = "POST"
        request.timeoutInterval = timeout
        request.httpBody = Data(body)
        for (name, value) in SigV4.headers(host: host, region: configuration.region, service: "kms",
                                           target: "TrentService.\(operation)", body: body,
                                           credentials: credentials, date: Date()) {
            request.setValue(value, forHTTPHeaderField: name)
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw KeystoreError.unsealFailed("kms: endpoint \(configuration.endpoint) unreachable (\(operation))")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            let type = Self.errorType(object: object, body: data, response: response as? HTTPURLResponse) ?? "HTTP \(status)"
            throw KeystoreError.unsealFailed("kms: \(operation) refused: \(Self.explain(type)) (key \(configuration.keyID), region \(configuration.region))")
        }
        return data
    }

    /// The error code of a refused call: the JSON `__type`, the `x-amzn-ErrorType` header,
    /// or the `<Code>` of an XML error document (sent by some endpoints for auth errors).
    static func errorType(object: [String: Any]?, body: Data, response: HTTPURLResponse?) -> String? {
        func bare(_ text: String) -> String {
            let afterHash = text.split(separator: "#").last.map(String.init) ?? text
            return afterHash.split(separator: ":").first.map(String.init) ?? afterHash
        }
        if let type = object?["__type"] as? String { return bare(type) }
        if let header = response?.value(forHTTPHeaderField: "x-amzn-ErrorType"), !header.isEmpty { return bare(header) }
        let text = String(decoding: body.prefix(4096), as: UTF8.self)
        if let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>", range: start.upperBound..<text.endIndex) {
            let code = text[start.upperBound..<end.lowerBound]
            if !code.isEmpty, code.count <= 64, code.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." }) { return String(code) }
        }
        return nil
    }

    static func explain(_ type: String) -> String {
        switch type {
        case "DisabledException": "DisabledException: the KMS key is disabled"
        case "KMSInvalidStateException": "KMSInvalidStateException: the KMS key is pending deletion or unusable"
        case "NotFoundException": "NotFoundException: no such KMS key"
        case "AccessDeniedException": "AccessDeniedException: these credentials may not use the key"
        case "UnrecognizedClientException", "InvalidClientTokenId": "\(type): the access key id is not recognised"
        case "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature": "\(type): the secret access key is wrong"
        case "InvalidCiphertextException": "InvalidCiphertextException: the sealed root key does not open under this key and context"
        case "IncorrectKeyException": "IncorrectKeyException: the sealed root key belongs to another KMS key"
        default: type
        }
    }

    /// DescribeKey: the key state and usage.
    public func describeKey() async throws -> (state: String, usage: String, arn: String) {
        let out = try await call("DescribeKey", ["KeyId": configuration.keyID])
        let metadata = out["KeyMetadata"] as? [String: Any] ?? [:]
        return (metadata["KeyState"] as? String ?? (metadata["Enabled"] as? Bool == true ? "Enabled" : "Unknown"),
                metadata["KeyUsage"] as? String ?? "", metadata["Arn"] as? String ?? "")
    }

    /// GenerateDataKey (AES_256): fresh key material from the KMS; the plaintext half only.
    public func generateDataKey(context: [String: String]) async throws -> SecretBytes {
        let body = try KMSSecretBody.json(["KeyId": configuration.keyID, "KeySpec": "AES_256", "EncryptionContext": context])
        guard let key = try await plaintext(of: "GenerateDataKey", body: body), key.count == 32 else {
            throw KeystoreError.unsealFailed("kms: GenerateDataKey returned no 32-byte key")
        }
        return key
    }

    /// The root key goes into the request as bytes spliced into the JSON (never a
    /// String), and those bytes are wiped once sent.
    public func encrypt(_ plaintext: SecretBytes, context: [String: String]) async throws -> [UInt8] {
        var body = try KMSSecretBody.json(["KeyId": configuration.keyID, "EncryptionContext": context], plaintext: plaintext)
        defer { SecretBytes.zeroize(&body) }
        let data = try await send("Encrypt", body: body)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let blob = (object["CiphertextBlob"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            throw KeystoreError.unsealFailed("kms: Encrypt returned no ciphertext")
        }
        return Array(blob)
    }

    public func decrypt(_ ciphertext: [UInt8], context: [String: String]) async throws -> SecretBytes {
        let body = try KMSSecretBody.json(["KeyId": configuration.keyID, "CiphertextBlob": Data(ciphertext).base64EncodedString(),
                                           "EncryptionContext": context])
        guard let key = try await plaintext(of: "Decrypt", body: body) else {
            throw KeystoreError.unsealFailed("kms: Decrypt returned no plaintext")
        }
        return key
    }

    /// The `Plaintext` of an answer, read from its bytes (never parsed into a String);
    /// the answer is wiped afterwards.
    private func plaintext(of operation: String, body: [UInt8]) async throws -> SecretBytes? {
        var answer = Array(try await send(operation, body: body))
        defer { SecretBytes.zeroize(&answer) }
        return KMSSecretBody.plaintext(in: answer)
    }
}

/// The root key encrypted by a KMS key (symmetric, ENCRYPT_DECRYPT), with the binding
/// context as KMS encryption context. Disabling or deleting the KMS key, or revoking
/// the credentials, stops every unseal: the kill switch.
public struct KMSSealer: RootSealer {
    public let provider = "kms"
    public let client: KMSClient

    public init(client: KMSClient) {
        self.client = client
    }

    static func encryptionContext(_ context: [UInt8]) -> [String: String] {
        ["custos-binding": Hex.encode(SHA256.hash(data: context))]
    }

    public func prepare() async throws {
        let key = try await client.describeKey()
        guard key.state == "Enabled" else {
            throw KeystoreError.unsealFailed("kms: key \(client.configuration.keyID) is \(key.state), not Enabled")
        }
        guard key.usage.isEmpty || key.usage == "ENCRYPT_DECRYPT" else {
            throw KeystoreError.unsealFailed("kms: key \(client.configuration.keyID) has usage \(key.usage); ENCRYPT_DECRYPT is needed")
        }
    }

    /// Root key material from the KMS's own generator.
    public func newRootKey() async throws -> SecretBytes {
        try await client.generateDataKey(context: ["custos-purpose": "root-key"])
    }

    public func seal(_ rootKey: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
        try await client.encrypt(rootKey, context: Self.encryptionContext(context))
    }

    /// Checks the key's state first (a disabled or pending-deletion key is refused even
    /// by endpoints that would still decrypt), then decrypts.
    public func unseal(_ sealed: [UInt8], context: [UInt8]) async throws -> SecretBytes {
        let key = try await client.describeKey()
        guard key.state == "Enabled" else {
            throw KeystoreError.unsealFailed("kms: key \(client.configuration.keyID) is \(key.state), not Enabled")
        }
        return try await client.decrypt(sealed, context: Self.encryptionContext(context))
    }
}
