import CustosAPI
import CustosClient
import CustosCrypto
import CustosJSON
import CustosKeystore
import CustosPKI
import CustosServer
import CustosStore
import Foundation

/// What the commands need, in the API's own wire types, served either by the local
/// keystore (a data directory) or by a Custos server (`--server URL --token T`).
/// Both give the same bodies and the same errors (by code and message); the local
/// one builds its bodies with the server's own mapping.
protocol CustosBackend: Sendable {
    func createTenant(_ id: String) async throws -> TenantResponse
    func tenants() async throws -> [TenantResponse]
    func generateKeys(tenant: String, _ requests: [GenerateKeyRequest], progress: @escaping @Sendable (Int) -> Void) async throws -> [KeyResponse]
    func importKey(tenant: String, _ request: GenerateKeyRequest, privateKey: SecretBytes) async throws -> KeyResponse
    func listKeys(tenant: String, _ query: KeyListQuery) async throws -> KeyList
    func key(tenant: String, alias: String) async throws -> KeyResponse
    func publicKey(tenant: String, alias: String, format: String, version: Int?) async throws -> PublicKeyResponse
    func proofOfPossession(tenant: String, alias: String) async throws -> ProofOfPossessionResponse
    func changeState(_ change: KeyStateChange, tenant: String, alias: String) async throws -> KeyResponse
    func sign(tenant: String, alias: String, message: [UInt8], format: String?) async throws -> SignResponse
    func verify(tenant: String, alias: String, message: [UInt8], signature: [UInt8], format: String?, version: Int?) async throws -> VerifyResponse
    func encrypt(tenant: String, alias: String, plaintext: [UInt8], associatedData: [UInt8]) async throws -> [UInt8]
    func decrypt(tenant: String, alias: String, ciphertext: [UInt8], associatedData: [UInt8]) async throws -> SecretBytes
    func mac(tenant: String, alias: String, message: [UInt8]) async throws -> (mac: [UInt8], version: Int)
    func createToken(_ request: CreateTokenRequest) async throws -> (token: TokenResponse, bearer: SecretBytes)
    func tokens(tenant: String?) async throws -> [TokenResponse]
    func revokeToken(id: String) async throws -> TokenResponse
    func auditRecords(after: Int64, limit: Int, tenant: String?, operation: String?) async throws -> [AuditRecordResponse]
    func verifyAudit(tenant: String?) async throws -> AuditVerifyResponse
    func createCertificateAuthority(tenant: String, _ request: CreateCertificateAuthorityRequest) async throws -> CertificateResponse
    func issueCertificate(tenant: String, _ request: IssueCertificateRequest) async throws -> CertificateResponse
    func signCertificateRequest(tenant: String, _ request: SignCertificateRequestRequest) async throws -> CertificateResponse
    func importCertificate(tenant: String, alias: String, _ request: ImportCertificateRequest) async throws -> CertificateResponse
    func certificates(tenant: String, alias: String?) async throws -> [CertificateResponse]
    func rotateCertificate(tenant: String, alias: String) async throws -> CertificateResponse
    func revokeCertificate(tenant: String, _ request: RevokeCertificateRequest) async throws -> CertificateResponse
    func tlsTrust() async throws -> TLSTrustResponse
    func trustPin(_ request: TrustPinRequest) async throws -> TLSTrustResponse
    func untrustPin(_ pin: String) async throws -> TLSTrustResponse
    func trustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse
    func untrustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse
    func clusterStatus() async throws -> ClusterNodeStatus
    func clusterLog(after: UInt64, limit: Int) async throws -> ClusterLogResponse
    func clusterLogExport() async throws -> ClusterLogExport
    /// One of `Endpoint.ethereum`, with exact JSON bodies (`EthereumOperations`).
    func ethereum(_ endpoint: Endpoint, tenant: String, account: String?, body: JSONValue?) async throws -> JSONValue
    func close() async throws
}

/// The data directory, through the keystore.
struct LocalBackend: CustosBackend {
    let service: KeyService
    /// Whoever runs `custos` on the data directory holds its root of trust already.
    let principal = Principal.local
    var tokenService: TokenService { TokenService(store: service.store, audit: service.audit) }

