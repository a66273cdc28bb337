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
        /// A command whose first byte is 0xEE has expired; others are relayed.
        func submitCommand(_ bytes: [UInt8]) async throws -> ClusterCommandStatus {
            if bytes.first == 0xEE { throw ClusterError.commandExpired(number: 7, expiresAt: 100, now: 500) }
            return ClusterCommandStatus(number: UInt64(bytes.count), action: "rotate-replica-keys", digest: String(repeating: "cd", count: 32),
                                        state: "relaying", approvals: 1, quorum: 3)
        }
        func commands() async throws -> ClusterCommandsResponse {
            ClusterCommandsResponse(commands: [ClusterCommandStatus(number: 3, action: "rotate-client-keys", digest: String(repeating: "cd", count: 32),
                                                                    state: "executed", approvals: 3, quorum: 3, targetsRemaining: ["client 1"], sequence: 12)])
        }
    }

    /// A client node: answers its status and signs; a replica's routes are not its own.
    struct ClientStandIn: ClusterEndpoints {
        var role: String { "client" }
        func status() async throws -> ClusterNodeStatus {
            .client(ClusterClientNodeStatus(clusterID: "00", client: 4, phase: "following", newestEpoch: 1, activeEpoch: 1, pendingCommands: [],
                                            followedReplica: 0, logLength: 3, logHead: String(repeating: "0", count: 64), latestCheckpoint: 8))
        }
        func log(after: UInt64, limit: Int, wait: Duration?) async throws -> ClusterLogResponse { ClusterLogResponse(entries: [], next: nil) }
        func export() async throws -> ClusterLogExport { throw ClusterRouteError.wrongRole(role) }
        func phase() async -> String { "following" }
        func clientSign(_ message: [UInt8]) async throws -> ClusterClientSignature {
            ClusterClientSignature(client: 4, epoch: 1, scheme: "ed25519", signature: Base64Text.encode(message.reversed()))
        }
    }

    struct Reply {
        let status: Int
        let json: [String: Any]
    }

    func call(_ port: Int, _ method: String, _ path: String, token: SecretBytes, body: [String: Any]? = nil,
              raw: (bytes: Data, type: String)? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/\(path)")!)
        request.httpMethod = method
        request.setValue("Bearer " + String(decoding: token.copyBytes(), as: UTF8.self), forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let raw {
            request.httpBody = raw.bytes
            request.setValue(raw.type, forHTTPHeaderField: "Content-Type")
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

    @Test func commandsAreHandedInCheckedAndListedAndClientRoutesKeepToTheirRole() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-cluster-commands-\(UUID().uuidString)").path
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
        let auditor = try await server.tokens.create(tenant: nil, role: .auditor, lifetime: 600, by: .local)

        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: server.buildRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            server.cluster.set(StandIn())
            let command = Base64Text.encode([UInt8](repeating: 1, count: 40))

            // An admin or the node hands a command in (the operator's signature authorises it); 202 with its state.
            for token in [admin, node] {
                let accepted = try await call(port, "POST", "cluster/commands", token: token.bearer, body: ["command": command])
                #expect(accepted.status == 202 && accepted.json["state"] as? String == "relaying" && accepted.json["number"] as? Int == 40
                        && accepted.json["quorum"] as? Int == 3, "\(accepted.json)")
            }
            // As CBOR too.
            let cbor = try await call(port, "POST", "cluster/commands", token: admin.bearer, raw: (Data(repeating: 2, count: 50), "application/cbor"))
            #expect(cbor.status == 202 && cbor.json["number"] as? Int == 50, "\(cbor.json)")
            #expect(try await call(port, "POST", "cluster/commands", token: signer.bearer, body: ["command": command]).status == 403)
            #expect(try await call(port, "POST", "cluster/commands", token: auditor.bearer, body: ["command": command]).status == 403)

            // The engine's refusal names the rule and the command.
            let expired = try await call(port, "POST", "cluster/commands", token: admin.bearer, body: ["command": Base64Text.encode([0xEE, 1, 2])])
            #expect(expired.status == 422 && expired.json["code"] as? String == "command-expired"
                    && (expired.json["detail"] as? String)?.contains("command 7 expired at 100") == true, "\(expired.json)")
            // Bad input: named, 400, nothing reaches the replica.
            let refusals: [(String, Reply)] = [
                ("not base64", try await call(port, "POST", "cluster/commands", token: admin.bearer, body: ["command": "AB="])),
                ("empty", try await call(port, "POST", "cluster/commands", token: admin.bearer, body: ["command": ""])),
                ("oversized", try await call(port, "POST", "cluster/commands", token: admin.bearer,
                                             body: ["command": Base64Text.encode([UInt8](repeating: 3, count: 4097))])),
                ("oversized CBOR", try await call(port, "POST", "cluster/commands", token: admin.bearer,
                                                  raw: (Data(repeating: 3, count: 5000), "application/cbor"))),
                ("missing field", try await call(port, "POST", "cluster/commands", token: admin.bearer, body: ["cmd": command])),
                ("not JSON", try await call(port, "POST", "cluster/commands", token: admin.bearer, raw: (Data("{\"command\":".utf8), "application/json"))),
                ("duplicate key", try await call(port, "POST", "cluster/commands", token: admin.bearer,
                                                 raw: (Data("{\"command\":\"AQ==\",\"command\":\"Ag==\"}".utf8), "application/json"))),
            ]
            for (what, reply) in refusals {
                #expect(reply.status == 400, "\(what): \(reply.status) \(reply.json)")
            }
            #expect((refusals[2].1.json["detail"] as? String)?.contains("at most 4096 bytes") == true)

            // Listed for readers.
            let listed = try await call(port, "GET", "cluster/commands", token: auditor.bearer)
            let first = (listed.json["commands"] as? [[String: Any]])?.first
            #expect(first?["state"] as? String == "executed" && first?["targets_remaining"] as? [String] == ["client 1"] && first?["sequence"] as? Int == 12)
            #expect(try await call(port, "GET", "cluster/commands", token: signer.bearer).status == 403)
            // What a replica does not serve: a client node's signature.
            let notClient = try await call(port, "POST", "cluster/client/sign", token: node.bearer, body: ["message": "AQID"])
            #expect(notClient.status == 409 && notClient.json["code"] as? String == "not-a-client")

            // A client node: its own status and signatures; a replica's routes are refused.
            server.cluster.set(ClientStandIn())
            let status = try await call(port, "GET", "cluster/status", token: admin.bearer)
            #expect(status.json["role"] as? String == "client" && status.json["client"] as? Int == 4 && status.json["phase"] as? String == "following")
            let signed = try await call(port, "POST", "cluster/client/sign", token: node.bearer, body: ["message": Base64Text.encode([1, 2, 3])])
            #expect(signed.status == 200 && signed.json["signature"] as? String == Base64Text.encode([3, 2, 1]) && signed.json["epoch"] as? Int == 1)
            #expect(try await call(port, "POST", "cluster/client/sign", token: admin.bearer, body: ["message": "AQID"]).status == 403)
            #expect(try await call(port, "POST", "cluster/client/sign", token: node.bearer, body: ["message": "AQI"]).status == 400)
            let share = try await call(port, "POST", "cluster/shares", token: node.bearer,
                                       body: ["view": 0, "sequence": 9, "phase": "commit", "digest": String(repeating: "ab", count: 32)])
            #expect(share.status == 409 && share.json["code"] as? String == "not-a-replica", "\(share.json)")
            #expect(try await call(port, "POST", "cluster/commands", token: admin.bearer, body: ["command": command]).json["code"] as? String == "not-a-replica")
        }

        // Each command handed in is audited under the token that delivered it, refusals with their rule.
        let records = try await keys.store.auditRecords(AuditQuery(limit: 1000, operation: "cluster.command"))
        #expect(records.filter { $0.outcome == "success" }.count == 3)
        #expect(records.contains { $0.actor == "token:\(admin.info.id)" && $0.outcome == "failure" && $0.details.contains("command-expired") })
        #expect(records.contains { $0.actor == "token:\(signer.info.id)" && $0.outcome == "denied" })
        let signatures = try await keys.store.auditRecords(AuditQuery(limit: 100, operation: "cluster.client-sign"))
        #expect(signatures.contains { $0.outcome == "success" && $0.details.contains("message_sha256") })
        try await keys.close()
    }
}
