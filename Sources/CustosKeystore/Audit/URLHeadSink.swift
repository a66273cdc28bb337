import CustosCrypto
import CustosStore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Ships each head to an operator's service: `POST url` with the signed head as JSON
/// publishes; `GET url` returns the newest head (404: none yet). The service should
/// keep the highest sequence it has seen and refuse to go back.
///
/// HTTPS is required, so nobody on the path can answer `GET` with an older head; plain
/// HTTP is accepted only on loopback and only when explicitly allowed (tests).
public struct URLHeadSink: AuditHeadSink {
    public let url: URL
    let timeout: TimeInterval
    public var location: String { url.absoluteString }

    public init(url text: String, allowHTTPLoopback: Bool = false, timeout: TimeInterval = 10) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
              url.user == nil, url.password == nil else {
            throw KeystoreError.invalidArgument("the audit sink URL is malformed")
        }
        let loopback = ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host.lowercased())
        guard scheme == "https" || (scheme == "http" && allowHTTPLoopback && loopback) else {
            throw KeystoreError.invalidArgument("the audit sink URL must use https (http is allowed only on loopback, with audit.sink_allow_http_loopback)")
        }
        self.url = url
        self.timeout = timeout
    }

    public func publish(_ head: AuditCheckpoint, publicKey: SigningPublicKey) async throws {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(SignedHeadJSON.encode(head, publicKey: publicKey))
        let (_, response) = try await send(request)
        guard (200..<300).contains(response.statusCode) else {
            throw KeystoreError.invalidArgument("the audit sink \(location) refused the head: HTTP \(response.statusCode)")
        }
    }

    public func latest() async throws -> AuditCheckpoint? {
        let (data, response) = try await send(URLRequest(url: url, timeoutInterval: timeout))
        if response.statusCode == 404 { return nil }
        guard response.statusCode == 200 else {
            throw KeystoreError.invalidArgument("the audit sink \(location) answered HTTP \(response.statusCode)")
        }
        return try SignedHeadJSON.decode(data)
    }

    private func send(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw KeystoreError.invalidArgument("the audit sink \(location) is unreachable: \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw KeystoreError.invalidArgument("the audit sink \(location) did not answer over HTTP")
        }
        return (data, http)
    }
}