    private func cluster() async throws -> LocalCluster {
        guard let cluster = try await LocalCluster.open(service) else {
            throw CLIError("this data directory has not joined a replica network (custos cluster join)")
        }
        return cluster
    }
    func clusterStatus() async throws -> ClusterNodeStatus { .replica(try await cluster().status()) }
    func clusterLog(after: UInt64, limit: Int) async throws -> ClusterLogResponse { try await cluster().log(after: after, limit: limit) }
    func clusterLogExport() async throws -> ClusterLogExport { try await cluster().export() }

    func createTenant(_ id: String) async throws -> TenantResponse { TenantResponse(try await service.createTenant(try TenantID(validating: id), by: principal)) }
    func tenants() async throws -> [TenantResponse] { try await service.tenants(by: principal).map(TenantResponse.init) }
    func generateKeys(tenant: String, _ requests: [GenerateKeyRequest], progress: @escaping @Sendable (Int) -> Void) async throws -> [KeyResponse] {
        let specs = try requests.map { try KeySpec(tenant: try TenantID(validating: tenant), $0) }
        return try await service.generateKeys(specs, by: principal, progress: progress).map(KeyResponse.init)
    }
    func importKey(tenant: String, _ request: GenerateKeyRequest, privateKey: SecretBytes) async throws -> KeyResponse {
        KeyResponse(try await service.importKey(try KeySpec(tenant: try TenantID(validating: tenant), request), privateKey: privateKey, by: principal))
    }
    func listKeys(tenant: String, _ query: KeyListQuery) async throws -> KeyList {
        let page = try await service.listKeys(tenant: try TenantID(validating: tenant), filter: try KeyFilter(query), page: PageRequest(limit: query.limit, after: query.after),
                                              by: principal)
        return KeyList(keys: page.keys.map(KeyResponse.init), next: page.nextCursor)
    }
    func key(tenant: String, alias: String) async throws -> KeyResponse { KeyResponse(try await service.key(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: principal)) }
    func publicKey(tenant: String, alias: String, format: String, version: Int?) async throws -> PublicKeyResponse {
        let info = try await service.key(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: principal)
        let export = try await service.publicKey(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), version: version, by: principal)
        return try PublicKeyResponse(export, of: info, version: version ?? info.primaryVersion, format: format)
    }
    func proofOfPossession(tenant: String, alias: String) async throws -> ProofOfPossessionResponse {
        let proof = try await service.proofOfPossession(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: principal)
        let export = try await service.publicKey(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), version: proof.version, by: principal)
        return ProofOfPossessionResponse(alias: alias, version: proof.version, publicKey: Data(export.encodedRepresentation).base64EncodedString(),
                                         proofOfPossession: Data(proof.proof).base64EncodedString())
    }
    func changeState(_ change: KeyStateChange, tenant: String, alias: String) async throws -> KeyResponse {
        KeyResponse(try await service.changeState(change, tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: principal))
    }
    func sign(tenant: String, alias: String, message: [UInt8], format: String?) async throws -> SignResponse {
        SignResponse(try await service.sign(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), message: message, format: try SignatureFormat.parse(format), by: principal))
    }
    func verify(tenant: String, alias: String, message: [UInt8], signature: [UInt8], format: String?, version: Int?) async throws -> VerifyResponse {
        VerifyResponse(try await service.verify(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), message: message, signature: signature,
                                                format: try SignatureFormat.parse(format), version: version, by: principal))
    }
    func encrypt(tenant: String, alias: String, plaintext: [UInt8], associatedData: [UInt8]) async throws -> [UInt8] {
        try await service.encrypt(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), plaintext: plaintext, associatedData: associatedData, by: principal)
    }
    func decrypt(tenant: String, alias: String, ciphertext: [UInt8], associatedData: [UInt8]) async throws -> SecretBytes {
        try await service.decrypt(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), ciphertext: ciphertext, associatedData: associatedData, by: principal)
    }
    func mac(tenant: String, alias: String, message: [UInt8]) async throws -> (mac: [UInt8], version: Int) {
        try await service.mac(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), message: message, by: principal)
    }
    func createToken(_ request: CreateTokenRequest) async throws -> (token: TokenResponse, bearer: SecretBytes) {
        guard let role = Role(rawValue: request.role) else { throw CLIError("--role must be admin, operator, signer, auditor or node") }
        let created = try await tokenService.create(tenant: try request.tenant.map { try TenantID(validating: $0) }, role: role, lifetime: TimeInterval(request.ttlSeconds),
                                                    description: request.description, by: principal)
        return (TokenResponse(created.info), created.bearer)
    }
    func tokens(tenant: String?) async throws -> [TokenResponse] { try await tokenService.list(tenant: try tenant.map { try TenantID(validating: $0) }, by: principal).map(TokenResponse.init) }
    func revokeToken(id: String) async throws -> TokenResponse { TokenResponse(try await tokenService.revoke(id: id, by: principal)) }
    func auditRecords(after: Int64, limit: Int, tenant: String?, operation: String?) async throws -> [AuditRecordResponse] {
        try await service.store.auditRecords(AuditQuery(after: after, limit: limit, tenantID: tenant, operation: operation))
            .map(AuditRecordResponse.init(record:))
    }
    func verifyAudit(tenant: String?) async throws -> AuditVerifyResponse {
        let result = try await service.audit.verify(tenant: tenant)
        try await service.audit.recordVerification(result, actor: Principal.local.id, tenant: tenant)
        return AuditVerifyResponse(result: result)
    }
    func ethereum(_ endpoint: Endpoint, tenant: String, account: String?, body: JSONValue?) async throws -> JSONValue {
        try await EthereumOperations(keys: service).perform(endpoint, tenant: try TenantID(validating: tenant), account: account, body: body, by: principal)
    }
    func close() async throws {
        await signAuditHead(service)
        try await service.close()
    }
}

