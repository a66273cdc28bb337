import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Hummingbird
import Logging

@testable import CustosServer

/// A fresh data directory (passphrase root, SQLite store) in a temporary folder; `remove()`
/// deletes the folder (close the store first).
struct TestKeystore {
    let keys: KeyService
    let directory: String

    static func open(_ prefix: String) async throws -> TestKeystore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName, passphrase: SecretBytes(Array("a passphrase".utf8)),
                                             cost: .init(logN: 10, r: 8, p: 1))
        return TestKeystore(keys: try await KeyService(store: try await SQLiteStore.open(path: directory + "/custos.sqlite"), root: root),
                            directory: directory)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// `router` served on a loopback port while `body` runs with the port.
func withLoopbackApp(_ router: Router<CustosRequestContext>, _ body: (Int) async throws -> Void) async throws {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "test"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        try await body(port)
    }
}
