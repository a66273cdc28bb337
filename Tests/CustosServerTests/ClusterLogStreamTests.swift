import CustosAPI
import CustosClient
import CustosCluster
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import CustosServer

/// The key log as a long-poll and as server-sent events, against a stand-in replica whose log
/// grows when the test says: a waiting request answers when an entry comes, or empty when its
/// wait ends; a stream sends entries as they come, keep-alives between, resumes after
/// `Last-Event-ID`, is refused past the stream limit, and ends when the server shuts down.
@Suite("Cluster key-log long-poll and event streams")
struct ClusterLogStreamTests {
    /// A key log that grows on `append`; `log(…wait:)` waits for an entry like the engine does.
    actor GrowingLog: ClusterEndpoints {
        private var entries: [ClusterLogEntry] = []
        private var waiters: [Int: (after: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
        private var nextWaiter = 0
        /// Yields each time a request starts waiting (so the test appends only then).
        nonisolated let waiting: AsyncStream<Void>
        private let waitingContinuation: AsyncStream<Void>.Continuation

        init(count: Int = 0) {
            (waiting, waitingContinuation) = AsyncStream.makeStream(of: Void.self)
            entries = (0..<UInt64(count)).map(Self.entry)
        }

        private func appendNow() {
            entries.append(Self.entry(UInt64(entries.count)))
        }

        private static func entry(_ index: UInt64) -> ClusterLogEntry {
            ClusterLogEntry(index: index, sequence: index * 3 + 1, name: nil, status: index == 1 ? "void" : "accepted",
                                           reason: index == 1 ? "command-replay" : "", head: String(repeating: "0", count: 64),
                                           kind: index == 1 ? "command" : "replica-record", subject: "entry \(index)")
        }

        func append() {
            appendNow()
            for (id, waiter) in waiters where waiter.after < UInt64(entries.count) {
                waiters[id] = nil
                waiter.continuation.resume()
            }
        }

        private func page(after: UInt64, limit: Int) -> ClusterLogResponse {
            let start = Int(min(after, UInt64(entries.count)))
            return ClusterLogResponse(entries: Array(entries[start..<min(entries.count, start + limit)]), next: nil)
        }

        func log(after: UInt64, limit: Int, wait: Duration?) async throws -> ClusterLogResponse {
            if let wait, after >= UInt64(entries.count) {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.waitForEntry(after: after) }
                    group.addTask { try? await Task.sleep(for: wait) }
                    await group.next()
                    group.cancelAll()
                }
            }
            return page(after: after, limit: limit)
        }

        private func waitForEntry(after: UInt64) async {
            let id = nextWaiter
            nextWaiter += 1
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    waiters[id] = (after, continuation)
                    waitingContinuation.yield()
                }
            } onCancel: {
                Task { await self.cancelWaiter(id) }
            }
        }

        private func cancelWaiter(_ id: Int) {
            waiters.removeValue(forKey: id)?.continuation.resume()
        }

        nonisolated func status() async throws -> ClusterNodeStatus { throw ClusterRouteError.notInCluster }
        nonisolated func export() async throws -> ClusterLogExport { ClusterLogExport(format: ClusterLogExport.formatName, log: "") }
        nonisolated func phase() async -> String { "operational" }
    }

    struct Harness {
        let keys: KeyService
        let server: CustosServer
        let node: CreatedToken
    }

    func withServer(requestTimeout: Duration = .seconds(10), maxStreams: Int = 4, keepAlive: Duration = .seconds(15),
                    _ body: (Harness, Int) async throws -> Void) async throws {
        let store = try await TestKeystore.open("custos-log-stream")
        defer { store.remove() }
        let keys = store.keys
        do {
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.requestTimeout = requestTimeout
            var server = CustosServer(configuration: configuration, keys: keys, registry: PrometheusCollectorRegistry(), logger: Logger(label: "test"))
            server.logStreams = LogStreams(maximum: maxStreams, keepAlive: keepAlive)
            let node = try await server.tokens.create(tenant: nil, role: .node, lifetime: 600, by: .local)
            let deadlines = server.deadlines
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await deadlines.run() }
                defer { group.cancelAll() }
                try await withLoopbackApp(server.buildRouter()) { port in
                    try await body(Harness(keys: keys, server: server, node: node), port)
                }
            }
        }
        try await keys.close()
    }

    func get(_ port: Int, _ path: String, token: CreatedToken) async throws -> (status: Int, json: [String: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/\(path)")!)
        request.setValue("Bearer " + String(decoding: token.bearer.copyBytes(), as: UTF8.self), forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    func client(_ port: Int, _ token: CreatedToken) throws -> CustosClient {
        try CustosClient(server: "http://127.0.0.1:\(port)", token: token.bearer.copyBytes())
    }

    @Test func aLongPollAnswersWhenAnEntryComesAndEmptyWhenItsWaitEnds() async throws {
        try await withServer { harness, port in
            let log = GrowingLog(count: 1)
            harness.server.cluster.set(log)
            // An entry at or after `after` is there: no wait.
            let present = try await client(port, harness.node).clusterLog(after: 0, limit: 10, waitMilliseconds: 20_000)
            #expect(present.entries.map(\.index) == [0])
            // None yet: the request waits until one is appended.
            var waiting = log.waiting.makeAsyncIterator()
            async let answer = client(port, harness.node).clusterLog(after: 1, limit: 10, waitMilliseconds: 20_000)
            _ = await waiting.next()
            await log.append()
            #expect(try await answer.entries.map(\.index) == [1])
            #expect(try await answer.entries.first?.kind == "command")
            // None comes: an empty page once the wait ends.
            let empty = try await client(port, harness.node).clusterLog(after: 5, limit: 10, waitMilliseconds: 50)
            #expect(empty.entries.isEmpty)
            // Bounds are named.
            for query in ["after=0&wait_ms=25001", "after=0&wait_ms=soon", "after=0&wait_ms=-1"] {
                let refused = try await get(port, "cluster/log?\(query)", token: harness.node)
                #expect(refused.status == 400 && (refused.json["detail"] as? String)?.contains("wait_ms") == true, "\(query): \(refused.json)")
            }
        }
    }

    @Test func aLongPollAnswersBeforeTheRequestDeadline() async throws {
        try await withServer(requestTimeout: .seconds(8)) { harness, port in
            harness.server.cluster.set(GrowingLog())
            // 25 s asked, 8 s deadline: an empty answer after at most 6 s, never a 503.
            let reply = try await get(port, "cluster/log?after=0&wait_ms=25000", token: harness.node)
            #expect(reply.status == 200 && (reply.json["entries"] as? [Any])?.isEmpty == true, "\(reply)")
        }
    }

    @Test func aStreamSendsEntriesAsTheyComeAndResumesAfterTheLastSeen() async throws {
        try await withServer { harness, port in
            let log = GrowingLog(count: 2)
            harness.server.cluster.set(log)
            var waiting = log.waiting.makeAsyncIterator()
            var entries = try client(port, harness.node).clusterWatch(after: 0).makeAsyncIterator()
            #expect(try await entries.next()?.index == 0)
            let void = try await entries.next()
            #expect(void?.index == 1 && void?.status == "void" && void?.reason == "command-replay" && void?.kind == "command")
            _ = await waiting.next()
            await log.append()
            #expect(try await entries.next()?.index == 2)

            // A reconnecting reader names the last index it saw; `after` below it is overridden.
            try await RawStream.with(port: port, path: "/v1/cluster/log?after=0", token: harness.node, lastEventID: "1") { raw in
                #expect(raw.status == 200 && raw.contentType == "text/event-stream")
                let text = try await raw.read(until: "\n\n", count: 2)
                #expect(text.contains(": custos key log from entry 2"))
                #expect(text.contains("id: 2\nevent: entry\ndata: {"), "\(text)")
                #expect(!text.contains("id: 1\n"))
            }
        }
    }

    @Test func aQuietStreamSendsKeepAlives() async throws {
        try await withServer(keepAlive: .milliseconds(50)) { harness, port in
            harness.server.cluster.set(GrowingLog())
            try await RawStream.with(port: port, path: "/v1/cluster/log", token: harness.node) { raw in
                let text = try await raw.read(until: ": keep-alive\n\n", count: 2)
                #expect(text.components(separatedBy: ": keep-alive\n\n").count - 1 >= 2)
                #expect(!text.contains("event: entry"))
            }
        }
    }

    @Test func streamsPastTheLimitAreRefusedAndAPlaceIsFreedWhenOneEnds() async throws {
        try await withServer(maxStreams: 1, keepAlive: .milliseconds(100)) { harness, port in
            harness.server.cluster.set(GrowingLog(count: 1))
            try await RawStream.with(port: port, path: "/v1/cluster/log", token: harness.node) { first in
                _ = try await first.read(until: "\n\n", count: 2)
                #expect(harness.server.logStreams.count == 1)
                try await RawStream.with(port: port, path: "/v1/cluster/log", token: harness.node) { refused in
                    #expect(refused.status == 503)
                    let body = try await refused.read(until: "}", count: 1)
                    #expect(body.contains("too-many-streams") && body.contains("cluster.max_log_streams"))
                }
                // A long-poll is not a stream: still answered.
                #expect(try await get(port, "cluster/log?wait_ms=10", token: harness.node).status == 200)
            }
            // The reader went away: its place is freed once the server notices, at the next
            // keep-alive at the latest (the write fails).
            var freed = false
            for _ in 0..<200 where !freed {
                freed = harness.server.logStreams.count == 0
                if !freed { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(freed, "the closed stream still holds its place")
            #expect(try await RawStream.with(port: port, path: "/v1/cluster/log", token: harness.node) { $0.status } == 200)
        }
    }

    @Test func streamsAreRefusedToCallersWithoutTheRightAndTakeNoWait() async throws {
        try await withServer { harness, port in
            harness.server.cluster.set(GrowingLog())
            let signer = try await harness.server.tokens.create(tenant: nil, role: .signer, lifetime: 600, by: .local)
            #expect(try await RawStream.with(port: port, path: "/v1/cluster/log", token: signer) { $0.status } == 403)
            #expect(try await RawStream.with(port: port, path: "/v1/cluster/log?wait_ms=100", token: harness.node) { $0.status } == 400)
            #expect(try await RawStream.with(port: port, path: "/v1/cluster/log", token: harness.node, lastEventID: "x") { $0.status } == 400)
            #expect(harness.server.logStreams.count == 0)
        }
    }

    @Test func aStreamEndsWhenTheServerShutsDown() async throws {
        let store = try await TestKeystore.open("custos-log-stream")
        defer { store.remove() }
        let keys = store.keys
        do {
            var configuration = ServerConfiguration()
            configuration.port = 0
            let server = CustosServer(configuration: configuration, keys: keys, registry: PrometheusCollectorRegistry(), logger: Logger(label: "test"))
            let node = try await server.tokens.create(tenant: nil, role: .node, lifetime: 600, by: .local)
            let log = GrowingLog(count: 1)
            server.cluster.set(log)
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(router: server.buildRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "test"))
            let services = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: Logger(label: "test")))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await services.run() }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                var waiting = log.waiting.makeAsyncIterator()
                var entries = try client(port, node).clusterWatch(after: 0).makeAsyncIterator()
                #expect(try await entries.next()?.index == 0)
                _ = await waiting.next()
                await services.triggerGracefulShutdown()
                // The stream ends cleanly (no error), and the server stops: nothing holds it.
                #expect(try await entries.next() == nil)
                try await group.next()
            }
        }
        try await keys.close()
    }
}