/// A Custos server, through `CustosClient`; binary values travel as base64, and one
/// that is not base64 is an error naming its field.
struct RemoteBackend: CustosBackend {
    let client: CustosClient

    func clusterStatus() async throws -> ClusterNodeStatus { try await client.clusterStatus() }
    func clusterLog(after: UInt64, limit: Int) async throws -> ClusterLogResponse { try await client.clusterLog(after: after, limit: limit) }
    func clusterLogExport() async throws -> ClusterLogExport { try await client.clusterLogExport() }

    func createTenant(_ id: String) async throws -> TenantResponse { try await client.createTenant(id) }
    func tenants() async throws -> [TenantResponse] { try await client.tenants() }
    func generateKeys(tenant: String, _ requests: [GenerateKeyRequest], progress: @escaping @Sendable (Int) -> Void) async throws -> [KeyResponse] {
        var created: [KeyResponse] = []
        for request in requests {
            created.append(try await client.generateKey(tenant: tenant, request))
            progress(created.count)
        }
        return created
    }
    func importKey(tenant: String, _ request: GenerateKeyRequest, privateKey: SecretBytes) async throws -> KeyResponse {
        // PEM travels as text, DER as base64; the request is the only copy that leaves.
        let encoded = privateKey.withUnsafeBytes { bytes -> String in
            bytes.starts(with: Array("-----BEGIN".utf8)) ? String(decoding: bytes, as: UTF8.self) : Data(bytes).base64EncodedString()
        }
        return try await client.importKey(tenant: tenant, ImportKeyRequest(alias: request.alias, scheme: request.scheme, category: request.category,
                                                                            labels: request.labels, externalID: request.externalID, privateKey: encoded))
    }
    func listKeys(tenant: String, _ query: KeyListQuery) async throws -> KeyList { try await client.listKeys(tenant: tenant, query) }
    func key(tenant: String, alias: String) async throws -> KeyResponse { try await client.key(tenant: tenant, alias: alias) }
    func publicKey(tenant: String, alias: String, format: String, version: Int?) async throws -> PublicKeyResponse {
        try await client.publicKey(tenant: tenant, alias: alias, format: format, version: version)
    }
    func proofOfPossession(tenant: String, alias: String) async throws -> ProofOfPossessionResponse {
        try await client.proofOfPossession(tenant: tenant, alias: alias)
    }
    func changeState(_ change: KeyStateChange, tenant: String, alias: String) async throws -> KeyResponse {
        try await client.changeState(change, tenant: tenant, alias: alias)
    }
    func sign(tenant: String, alias: String, message: [UInt8], format: String?) async throws -> SignResponse {
        try await client.sign(tenant: tenant, alias: alias, SignRequest(message: Data(message).base64EncodedString(), format: format))
    }
    func verify(tenant: String, alias: String, message: [UInt8], signature: [UInt8], format: String?, version: Int?) async throws -> VerifyResponse {
        try await client.verify(tenant: tenant, alias: alias, VerifyRequest(message: Data(message).base64EncodedString(),
                                                                            signature: Data(signature).base64EncodedString(), format: format, version: version))
    }
    func encrypt(tenant: String, alias: String, plaintext: [UInt8], associatedData: [UInt8]) async throws -> [UInt8] {
        let response = try await client.encrypt(tenant: tenant, alias: alias, EncryptRequest(
            plaintext: Data(plaintext).base64EncodedString(), associatedData: associatedData.isEmpty ? nil : Data(associatedData).base64EncodedString()))
        return try CustosClient.bytes(response.ciphertext, field: "ciphertext")
    }
    func decrypt(tenant: String, alias: String, ciphertext: [UInt8], associatedData: [UInt8]) async throws -> SecretBytes {
        let response = try await client.decrypt(tenant: tenant, alias: alias, DecryptRequest(
            ciphertext: Data(ciphertext).base64EncodedString(), associatedData: associatedData.isEmpty ? nil : Data(associatedData).base64EncodedString()))
        var plaintext = try CustosClient.bytes(response.plaintext, field: "plaintext")
        defer { SecretBytes.zeroize(&plaintext) }
        return SecretBytes(plaintext)
    }
    func mac(tenant: String, alias: String, message: [UInt8]) async throws -> (mac: [UInt8], version: Int) {
        let response = try await client.hmac(tenant: tenant, alias: alias, HMACRequest(message: Data(message).base64EncodedString()))
        guard let version = response.version else { throw CustosClientError.malformedResponse("the field 'version' is missing") }
        return (try CustosClient.bytes(response.mac, field: "mac"), version)
    }
    func createToken(_ request: CreateTokenRequest) async throws -> (token: TokenResponse, bearer: SecretBytes) {
        let response = try await client.createToken(request)
        return (response.token, SecretBytes(Array(response.bearer.utf8)))
    }
    func tokens(tenant: String?) async throws -> [TokenResponse] { try await client.tokens(tenant: tenant) }
    func revokeToken(id: String) async throws -> TokenResponse { try await client.revokeToken(id: id) }
    func auditRecords(after: Int64, limit: Int, tenant: String?, operation: String?) async throws -> [AuditRecordResponse] {
        try await client.auditRecords(after: after, limit: limit, tenant: tenant, operation: operation)
    }
    func verifyAudit(tenant: String?) async throws -> AuditVerifyResponse { try await client.verifyAudit(tenant: tenant) }
    func ethereum(_ endpoint: Endpoint, tenant: String, account: String?, body: JSONValue?) async throws -> JSONValue {
        var parameters = ["tenant": tenant]
        if let account { parameters["account"] = account }
        let answer = try await client.callRaw(endpoint, parameters, body: body.map { Array($0.text.utf8) })
        do {
            return try JSONValue.parse(answer)
        } catch {
            throw CustosClientError.malformedResponse("\(endpoint): \(error)")
        }
    }
    func close() async throws { client.close() }
}

