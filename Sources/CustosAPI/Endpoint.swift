import Foundation

/// One operation of the HTTP API: its method and path under `/v1`, with `:name`
/// segments for path parameters. The server registers its routes from these and the
/// client builds its requests from them, so a path is spelled once (and
/// `openapi.yaml` is checked against `Endpoint.all` by the tests).
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }

    public let method: Method
    /// Relative to `/v1`, e.g. `tenants/:tenant/keys/:alias/sign`.
    public let template: String

    init(_ method: Method, _ template: String) {
        self.method = method
        self.template = template
    }

    public var description: String { "\(method.rawValue) /v1/\(template)" }

    /// The names of the path parameters, in order.
    public var parameters: [String] {
        template.split(separator: "/").filter { $0.hasPrefix(":") }.map { String($0.dropFirst()) }
    }

    /// The path with each parameter filled in and percent-encoded (an alias may hold
    /// '/' or ':'), relative to `/v1`.
    public func path(_ values: [String: String] = [:]) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/:")
        return template.split(separator: "/").map { segment -> String in
            guard segment.hasPrefix(":") else { return String(segment) }
            let value = values[String(segment.dropFirst())] ?? ""
            return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
        }.joined(separator: "/")
    }

    public func path(tenant: String) -> String { path(["tenant": tenant]) }
    public func path(tenant: String, alias: String) -> String { path(["tenant": tenant, "alias": alias]) }

    // MARK: The API

    public static let healthLive = Endpoint(.get, "health/live")
    public static let healthReady = Endpoint(.get, "health/ready")

    public static let createTenant = Endpoint(.post, "tenants")
    public static let listTenants = Endpoint(.get, "tenants")

    public static let generateKey = Endpoint(.post, "tenants/:tenant/keys")
    public static let listKeys = Endpoint(.get, "tenants/:tenant/keys")
    public static let importKey = Endpoint(.post, "tenants/:tenant/keys/import")
    public static let getKey = Endpoint(.get, "tenants/:tenant/keys/:alias")
    public static let publicKey = Endpoint(.get, "tenants/:tenant/keys/:alias/public")
    public static let proofOfPossession = Endpoint(.post, "tenants/:tenant/keys/:alias/pop")
    public static let rotateKey = Endpoint(.post, "tenants/:tenant/keys/:alias/rotate")
    public static let disableKey = Endpoint(.post, "tenants/:tenant/keys/:alias/disable")
    public static let enableKey = Endpoint(.post, "tenants/:tenant/keys/:alias/enable")
    public static let destroyKey = Endpoint(.post, "tenants/:tenant/keys/:alias/destroy")

    public static let sign = Endpoint(.post, "tenants/:tenant/keys/:alias/sign")
    public static let verify = Endpoint(.post, "tenants/:tenant/keys/:alias/verify")
    public static let encrypt = Endpoint(.post, "tenants/:tenant/keys/:alias/encrypt")
    public static let decrypt = Endpoint(.post, "tenants/:tenant/keys/:alias/decrypt")
    public static let hmac = Endpoint(.post, "tenants/:tenant/keys/:alias/hmac")
    public static let signBatch = Endpoint(.post, "tenants/:tenant/sign")
    public static let verifyBatch = Endpoint(.post, "tenants/:tenant/verify")

    public static let ethAccounts = Endpoint(.get, "tenants/:tenant/eth/accounts")
    public static let ethAccount = Endpoint(.get, "tenants/:tenant/eth/accounts/:account")
    public static let ethSignTransaction = Endpoint(.post, "tenants/:tenant/eth/accounts/:account/sign-transaction")
    public static let ethSignMessage = Endpoint(.post, "tenants/:tenant/eth/accounts/:account/sign-message")
    public static let ethSignTypedData = Endpoint(.post, "tenants/:tenant/eth/accounts/:account/sign-typed-data")
    public static let ethSetPolicy = Endpoint(.post, "tenants/:tenant/eth/accounts/:account/policy")
    public static let ethSetNonce = Endpoint(.post, "tenants/:tenant/eth/accounts/:account/nonce")
    public static let ethChain = Endpoint(.get, "tenants/:tenant/eth/chain")
    public static let ethSetChain = Endpoint(.post, "tenants/:tenant/eth/chain")
    public static let ethDecodeTransaction = Endpoint(.post, "tenants/:tenant/eth/decode-transaction")
    public static let ethRecover = Endpoint(.post, "tenants/:tenant/eth/recover")
    /// JSON-RPC 2.0 for web3 tooling: eth_accounts, eth_chainId, eth_sign, personal_sign,
    /// eth_signTransaction, eth_signTypedData(_v4).
    public static let ethRPC = Endpoint(.post, "tenants/:tenant/eth")

    /// The Ethereum endpoints, all answered by `EthereumOperations` but the JSON-RPC one.
    public static let ethereum: [Endpoint] = [
        ethAccounts, ethAccount, ethSignTransaction, ethSignMessage, ethSignTypedData, ethSetPolicy, ethSetNonce,
        ethChain, ethSetChain, ethDecodeTransaction, ethRecover,
    ]

    public static let createCertificateAuthority = Endpoint(.post, "tenants/:tenant/tls/authorities")
    public static let issueCertificate = Endpoint(.post, "tenants/:tenant/tls/certificates")
    public static let listCertificates = Endpoint(.get, "tenants/:tenant/tls/certificates")
    public static let signCertificateRequest = Endpoint(.post, "tenants/:tenant/tls/csr")
    public static let rotateCertificate = Endpoint(.post, "tenants/:tenant/tls/certificates/:alias/rotate")
    public static let importCertificate = Endpoint(.post, "tenants/:tenant/tls/certificates/:alias/import")
    public static let revokeCertificate = Endpoint(.post, "tenants/:tenant/tls/revoke")
    public static let tlsTrust = Endpoint(.get, "tls/trust")
    public static let trustPin = Endpoint(.post, "tls/trust/pins")
    public static let untrustPin = Endpoint(.post, "tls/trust/pins/remove")
    public static let trustAuthority = Endpoint(.post, "tls/trust/authorities")
    public static let untrustAuthority = Endpoint(.post, "tls/trust/authorities/remove")

    public static let createToken = Endpoint(.post, "tokens")
    public static let listTokens = Endpoint(.get, "tokens")
    public static let revokeToken = Endpoint(.post, "tokens/:id/revoke")

    public static let listAudit = Endpoint(.get, "audit")
    public static let verifyAudit = Endpoint(.post, "audit/verify")

    public static let clusterStatus = Endpoint(.get, "cluster/status")
    public static let clusterCertified = Endpoint(.get, "cluster/certified")
    public static let clusterSchedule = Endpoint(.post, "cluster/schedule")
    public static let clusterCheckpoint = Endpoint(.post, "cluster/checkpoints")
    public static let clusterStableCheckpoint = Endpoint(.get, "cluster/checkpoints/:boundary")
    public static let clusterShare = Endpoint(.post, "cluster/shares")
    public static let clusterCombine = Endpoint(.post, "cluster/shares/combine")
    public static let clusterVerify = Endpoint(.post, "cluster/shares/verify")
    public static let clusterLog = Endpoint(.get, "cluster/log")
    public static let clusterLogExport = Endpoint(.get, "cluster/log/export")
    public static let clusterSubmitCommand = Endpoint(.post, "cluster/commands")
    public static let clusterCommands = Endpoint(.get, "cluster/commands")
    public static let clusterClients = Endpoint(.get, "cluster/clients")
    public static let clusterClientSign = Endpoint(.post, "cluster/client/sign")

    /// Every endpoint under `/v1` (the Prometheus `/metrics` route is not part of it).
    public static let all: [Endpoint] = [
        healthLive, healthReady, createTenant, listTenants, generateKey, listKeys, importKey, getKey, publicKey,
        proofOfPossession, rotateKey, disableKey, enableKey, destroyKey, sign, verify, encrypt, decrypt, hmac,
        signBatch, verifyBatch,
    ] + ethereum + [ethRPC] + [
        createCertificateAuthority, issueCertificate, listCertificates, signCertificateRequest,
        rotateCertificate, importCertificate, revokeCertificate, tlsTrust, trustPin, untrustPin, trustAuthority, untrustAuthority, createToken, listTokens, revokeToken, listAudit, verifyAudit,
        clusterStatus, clusterCertified, clusterSchedule, clusterCheckpoint, clusterStableCheckpoint, clusterShare, clusterCombine,
        clusterVerify, clusterLog, clusterLogExport, clusterSubmitCommand, clusterCommands, clusterClients, clusterClientSign,
    ]
}
