import CustosAPI
import CustosCluster
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Hummingbird
import Logging
import Prometheus
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import CustosServer

/// The cluster routes over HTTP against a stand-in replica: who may call what, how arguments
/// are refused, how the engine's refusals come back, and that each call is audited as its token.
@Suite("Cluster routes")
struct ClusterRouteTests {
    /// Answers fixed bodies; a share for view 7 is refused as an equivocation.
    struct StandIn: ClusterEndpoints {
        static let signer = ClusterKeyName(replica: 1, generation: 0, epoch: 1)
        func status() async throws -> ClusterNodeStatus {
            .replica(ClusterStatusResponse(clusterID: "00", replica: 1, n: 4, f: 1, quorum: 3, checkpointInterval: 4, phase: "bootstrapping", replicas: [],
                                  logLength: 0, logHead: String(repeating: "0", count: 64), latestSequence: 0, latestCheckpoint: 0,
                                  latestStableBoundary: nil, restoreFloor: 0, pendingCandidate: nil, checkpointMismatches: 0))
        }
        func certified() async throws -> ClusterCertifiedResponse { ClusterCertifiedResponse(records: []) }
        func schedule(sequence: UInt64, kind: String, item: [UInt8], certificate: [UInt8]) async throws -> ClusterLogEntry {
            throw ClusterError.scheduleOutOfOrder(sequence: sequence, after: 10)
        }
        func checkpoint(boundary: UInt64, ledgerDigest: [UInt8]) async throws -> ClusterCheckpointSignature {
            throw ClusterError.checkpointNotOnBoundary(boundary)
        }
        func stableCheckpoint(boundary: UInt64) async throws -> ClusterStableCheckpoint? { nil }
        func share(_ message: ConsensusMessage) async throws -> ClusterShare {
            if message.view == 7 { throw ClusterError.shareConflict(message.slot) }
            return ClusterShare(signer: Self.signer, share: Base64Text.encode([UInt8](repeating: 1, count: 96)))
        }
        func combine(_ message: ConsensusMessage, shares: [(signer: KeyName, share: [UInt8])]) async throws -> [UInt8] { [1, 2] }
        func verify(_ message: ConsensusMessage, certificate: [UInt8]) async throws -> [ReplicaID] { throw ClusterError.badAggregateSignature }
        func log(after: UInt64, limit: Int, wait: Duration?) async throws -> ClusterLogResponse { ClusterLogResponse(entries: [], next: nil) }
        func export() async throws -> ClusterLogExport { ClusterLogExport(format: ClusterLogExport.formatName, log: "") }
        func phase() async -> String { "bootstrapping" }
    }

    struct Reply {
        let status: Int
        let json: [String: Any]
    }