// MARK: TLS certificates and the trust set, locally

extension LocalBackend {
    func createCertificateAuthority(tenant: String, _ request: CreateCertificateAuthorityRequest) async throws -> CertificateResponse {
        let tenant = try TenantID(validating: tenant)
        let spec = try await service.auditedArguments(.tlsCACreate, tenant: tenant, by: principal) { try CertificateAuthoritySpec(tenant: tenant, request) }
        return CertificateResponse(try await service.createCertificateAuthority(spec, by: principal))
    }
    func issueCertificate(tenant: String, _ request: IssueCertificateRequest) async throws -> CertificateResponse {
        let tenant = try TenantID(validating: tenant)
        let spec = try await service.auditedArguments(.tlsIssue, tenant: tenant, by: principal) { try CertificateSpec(tenant: tenant, request) }
        return CertificateResponse(try await service.issueCertificate(spec, by: principal))
    }
    func signCertificateRequest(tenant: String, _ request: SignCertificateRequestRequest) async throws -> CertificateResponse {
        let tenant = try TenantID(validating: tenant)
        let (issuer, csr, usage) = try await service.auditedArguments(.tlsSignCSR, tenant: tenant, by: principal) {
            (try KeyAlias(validating: request.issuer), try EncodedObject.bytes(request.csr, field: "csr"), try CertificateUsage(option: request.usage))
        }
        return CertificateResponse(try await service.signCertificateRequest(tenant: tenant, issuer: issuer, csr: csr, days: request.days, usage: usage, by: principal))
    }
    func importCertificate(tenant: String, alias: String, _ request: ImportCertificateRequest) async throws -> CertificateResponse {
        let tenant = try TenantID(validating: tenant)
        let der = try await service.auditedArguments(.tlsImport, tenant: tenant, by: principal) { try EncodedObject.bytes(request.certificate, field: "certificate") }
        return CertificateResponse(try await service.importCertificate(tenant: tenant, alias: try KeyAlias(validating: alias), certificate: der, by: principal))
    }
    func certificates(tenant: String, alias: String?) async throws -> [CertificateResponse] {
        CertificateListResponse(try await service.certificates(tenant: try TenantID(validating: tenant), alias: try alias.map(KeyAlias.init(validating:)),
                                                               by: principal)).certificates
    }
    func rotateCertificate(tenant: String, alias: String) async throws -> CertificateResponse {
        CertificateResponse(try await service.rotateTLSKey(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: principal))
    }
    func revokeCertificate(tenant: String, _ request: RevokeCertificateRequest) async throws -> CertificateResponse {
        CertificateResponse(try await service.revokeCertificate(tenant: try TenantID(validating: tenant), request, by: principal))
    }
    func tlsTrust() async throws -> TLSTrustResponse { TLSTrustResponse(try await service.tlsTrust(by: principal)) }
    func trustPin(_ request: TrustPinRequest) async throws -> TLSTrustResponse {
        try await service.trustClientPin(try Self.pin(request.pin), label: request.label, by: principal)
        return try await tlsTrust()
    }
    func untrustPin(_ pin: String) async throws -> TLSTrustResponse {
        try await service.untrustClientPin(try Self.pin(pin), by: principal)
        return try await tlsTrust()
    }
    func trustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse {
        try await service.trustCertificateAuthority(tenant: try TenantID(validating: request.tenant), alias: try KeyAlias(validating: request.alias), by: principal)
        return try await tlsTrust()
    }
    func untrustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse {
        try await service.untrustCertificateAuthority(tenant: try TenantID(validating: request.tenant), alias: try KeyAlias(validating: request.alias), by: principal)
        return try await tlsTrust()
    }

