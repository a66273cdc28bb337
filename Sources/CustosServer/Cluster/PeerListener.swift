import CustosCluster
import CustosPKI
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// The request context of the peer listener: the connection, so that the handler can read the
/// client certificate the handshake accepted.
struct PeerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The second listener (`cluster.peer_listen`): mutual TLS 1.3 only, the server certificate from
/// this replica's current TLS key, client certificates accepted only by a replica's or a client
/// node's pin. It serves one route, `POST /v1/cluster/peer`: CBOR in (at most 64 KiB), CBOR out,
/// answered by `handler` with the node the caller's pin names (the engine refuses a client the
/// requests that are the replicas' alone).
struct PeerListener: Sendable {
    typealias Handler = @Sendable (_ request: [UInt8], _ from: NodeRef) async throws -> [UInt8]

    static let path = "/v1/cluster/peer"
    static let maxBodyBytes = 64 * 1024
    /// Peers are few; a handful of connections each is plenty (a long-polling client holds one).
    static let maxConnections = 256
    static let maxConnectionsPerAddress = 64

    let host: String
    let port: Int
    let tls: PeerTLS
    let handler: Handler
    let logger: Logger

    func router() -> Router<PeerRequestContext> {
        let router = Router(context: PeerRequestContext.self)
        let directory = tls.directory, handler = self.handler, logger = self.logger
        router.post(RouterPath(Self.path)) { request, context -> Response in
            // The handshake accepted only listed pins; the table may have changed since.
            guard let certificate = try await context.channel.nioSSL_peerCertificate().get(),
                  let pin = try? PublicKeyPin(certificateDER: try certificate.toDERBytes()),
                  let caller = directory.node(presenting: pin) else {
                return Self.error(.forbidden, "the client certificate is not a replica's or a client node's")
            }
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: Self.maxBodyBytes)
            } catch is NIOTooManyBytesError {
                return Self.error(.contentTooLarge, "a peer request is at most \(Self.maxBodyBytes) bytes")
            }
            do {
                let answer = try await handler(Array(body.readableBytesView), caller)
                return Response(status: .ok, headers: [.contentType: "application/cbor"], body: .init(byteBuffer: ByteBuffer(bytes: answer)))
            } catch {
                // The engine's errors name the cause and carry no secret.
                logger.debug("peer request refused", metadata: ["peer": "\(caller)", "error": "\(error)"])
                return Self.error(.unprocessableContent, "\(error)")
            }
        }
        return router
    }

    static func error(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: reason)))
    }

    /// The Hummingbird application to run as a service; `onRunning` gets the bound port.
    func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let holder = tls.server
        let limiter = ConnectionLimiter(maximum: Self.maxConnections, perAddress: Self.maxConnectionsPerAddress)
        let http = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestHeadTimeout(header: .seconds(10), idle: .seconds(60))],
                                              idleTimeout: .seconds(60))
        return Application(
            router: router(),
            server: HTTPServerBuilder {
                GuardedChildChannel(base: ReloadableTLSChannel(base: HTTP1Channel(responder: $0, configuration: http), holder: holder), limiter: limiter)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { await onRunning($0.localAddress?.port ?? 0) },
            logger: logger)
    }
}
