import CustosAPI
import Foundation

/// One method per operation of the API, each a thin call of its `Endpoint`.
extension CustosClient {
    public func createTenant(_ id: String) async throws -> TenantResponse {
        try await call(.createTenant, body: CreateTenantRequest(id: id))
    }

    public func tenants() async throws -> [TenantResponse] {
        try await call(.listTenants, as: TenantList.self).tenants
    }

    public func generateKey(tenant: String, _ request: GenerateKeyRequest) async throws -> KeyResponse {
        try await call(.generateKey, ["tenant": tenant], body: request)
    }

    public func importKey(tenant: String, _ request: ImportKeyRequest) async throws -> KeyResponse {
        try await call(.importKey, ["tenant": tenant], body: request)
    }

    public func listKeys(tenant: String, _ query: KeyListQuery) async throws -> KeyList {
        try await call(.listKeys, ["tenant": tenant], query: query.parameters)
    }

    public func key(tenant: String, alias: String) async throws -> KeyResponse {
        try await call(.getKey, ["tenant": tenant, "alias": alias])
    }

    public func publicKey(tenant: String, alias: String, format: String, version: Int?) async throws -> PublicKeyResponse {
        try await call(.publicKey, ["tenant": tenant, "alias": alias], query: ["format": format, "version": version.map(String.init)])
    }

    public func proofOfPossession(tenant: String, alias: String) async throws -> ProofOfPossessionResponse {
        try await call(.proofOfPossession, ["tenant": tenant, "alias": alias])
    }

    /// Rotate, disable, enable or destroy: every change of a key's state answers the key.
    public func changeState(_ change: KeyStateChange, tenant: String, alias: String) async throws -> KeyResponse {
        try await call(change.endpoint, ["tenant": tenant, "alias": alias])
    }

    public func sign(tenant: String, alias: String, _ request: SignRequest) async throws -> SignResponse {
        try await call(.sign, ["tenant": tenant, "alias": alias], body: request)
    }

    public func verify(tenant: String, alias: String, _ request: VerifyRequest) async throws -> VerifyResponse {
        try await call(.verify, ["tenant": tenant, "alias": alias], body: request)
    }

    public func encrypt(tenant: String, alias: String, _ request: EncryptRequest) async throws -> EncryptResponse {
        try await call(.encrypt, ["tenant": tenant, "alias": alias], body: request)
    }

    public func decrypt(tenant: String, alias: String, _ request: DecryptRequest) async throws -> DecryptResponse {
        try await call(.decrypt, ["tenant": tenant, "alias": alias], body: request)
    }

    public func hmac(tenant: String, alias: String, _ request: HMACRequest) async throws -> HMACResponse {
        try await call(.hmac, ["tenant": tenant, "alias": alias], body: request)
    }

    public func createToken(_ request: CreateTokenRequest) async throws -> CreatedTokenResponse {
        try await call(.createToken, body: request)
    }

    public func tokens(tenant: String?) async throws -> [TokenResponse] {
        try await call(.listTokens, query: ["tenant": tenant], as: TokenList.self).tokens
    }

    public func revokeToken(id: String) async throws -> TokenResponse {
        try await call(.revokeToken, ["id": id])
    }

    /// Audit records after sequence `after`, up to `limit`, asking page after page (the
    /// server answers at most 1000 a page); optionally only one tenant's, key's or operation's.
    public func auditRecords(after: Int64 = 0, limit: Int, tenant: String? = nil, keyID: String? = nil,
                             operation: String? = nil) async throws -> [AuditRecordResponse] {
        var records: [AuditRecordResponse] = []
        var after = after
        while records.count < limit {
            let list = try await call(.listAudit, query: [
                "after": String(after), "limit": String(min(1000, limit - records.count)), "tenant": tenant, "key_id": keyID,
                "operation": operation,
            ], as: AuditRecordList.self)
            records += list.records
            guard let next = list.next else { break }
            after = next
        }
        return records
    }

