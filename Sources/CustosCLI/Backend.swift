import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What the key commands need, served either by the local keystore (a data
/// directory) or by a Custos server (`--server URL --token T`). Both give the same
/// results and the same errors (by code and message).
protocol CustosBackend: Sendable {
    func createTenant(_ id: String) async throws -> TenantInfo
    func tenants() async throws -> [TenantInfo]
    func generateKeys(_ specs: [KeySpec], progress: @escaping @Sendable (Int) -> Void) async throws -> [KeyInfo]
    func importKey(_ spec: KeySpec, privateKey: SecretBytes) async throws -> KeyInfo
    func listKeys(tenant: String, filter: KeyFilter, page: PageRequest) async throws -> (keys: [KeyInfo], nextCursor: String?)
    func key(tenant: String, alias: String) async throws -> KeyInfo
    func publicKey(tenant: String, alias: String, version: Int?) async throws -> PublicKeyExport
    func proofOfPossession(tenant: String, alias: String) async throws -> (proof: [UInt8], version: Int)
    func rotate(tenant: String, alias: String) async throws -> KeyInfo
    func disable(tenant: String, alias: String) async throws -> KeyInfo
    func enable(tenant: String, alias: String) async throws -> KeyInfo
    func destroy(tenant: String, alias: String) async throws -> KeyInfo
    func sign(tenant: String, alias: String, message: [UInt8], format: SignatureFormat?) async throws -> SignResult
    func verify(tenant: String, alias: String, message: [UInt8], signature: [UInt8], format: SignatureFormat?, version: Int?) async throws -> VerifyResult
    func encrypt(tenant: String, alias: String, plaintext: [UInt8], associatedData: [UInt8]) async throws -> [UInt8]
    func decrypt(tenant: String, alias: String, ciphertext: [UInt8], associatedData: [UInt8]) async throws -> SecretBytes
    func mac(tenant: String, alias: String, message: [UInt8]) async throws -> (mac: [UInt8], version: Int)
    func createToken(tenant: String?, role: Role, lifetime: TimeInterval, description: String?) async throws -> (info: TokenInfo, bearer: SecretBytes)
    func tokens(tenant: String?) async throws -> [TokenInfo]
    func revokeToken(id: String) async throws -> TokenInfo
    func auditRecords(_ query: AuditQuery) async throws -> [AuditRecordResponse]
    func verifyAudit(tenant: String?) async throws -> AuditVerifyResponse
    func close() async throws
}

/// The data directory, through the keystore.
struct LocalBackend: CustosBackend {
    let service: KeyService
    var tokenService: TokenService { TokenService(store: service.store, audit: service.audit) }

    func createTenant(_ id: String) async throws -> TenantInfo { try await service.createTenant(id) }
    func tenants() async throws -> [TenantInfo] { try await service.tenants() }
    func generateKeys(_ specs: [KeySpec], progress: @escaping @Sendable (Int) -> Void) async throws -> [KeyInfo] {
        try await service.generateKeys(specs, progress: progress)
    }
    func importKey(_ spec: KeySpec, privateKey: SecretBytes) async throws -> KeyInfo { try await service.importKey(spec, privateKey: privateKey) }
    func listKeys(tenant: String, filter: KeyFilter, page: PageRequest) async throws -> (keys: [KeyInfo], nextCursor: String?) {
        try await service.listKeys(tenant: tenant, filter: filter, page: page)
    }
    func key(tenant: String, alias: String) async throws -> KeyInfo { try await service.key(tenant: tenant, alias: alias) }
    func publicKey(tenant: String, alias: String, version: Int?) async throws -> PublicKeyExport {
        try await service.publicKey(tenant: tenant, alias: alias, version: version)
    }
    func proofOfPossession(tenant: String, alias: String) async throws -> (proof: [UInt8], version: Int) {
        try await service.proofOfPossession(tenant: tenant, alias: alias)
    }
    func rotate(tenant: String, alias: String) async throws -> KeyInfo { try await service.rotate(tenant: tenant, alias: alias) }
    func disable(tenant: String, alias: String) async throws -> KeyInfo { try await service.disable(tenant: tenant, alias: alias) }
    func enable(tenant: String, alias: String) async throws -> KeyInfo { try await service.enable(tenant: tenant, alias: alias) }
    func destroy(tenant: String, alias: String) async throws -> KeyInfo { try await service.destroy(tenant: tenant, alias: alias) }
    func sign(tenant: String, alias: String, message: [UInt8], format: SignatureFormat?) async throws -> SignResult {
        try await service.sign(tenant: tenant, alias: alias, message: message, format: format)
    }
    func verify(tenant: String, alias: String, message: [UInt8], signature: [UInt8], format: SignatureFormat?, version: Int?) async throws -> VerifyResult {
        try await service.verify(tenant: tenant, alias: alias, message: message, signature: signature, format: format, version: version)
    }
    func encrypt(tenant: String, alias: String, plaintext: [UInt8], associatedData: [UInt8]) async throws -> [UInt8] {
        try await service.encrypt(tenant: tenant, alias: alias, plaintext: plaintext, associatedData: associatedData)
    }
    func decrypt(tenant: String, alias: String, ciphertext: [UInt8], associatedData: [UInt8]) async throws -> SecretBytes {
        try await service.decrypt(tenant: tenant, alias: alias, ciphertext: ciphertext, associatedData: associatedData)
    }
    func mac(tenant: String, alias: String, message: [UInt8]) async throws -> (mac: [UInt8], version: Int) {
        try await service.mac(tenant: tenant, alias: alias, message: message)
    }
    func createToken(tenant: String?, role: Role, lifetime: TimeInterval, description: String?) async throws -> (info: TokenInfo, bearer: SecretBytes) {
        let created = try await tokenService.create(tenant: tenant, role: role, lifetime: lifetime, description: description)
        return (created.info, created.bearer)
    }
    func tokens(tenant: String?) async throws -> [TokenInfo] { try await tokenService.list(tenant: tenant) }
    func revokeToken(id: String) async throws -> TokenInfo { try await tokenService.revoke(id: id) }
    func auditRecords(_ query: AuditQuery) async throws -> [AuditRecordResponse] {
        try await service.store.auditRecords(query).map(AuditRecordResponse.init(record:))
    }
    func verifyAudit(tenant: String?) async throws -> AuditVerifyResponse {
        AuditVerifyResponse(result: try await service.audit.verify(tenant: tenant))
    }
    func close() async throws { try await service.close() }
}

/// An error answered by the server: its problem code and detail.
struct RemoteError: Error, CustomStringConvertible {
    var status: Int
    var code: String
    var detail: String
    var description: String { "\(detail) (\(code), HTTP \(status))" }
}

/// A Custos server, through its HTTP API (`openapi.yaml`).
struct RemoteBackend: CustosBackend {
    let base: URL
    /// The bearer token; it goes only into the Authorization header.
    let token: SecretBytes
    let session: URLSession

    init(server: String, token: SecretBytes) throws {
        guard let url = URL(string: server), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw CLIError("--server must be an http:// or https:// URL, got '\(server.prefix(100))'")
        }
        self.base = url
        self.token = token
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 120
        self.session = URLSession(configuration: configuration)
    }

    private static let encoder: JSONEncoder = { let e = JSONEncoder(); e.dateEncodingStrategy = .iso8601; return e }()
    private static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }()

    /// Path segments, each percent-encoded (an alias may hold '/' or ':').
    private func path(_ components: String...) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/:")
        return components.map { $0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0 }.joined(separator: "/")
    }

    private func call<Response: Decodable>(_ method: String, _ path: String, query: [String: String?] = [:],
                                           body: (some Encodable)? = Optional<CreateTenantRequest>.none,
                                           as: Response.Type = Response.self) async throws -> Response {
        var root = base.absoluteString
        while root.hasSuffix("/") { root.removeLast() }
        guard var components = URLComponents(string: root + "/v1/" + path) else { throw CLIError("invalid request path") }
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        if !items.isEmpty { components.queryItems = items.sorted { $0.name < $1.name } }
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        request.setValue("Bearer " + token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = try Self.encoder.encode(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw CLIError("cannot reach the Custos server at \(base.absoluteString): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            if let problem = try? Self.decoder.decode(Problem.self, from: data) {
                throw RemoteError(status: status, code: problem.code, detail: problem.detail)
            }
            throw RemoteError(status: status, code: "http-\(status)", detail: "the server answered HTTP \(status)")
        }
        do {
            return try Self.decoder.decode(Response.self, from: data)
        } catch {
            throw CLIError("unexpected response from the server for \(method) /v1/\(path)")
        }
    }

    func createTenant(_ id: String) async throws -> TenantInfo {
        try await call("POST", "tenants", body: CreateTenantRequest(id: id))
    }
    func tenants() async throws -> [TenantInfo] { try await call("GET", "tenants", as: TenantList.self).tenants }

    func generateKeys(_ specs: [KeySpec], progress: @escaping @Sendable (Int) -> Void) async throws -> [KeyInfo] {
        var created: [KeyInfo] = []
        for spec in specs {
            var rsaBits: Int?
            if case .signing(let scheme) = spec.algorithm, scheme.isRSA { rsaBits = spec.options.rsaKeySize.rawValue }
            let body = GenerateKeyRequest(alias: spec.alias, scheme: spec.algorithm.identifier, category: spec.category?.rawValue,
                                          labels: spec.labels.isEmpty ? nil : spec.labels, externalID: spec.externalID, rsaBits: rsaBits)
            created.append(try await call("POST", path("tenants", spec.tenant, "keys"), body: body))
            progress(created.count)
        }
        return created
    }

    func importKey(_ spec: KeySpec, privateKey: SecretBytes) async throws -> KeyInfo {
        // PEM travels as text, DER as base64; the request is the only copy that leaves.
        let encoded = privateKey.withUnsafeBytes { bytes -> String in
            bytes.starts(with: Array("-----BEGIN".utf8)) ? String(decoding: bytes, as: UTF8.self) : Data(bytes).base64EncodedString()
        }
        let body = ImportKeyRequest(alias: spec.alias, scheme: spec.algorithm.identifier, category: spec.category?.rawValue,
                                    labels: spec.labels.isEmpty ? nil : spec.labels, externalID: spec.externalID, privateKey: encoded)
        return try await call("POST", path("tenants", spec.tenant, "keys", "import"), body: body)
    }

    func listKeys(tenant: String, filter: KeyFilter, page: PageRequest) async throws -> (keys: [KeyInfo], nextCursor: String?) {
        let list = try await call("GET", path("tenants", tenant, "keys"), query: [
            "limit": String(page.limit), "after": page.after, "category": filter.category, "scheme": filter.scheme,
            "status": filter.status?.rawValue, "alias_prefix": filter.aliasPrefix,
        ], as: KeyList.self)
        return (list.keys, list.next)
    }

    func key(tenant: String, alias: String) async throws -> KeyInfo { try await call("GET", path("tenants", tenant, "keys", alias)) }

    func publicKey(tenant: String, alias: String, version: Int?) async throws -> PublicKeyExport {
        let info = try await key(tenant: tenant, alias: alias)
        let algorithm = try KeyAlgorithm(identifier: info.scheme)
        let format = info.scheme == SignatureScheme.bls12381Pop.rawValue ? "raw" : "der"
        let response = try await call("GET", path("tenants", tenant, "keys", alias, "public"),
                                      query: ["format": format, "version": version.map(String.init)], as: PublicKeyResponse.self)
        guard let text = response.publicKey, let bytes = Data(base64Encoded: text) else {
            throw CLIError("the server returned no public key")
        }
        return try KeyService.publicKey(der: Array(bytes), algorithm: algorithm)
    }

    func proofOfPossession(tenant: String, alias: String) async throws -> (proof: [UInt8], version: Int) {
        let response = try await call("POST", path("tenants", tenant, "keys", alias, "pop"), as: ProofOfPossessionResponse.self)
        return (Array(Data(base64Encoded: response.proofOfPossession) ?? Data()), response.version)
    }

    func rotate(tenant: String, alias: String) async throws -> KeyInfo { try await call("POST", path("tenants", tenant, "keys", alias, "rotate")) }
    func disable(tenant: String, alias: String) async throws -> KeyInfo { try await call("POST", path("tenants", tenant, "keys", alias, "disable")) }
    func enable(tenant: String, alias: String) async throws -> KeyInfo { try await call("POST", path("tenants", tenant, "keys", alias, "enable")) }
    func destroy(tenant: String, alias: String) async throws -> KeyInfo { try await call("POST", path("tenants", tenant, "keys", alias, "destroy")) }

    func sign(tenant: String, alias: String, message: [UInt8], format: SignatureFormat?) async throws -> SignResult {
        let response = try await call("POST", path("tenants", tenant, "keys", alias, "sign"),
                                      body: SignRequest(message: Data(message).base64EncodedString(), format: format?.rawValue),
                                      as: SignResponse.self)
        return SignResult(signature: Array(Data(base64Encoded: response.signature) ?? Data()), keyID: response.keyID, alias: response.alias,
                          version: response.version, scheme: response.scheme, format: response.format)
    }

    func verify(tenant: String, alias: String, message: [UInt8], signature: [UInt8], format: SignatureFormat?, version: Int?) async throws -> VerifyResult {
        let response = try await call("POST", path("tenants", tenant, "keys", alias, "verify"),
                                      body: VerifyRequest(message: Data(message).base64EncodedString(), signature: Data(signature).base64EncodedString(),
                                                          format: format?.rawValue, version: version),
                                      as: VerifyResponse.self)
        return VerifyResult(valid: response.valid, version: response.version)
    }

    func encrypt(tenant: String, alias: String, plaintext: [UInt8], associatedData: [UInt8]) async throws -> [UInt8] {
        let response = try await call("POST", path("tenants", tenant, "keys", alias, "encrypt"),
                                      body: EncryptRequest(plaintext: Data(plaintext).base64EncodedString(),
                                                           associatedData: associatedData.isEmpty ? nil : Data(associatedData).base64EncodedString()),
                                      as: EncryptResponse.self)
        return Array(Data(base64Encoded: response.ciphertext) ?? Data())
    }

    func decrypt(tenant: String, alias: String, ciphertext: [UInt8], associatedData: [UInt8]) async throws -> SecretBytes {
        let response = try await call("POST", path("tenants", tenant, "keys", alias, "decrypt"),
                                      body: DecryptRequest(ciphertext: Data(ciphertext).base64EncodedString(),
                                                           associatedData: associatedData.isEmpty ? nil : Data(associatedData).base64EncodedString()),
                                      as: DecryptResponse.self)
        return SecretBytes(Data(base64Encoded: response.plaintext) ?? Data())
    }

    func mac(tenant: String, alias: String, message: [UInt8]) async throws -> (mac: [UInt8], version: Int) {
        let response = try await call("POST", path("tenants", tenant, "keys", alias, "hmac"),
                                      body: HMACRequest(message: Data(message).base64EncodedString()), as: HMACResponse.self)
        return (Array(Data(base64Encoded: response.mac ?? "") ?? Data()), response.version ?? 0)
    }

    func createToken(tenant: String?, role: Role, lifetime: TimeInterval, description: String?) async throws -> (info: TokenInfo, bearer: SecretBytes) {
        let response = try await call("POST", "tokens", body: CreateTokenRequest(tenant: tenant, role: role.rawValue, ttlSeconds: Int(lifetime.rounded()),
                                                                                 description: description), as: CreatedTokenResponse.self)
        return (response.token, SecretBytes(Array(response.bearer.utf8)))
    }

    func tokens(tenant: String?) async throws -> [TokenInfo] {
        try await call("GET", "tokens", query: ["tenant": tenant], as: TokenList.self).tokens
    }

    func revokeToken(id: String) async throws -> TokenInfo { try await call("POST", path("tokens", id, "revoke")) }

    func auditRecords(_ query: AuditQuery) async throws -> [AuditRecordResponse] {
        var records: [AuditRecordResponse] = []
        var after = query.after
        // The server pages by at most 1000; keep asking until the limit is reached.
        while records.count < query.limit {
            let page = try await call("GET", "audit", query: [
                "after": String(after), "limit": String(min(1000, query.limit - records.count)), "tenant": query.tenantID,
                "key_id": query.keyID, "operation": query.operation,
            ], as: AuditRecordList.self)
            records += page.records
            guard let next = page.next else { break }
            after = next
        }
        return records
    }

    func verifyAudit(tenant: String?) async throws -> AuditVerifyResponse {
        try await call("POST", "audit/verify", query: ["tenant": tenant], as: AuditVerifyResponse.self)
    }

    func close() async throws { session.finishTasksAndInvalidate() }
}