    private static func pin(_ text: String) throws -> PublicKeyPin {
        do { return try PublicKeyPin(parsing: text) } catch let error as PKIError { throw KeystoreError.certificate(error) }
    }
}

// MARK: TLS certificates and the trust set, through a server

extension RemoteBackend {
    func createCertificateAuthority(tenant: String, _ request: CreateCertificateAuthorityRequest) async throws -> CertificateResponse {
        try await client.createCertificateAuthority(tenant: tenant, request)
    }
    func issueCertificate(tenant: String, _ request: IssueCertificateRequest) async throws -> CertificateResponse {
        try await client.issueCertificate(tenant: tenant, request)
    }
    func signCertificateRequest(tenant: String, _ request: SignCertificateRequestRequest) async throws -> CertificateResponse {
        try await client.signCertificateRequest(tenant: tenant, request)
    }
    func importCertificate(tenant: String, alias: String, _ request: ImportCertificateRequest) async throws -> CertificateResponse {
        try await client.importCertificate(tenant: tenant, alias: alias, request)
    }
    func certificates(tenant: String, alias: String?) async throws -> [CertificateResponse] { try await client.certificates(tenant: tenant, alias: alias) }
    func rotateCertificate(tenant: String, alias: String) async throws -> CertificateResponse { try await client.rotateCertificate(tenant: tenant, alias: alias) }
    func revokeCertificate(tenant: String, _ request: RevokeCertificateRequest) async throws -> CertificateResponse {
        try await client.revokeCertificate(tenant: tenant, request)
    }
    func tlsTrust() async throws -> TLSTrustResponse { try await client.tlsTrust() }
    func trustPin(_ request: TrustPinRequest) async throws -> TLSTrustResponse { try await client.trustPin(request) }
    func untrustPin(_ pin: String) async throws -> TLSTrustResponse { try await client.untrustPin(pin) }
    func trustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse { try await client.trustAuthority(request) }
    func untrustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse { try await client.untrustAuthority(request) }
}