    public func verifyAudit(tenant: String?) async throws -> AuditVerifyResponse {
        try await call(.verifyAudit, query: ["tenant": tenant])
    }

    // TLS certificates and the server-wide client trust set.

    public func createCertificateAuthority(tenant: String, _ request: CreateCertificateAuthorityRequest) async throws -> CertificateResponse {
        try await call(.createCertificateAuthority, ["tenant": tenant], body: request)
    }

    public func issueCertificate(tenant: String, _ request: IssueCertificateRequest) async throws -> CertificateResponse {
        try await call(.issueCertificate, ["tenant": tenant], body: request)
    }

    public func signCertificateRequest(tenant: String, _ request: SignCertificateRequestRequest) async throws -> CertificateResponse {
        try await call(.signCertificateRequest, ["tenant": tenant], body: request)
    }

    public func certificates(tenant: String, alias: String?) async throws -> [CertificateResponse] {
        try await call(.listCertificates, ["tenant": tenant], query: ["alias": alias], as: CertificateListResponse.self).certificates
    }

    public func rotateCertificate(tenant: String, alias: String) async throws -> CertificateResponse {
        try await call(.rotateCertificate, ["tenant": tenant, "alias": alias])
    }

    public func revokeCertificate(tenant: String, _ request: RevokeCertificateRequest) async throws -> CertificateResponse {
        try await call(.revokeCertificate, ["tenant": tenant], body: request)
    }

    public func importCertificate(tenant: String, alias: String, _ request: ImportCertificateRequest) async throws -> CertificateResponse {
        try await call(.importCertificate, ["tenant": tenant, "alias": alias], body: request)
    }

    public func tlsTrust() async throws -> TLSTrustResponse {
        try await call(.tlsTrust)
    }

    public func trustPin(_ request: TrustPinRequest) async throws -> TLSTrustResponse {
        try await call(.trustPin, body: request)
    }

    public func untrustPin(_ pin: String) async throws -> TLSTrustResponse {
        try await call(.untrustPin, body: TrustPinRequest(pin: pin))
    }

    public func trustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse {
        try await call(.trustAuthority, body: request)
    }

    public func untrustAuthority(_ request: TrustAuthorityRequest) async throws -> TLSTrustResponse {
        try await call(.untrustAuthority, body: request)
    }
}

/// The replica network.
extension CustosClient {
    public func clusterStatus() async throws -> ClusterNodeStatus {
        try await call(.clusterStatus)
    }

    public func clusterLog(after: UInt64, limit: Int) async throws -> ClusterLogResponse {
        try await call(.clusterLog, query: ["after": String(after), "limit": String(limit)])
    }

    public func clusterLogExport() async throws -> ClusterLogExport {
        try await call(.clusterLogExport)
    }

    /// Entries with index ≥ `after`; with `waitMilliseconds`, a long-poll that answers as soon
    /// as there is one (or with none once the wait has passed).
    public func clusterLog(after: UInt64, limit: Int, waitMilliseconds: Int?) async throws -> ClusterLogResponse {
        try await call(.clusterLog, query: ["after": String(after), "limit": String(limit), "wait_ms": waitMilliseconds.map(String.init)])
    }

    /// Hands a signed operator command (SignedCommand bytes) to the replica, which relays it.
    public func submitClusterCommand(_ signedCommand: [UInt8]) async throws -> ClusterCommandStatus {
        try await call(.clusterSubmitCommand, body: ClusterCommandRequest(command: Base64Text.encode(signedCommand)))
    }

    public func clusterCommands() async throws -> ClusterCommandsResponse {
        try await call(.clusterCommands)
    }

    public func clusterClients() async throws -> ClusterClientsResponse {
        try await call(.clusterClients)
    }

    /// Signs `message` with a client node's active signing key.
    public func clusterClientSign(_ message: [UInt8]) async throws -> ClusterClientSignature {
        try await call(.clusterClientSign, body: ClusterClientSignRequest(message: Base64Text.encode(message)))
    }
}