    func call(_ port: Int, _ method: String, _ path: String, token: SecretBytes, body: [String: Any]? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/\(path)")!)
        request.httpMethod = method
        request.setValue("Bearer " + String(decoding: token.copyBytes(), as: UTF8.self), forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Reply(status: (response as! HTTPURLResponse).statusCode, json: (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    @Test func rolesArgumentsRefusalsAndAudit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-cluster-routes-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = try PassphraseRoot.create(at: directory + "/" + PassphraseRoot.fileName, passphrase: SecretBytes(Array("a passphrase".utf8)),
                                             cost: .init(logN: 10, r: 8, p: 1))
        let keys = try await KeyService(store: try await SQLiteStore.open(path: directory + "/custos.sqlite"), root: root)
        var configuration = ServerConfiguration()
        configuration.port = 0
        let server = CustosServer(configuration: configuration, keys: keys, registry: PrometheusCollectorRegistry(), logger: Logger(label: "test"))
        let node = try await server.tokens.create(tenant: nil, role: .node, lifetime: 600, by: .local)
        let admin = try await server.tokens.create(tenant: nil, role: .admin, lifetime: 600, by: .local)
        let signer = try await server.tokens.create(tenant: nil, role: .signer, lifetime: 600, by: .local)

        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: server.buildRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let message: [String: Any] = ["view": 0, "sequence": 9, "phase": "commit", "digest": String(repeating: "ab", count: 32)]

            // Before a replica runs: 409 for the allowed, 403 for the others.
            #expect(try await call(port, "POST", "cluster/shares", token: node.bearer, body: message).status == 409)
            #expect(try await call(port, "POST", "cluster/shares", token: signer.bearer, body: message).status == 403)

            server.cluster.set(StandIn())
            let share = try await call(port, "POST", "cluster/shares", token: node.bearer, body: message)
            #expect(share.status == 200 && (share.json["signer"] as? [String: Any])?["epoch"] as? Int == 1)
            // Only the node asks for shares; an admin reads status but signs nothing.
            let refused = try await call(port, "POST", "cluster/shares", token: admin.bearer, body: message)
            #expect(refused.status == 403 && refused.json["code"] as? String == "forbidden")
            #expect(try await call(port, "GET", "cluster/status", token: admin.bearer).json["phase"] as? String == "bootstrapping")
            #expect(try await call(port, "GET", "cluster/status", token: signer.bearer).status == 403)

            // Bad arguments: named, 400, and nothing reaches the replica.
            for (field, value) in [("digest", "AB" + String(repeating: "ab", count: 31)), ("digest", "abcd"), ("phase", "decide"), ("sequence", 0)] as [(String, Any)] {
                var bad = message
                bad[field] = value
                let reply = try await call(port, "POST", "cluster/shares", token: node.bearer, body: bad)
                #expect(reply.status == 400 && reply.json["code"] as? String == "invalid-argument", "\(field)=\(value): \(reply.json)")
            }
            // The engine's refusals keep their rule as the code.
            var equivocation = message
            equivocation["view"] = 7
            let conflict = try await call(port, "POST", "cluster/shares", token: node.bearer, body: equivocation)
            #expect(conflict.status == 422 && conflict.json["code"] as? String == "share-conflict")
            let late = try await call(port, "POST", "cluster/schedule", token: node.bearer, body: ["sequence": 3, "record": "AA==", "certificate": "AA=="])
            #expect(late.status == 422 && late.json["code"] as? String == "notice-out-of-order")
            let notCanonical = try await call(port, "POST", "cluster/schedule", token: node.bearer, body: ["sequence": 3, "record": "AB=", "certificate": "AA=="])
            #expect(notCanonical.status == 400)
            #expect(try await call(port, "GET", "cluster/checkpoints/8", token: node.bearer).status == 404)
            #expect(try await call(port, "GET", "cluster/checkpoints/0", token: node.bearer).status == 400)
            #expect(try await call(port, "GET", "cluster/log?limit=1001", token: node.bearer).status == 400)
            let forged = try await call(port, "POST", "cluster/shares/verify", token: node.bearer, body: message.merging(["certificate": "AA=="]) { $1 })
            #expect(forged.status == 422 && forged.json["code"] as? String == "bad-certificate")

            // Readiness reports the phase; bootstrapping is ready.
            var ready = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/health/ready")!)
            ready.httpMethod = "GET"
            let (body, _) = try await URLSession.shared.data(for: ready)
            let checks = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["checks"] as? [String: String]
            #expect(checks?["cluster"] == "bootstrapping")
        }

        // Every share call is in the audit log under its token, allowed or refused, with its code.
        let records = try await keys.store.auditRecords(AuditQuery(limit: 1000, operation: "cluster.share"))
        let byNode = records.filter { $0.actor == "token:\(node.info.id)" }
        func has(_ outcome: String, error: String) -> [AuditRecord] {
            byNode.filter { $0.outcome == outcome && $0.details.contains("\"error\":\"\(error)\"") }
        }
        #expect(byNode.contains { $0.outcome == "success" && $0.details.contains(String(repeating: "ab", count: 32)) })
        #expect(has("failure", error: "share-conflict").count == 1)
        #expect(has("failure", error: "not-in-cluster").count == 1)
        #expect(has("failure", error: "invalid-argument").count == 4)
        #expect(records.contains { $0.actor == "token:\(admin.info.id)" && $0.outcome == "denied" })
        #expect(records.contains { $0.actor == "token:\(signer.info.id)" && $0.outcome == "denied" })
        try await keys.close()
    }
}
