import CustosAPI
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension CustosClient {
    /// Entries the watch may hold unread before it gives up (the reader fell behind).
    public static let watchBuffer = 4096

    /// The key log as server-sent events (`GET /v1/cluster/log`, `Accept: text/event-stream`)
    /// from entry index `after` on, until the server ends the stream (its lifetime, or its
    /// shutdown): the caller resumes from the last index it saw plus one. A refusal (a problem)
    /// or a stream that is not an event stream ends it with an error.
    public func clusterWatch(after: UInt64) -> AsyncThrowingStream<ClusterLogEntry, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ClusterLogEntry.self, throwing: (any Error).self,
                                                                   bufferingPolicy: .bufferingOldest(Self.watchBuffer))
        var root = base.absoluteString
        while root.hasSuffix("/") { root.removeLast() }
        guard let url = URL(string: root + "/v1/" + Endpoint.clusterLog.path() + "?after=\(after)") else {
            continuation.finish(throwing: CustosClientError.invalidServerURL(base.absoluteString))
            return stream
        }
        var request = URLRequest(url: url)
        request.httpMethod = "GET"
        request.setValue("Bearer " + String(decoding: token, as: UTF8.self), forHTTPHeaderField: "Authorization")
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        let delegate = EventStreamDelegate(continuation: continuation, server: base.absoluteString)
        let configuration = session.configuration
        let watchSession = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
        let task = watchSession.dataTask(with: request)
        continuation.onTermination = { _ in
            task.cancel()
            watchSession.invalidateAndCancel()
        }
        task.resume()
        return stream
    }
}

/// Feeds the bytes of one event stream to the parser and the entries to the caller's stream.
private final class EventStreamDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private struct State {
        var parser = ServerSentEvents()
        var status = 0
        var problemBody: [UInt8] = []
        var finished = false
    }

    private let continuation: AsyncThrowingStream<ClusterLogEntry, any Error>.Continuation
    private let server: String
    private let state = Mutex(State())
    private static let maxProblemBytes = 64 << 10

    init(continuation: AsyncThrowingStream<ClusterLogEntry, any Error>.Continuation, server: String) {
        self.continuation = continuation
        self.server = server
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let type = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type") ?? ""
        state.withLock { $0.status = status }
        if status == 200, !type.lowercased().hasPrefix("text/event-stream") {
            finish(CustosClientError.malformedResponse("GET /v1/cluster/log: the server did not answer with an event stream"))
            completionHandler(.cancel)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let outcome: Result<[ServerSentEvents.Event], any Error> = state.withLock { state in
            guard !state.finished else { return .success([]) }
            guard state.status == 200 else {
                if state.problemBody.count < Self.maxProblemBytes { state.problemBody += data.prefix(Self.maxProblemBytes - state.problemBody.count) }
                return .success([])
            }
            return Result { try state.parser.feed(data) }
        }
        do {
            for event in try outcome.get() where event.name == "entry" {
                let entry: ClusterLogEntry
                do {
                    entry = try JSONDecoder().decode(ClusterLogEntry.self, from: Data(event.data.utf8))
                } catch {
                    throw CustosClientError.malformedResponse("GET /v1/cluster/log: an event's data is not a key-log entry")
                }
                if case .dropped = continuation.yield(entry) {
                    throw CustosClientError.malformedResponse("the watch fell more than \(CustosClient.watchBuffer) entries behind the server")
                }
            }
        } catch {
            finish(error)
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (status, body) = state.withLock { ($0.status, $0.problemBody) }
        if status != 200, status != 0 {
            if let problem = try? JSONDecoder().decode(Problem.self, from: Data(body)) {
                finish(CustosClientError.problem(status: status, code: problem.code, detail: problem.detail))
            } else {
                finish(CustosClientError.problem(status: status, code: "http-\(status)", detail: "the server answered HTTP \(status)"))
            }
        } else if let error {
            finish(CustosClientError.unreachable(server: server, reason: error.localizedDescription))
        } else {
            finish(nil)
        }
        session.finishTasksAndInvalidate()
    }

    private func finish(_ error: (any Error)?) {
        let first = state.withLock { state in
            defer { state.finished = true }
            return !state.finished
        }
        guard first else { return }
        continuation.finish(throwing: error)
    }
}
