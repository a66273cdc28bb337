import CustosCluster
import CustosJSON
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// `PeerTransport` over HTTP/1.1 and mutual TLS 1.3: the client certificate is this replica's
/// current TLS key (signing in the keystore), and the server is accepted only when its key is one
/// of the pins listed for the replica called. One connection per call; each call is bounded in
/// time (connect, handshake, request and response together) and in response size.
struct PinnedPeerClient: PeerTransport {
    let tls: PeerTLS
    var timeout: Duration = .seconds(5)
    var maxResponseBytes = 4 << 20
    var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    func send(_ request: [UInt8], to peer: ReplicaID) async throws -> [UInt8] {
        guard let entry = tls.directory.peer(peer) else { throw PeerTransportError.unknownPeer(peer) }
        let address = try PeerAddress(parsing: entry.address)
        guard let context = tls.clientContext else { throw PeerTransportError.noIdentity }
        let verification = tls.clientVerification(for: peer, anyKey: Self.verifiesItself(request))
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = try NIOSSLClientHandler(context: context, serverHostname: nil, customVerificationCallback: verification)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw PeerTransportError.connectionFailed(peer, Self.summary(error))
        }
        // A long-poll of the log waits on the server before it answers.
        let limit = maxResponseBytes, timeout = self.timeout + Self.serverWait(request)
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { tasks in
            tasks.addTask { try await Self.exchange(channel, request: request, host: entry.address, peer: peer, limit: limit) }
            tasks.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { tasks.cancelAll() }
            do {
                guard let first = try await tasks.next(), let answer = first else {
                    // The deadline came first: closing the connection ends the exchange.
                    try? await channel.channel.close()
                    throw PeerTransportError.timedOut(peer)
                }
                return answer
            } catch let error as PeerTransportError {
                try? await channel.channel.close()
                throw error
            } catch {
                try? await channel.channel.close()
                throw PeerTransportError.connectionFailed(peer, Self.summary(error))
            }
        }
    }

    private static func exchange(_ channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>, request: [UInt8], host: String,
                                 peer: ReplicaID, limit: Int) async throws -> [UInt8] {
        try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: PeerListener.path)
            head.headers = ["host": host, "content-type": "application/cbor", "content-length": "\(request.count)", "connection": "close"]
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: request))))
            try await outbound.write(.end(nil))
            var status: HTTPResponseStatus?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let response):
                    status = response.status
                    if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                        throw PeerTransportError.responseTooLarge(peer, limit: limit)
                    }
                case .body(let chunk):
                    guard body.count + chunk.readableBytes <= limit else { throw PeerTransportError.responseTooLarge(peer, limit: limit) }
                    body.append(contentsOf: chunk.readableBytesView)
                case .end:
                    guard let status else { throw PeerTransportError.connectionFailed(peer, "no response") }
                    guard status == .ok else {
                        let reason = TerminalText.escaped(String(decoding: body.prefix(300), as: UTF8.self))
                        throw PeerTransportError.refused(peer, status: Int(status.code), reason: reason)
                    }
                    return body
                }
            }
            throw PeerTransportError.connectionFailed(peer, "the connection closed before the response ended")
        }
    }

    /// Requests whose answers the engine verifies from genesis alone (docs/cluster.md, "Catch-up").
    static func verifiesItself(_ request: [UInt8]) -> Bool {
        switch try? PeerRequest(bytes: request) {
        case .logEntries?, .stableCheckpoints?, .watchLog?: true
        default: false
        }
    }

    /// How long the server may hold the request before answering (a watch-log long-poll).
    static func serverWait(_ request: [UInt8]) -> Duration {
        guard case .watchLog(_, _, let wait)? = try? PeerRequest(bytes: request) else { return .zero }
        return .milliseconds(Int64(min(wait, PeerRequest.maximumWaitMilliseconds)))
    }

    /// A handshake refusal or a socket error, in a few words.
    static func summary(_ error: any Error) -> String {
        switch error {
        case let error as NIOSSLError: "TLS: \(error)"
        case let error as BoringSSLError: "TLS handshake refused: \(error)"
        default: TerminalText.escaped(String(describing: error).prefix(200).description)
        }
    }
}
