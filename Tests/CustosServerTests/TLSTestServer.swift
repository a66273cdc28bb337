import Hummingbird
import HummingbirdCore
import Logging
@testable import CustosServer

/// A Hummingbird app on a loopback port behind `ReloadableTLSChannel`, answering
/// `GET /hello` with "hi"; `body` gets the port and the server stops when it returns.
func withTLSTestServer(holder: TLSContextHolder, _ body: (Int) async throws -> Void) async throws {
    let router = Router()
    router.get("hello") { _, _ in "hi" }
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(router: router,
                          server: HTTPServerBuilder { ReloadableTLSChannel(base: HTTP1Channel(responder: $0), holder: holder) },
                          configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) },
                          logger: Logger(label: "test"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        try await body(port)
    }
}