/// One HTTP/1.1 request on a plain connection whose body is read as it comes: the tests see the
/// event stream's bytes, headers and status exactly. The connection closes when `body` returns.
struct RawStream {
    let status: Int
    let contentType: String
    private var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator

    static func with<T: Sendable>(port: Int, path: String, token: CreatedToken, lastEventID: String? = nil,
                                  _ body: (inout RawStream) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers = ["host": "127.0.0.1", "accept": "text/event-stream",
                        "authorization": "Bearer " + String(decoding: token.bearer.copyBytes(), as: UTF8.self)]
        if let lastEventID { head.headers.add(name: "Last-Event-ID", value: lastEventID) }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            try await outbound.write(.end(nil))
            var iterator = inbound.makeAsyncIterator()
            guard case .head(let response)? = try await iterator.next() else { throw CancellationError() }
            var stream = RawStream(status: Int(response.status.code), contentType: response.headers.first(name: "content-type") ?? "",
                                   iterator: iterator)
            return try await body(&stream)
        }
    }

    /// Body text until `marker` has appeared `count` times (or the body ends).
    mutating func read(until marker: String, count: Int) async throws -> String {
        var text = ""
        while text.components(separatedBy: marker).count - 1 < count {
            guard let part = try await iterator.next() else { break }
            switch part {
            case .body(let buffer): text += String(buffer: buffer)
            case .end: return text
            case .head: continue
            }
        }
        return text
    }
}
