import CustosAPI
import CustosCluster
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Crypto
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The node's routes on the replica network (docs/cluster.md): notices in, shares and
/// signatures out. Tokens of role `node` operate the replica; admins and auditors read it.
/// Every call is authorised before anything else and audited as the calling token (a refusal
/// always; a POST's success too).
struct ClusterRoutes {
    let keys: KeyService
    let io: JSONIO
    let cluster: ClusterHandle
    let streams: LogStreams
    /// Each request's deadline: a long-poll waits less, so that it answers before it.
    let deadlines: RequestDeadlines
    static let maxLogPage = 1000
    /// The longest `wait_ms` a long-poll may ask for.
    static let maxWait: Duration = .milliseconds(25_000)

    func register(on router: RouterGroup<CustosRequestContext>) {
        router.on(.clusterStatus) { _, context in
            try JSONIO.response(try await read(.clusterStatus, context) { try await $0.status() })
        }
        router.on(.clusterCommands) { _, context in
            try JSONIO.response(try await read(.clusterStatus, context) { try await $0.commands() })
        }
        router.on(.clusterClients) { _, context in
            try JSONIO.response(try await read(.clusterStatus, context) { try await $0.clients() })
        }
        router.on(.clusterSubmitCommand) { request, context in
            try JSONIO.response(try await audited(.clusterCommand, .submitClusterCommand, context) { replica in
                let bytes = try await commandBytes(request)
                let state = try await replica.submitCommand(bytes)
                return (state, ["number": "\(state.number)", "action": state.action, "digest": state.digest, "state": state.state])
            }, status: .accepted)
        }
        router.on(.clusterClientSign) { request, context in
            try JSONIO.response(try await operate(.clusterClientSign, context) { node in
                let body = try await decode(ClusterClientSignRequest.self, request)
                let message = try Self.base64(body.message, "message")
                let signature = try await node.clientSign(message)
                return (signature, ["client": "\(signature.client)", "epoch": "\(signature.epoch)", "message_sha256": Hex.encode(Array(SHA256.hash(data: message)))])
            })
        }
        router.on(.clusterCertified) { _, context in
            try JSONIO.response(try await read(.clusterStatus, context) { try await $0.certified() })
        }
        router.on(.clusterStableCheckpoint) { _, context in
            try JSONIO.response(try await read(.clusterLog, context) { replica in
                let boundary = try Self.number(try Field.path(context, "boundary"), "boundary", minimum: 1)
                guard let stable = try await replica.stableCheckpoint(boundary: boundary) else {
                    throw ClusterRouteError.notFound("no stable checkpoint is formed for boundary \(boundary) yet")
                }
                return stable
            })
        }
        router.on(.clusterLog) { request, context in
            let streaming = request.headers[values: .accept].contains { $0.lowercased().contains("text/event-stream") }
            if streaming {
                let (replica, after) = try await read(.clusterLog, context) { replica in (replica, try Self.logQuery(request, streaming: true).after) }
                return try eventStream(replica, after: after)
            }
            return try JSONIO.response(try await read(.clusterLog, context) { replica in
                let query = try Self.logQuery(request, streaming: false)
                // A long-poll answers before the request deadline, with no entries if none came:
                // it keeps a quarter of the deadline to answer in, even on a loaded machine.
                let wait = query.wait.map { RequestDeadlines.wait(atMost: $0, margin: deadlines.timeout / 4) }
                return try await replica.log(after: query.after, limit: query.limit, wait: wait)
            })
        }
        router.on(.clusterLogExport) { _, context in
            try JSONIO.response(try await read(.clusterLog, context) { try await $0.export() })
        }

        router.on(.clusterSchedule) { request, context in
            try JSONIO.response(try await operate(.clusterSchedule, context) { replica in
                let body = try await decode(ClusterScheduleRequest.self, request)
                guard body.sequence >= 1 else { throw ClusterRouteError.invalid("sequence must be at least 1") }
                let kind = body.kind ?? "replica-record"
                guard Self.scheduledKinds.contains(kind) else {
                    throw ClusterRouteError.invalid("kind must be one of \(Self.scheduledKinds.joined(separator: ", "))")
                }
                let item: [UInt8]
                switch (body.item, body.record) {
                case (let text?, nil): item = try Self.base64(text, "item")
                case (nil, let text?): item = try Self.base64(text, "record")
                default: throw ClusterRouteError.invalid("give the scheduled bytes as item (or record), once")
                }
                let entry = try await replica.schedule(sequence: body.sequence, kind: kind, item: item,
                                                       certificate: try Self.base64(body.certificate, "certificate"))
                return (entry, ["sequence": "\(body.sequence)", "kind": kind, "index": "\(entry.index)", "status": entry.status])
            })
        }
        router.on(.clusterCheckpoint) { request, context in
            try JSONIO.response(try await operate(.clusterCheckpoint, context) { replica in
                let body = try await decode(ClusterCheckpointRequest.self, request)
                guard body.boundary >= 1 else { throw ClusterRouteError.invalid("boundary must be at least 1") }
                let signature = try await replica.checkpoint(boundary: body.boundary, ledgerDigest: try Self.digest(body.ledgerDigest, "ledger_digest"))
                return (signature, ["boundary": "\(body.boundary)", "ledger_digest": signature.ledgerDigest])
            })
        }
        router.on(.clusterShare) { request, context in
            try JSONIO.response(try await operate(.clusterShare, context) { replica in
                let body = try await decode(ClusterShareRequest.self, request)
                let message = try Self.message(view: body.view, sequence: body.sequence, phase: body.phase, digest: body.digest)
                let share = try await replica.share(message)
                return (share, Self.details(message))
            })
        }
        router.on(.clusterCombine) { request, context in
            try JSONIO.response(try await operate(.clusterCombine, context) { replica in
                let body = try await decode(ClusterCombineRequest.self, request)
                let message = try Self.message(view: body.view, sequence: body.sequence, phase: body.phase, digest: body.digest)
                let shares = try body.shares.map { share in
                    (signer: try Self.keyName(share.signer), share: try Self.base64(share.share, "shares[].share"))
                }
                let certificate = try await replica.combine(message, shares: shares)
                return (ClusterCertificateResponse(certificate: Base64Text.encode(certificate)), Self.details(message))
            })
        }
        router.on(.clusterVerify) { request, context in
            try JSONIO.response(try await check(context) { replica in
                let body = try await decode(ClusterVerifyRequest.self, request)
                let message = try Self.message(view: body.view, sequence: body.sequence, phase: body.phase, digest: body.digest)
                let signers = try await replica.verify(message, certificate: try Self.base64(body.certificate, "certificate"))
                return (ClusterVerifyResponse(valid: true, signers: signers.map(\.index)), Self.details(message))
            })
        }
    }

    // MARK: Authorisation and audit

    private func read<T: Sendable>(_ operation: AuditOperation, _ context: CustosRequestContext,
                                   _ body: (any ClusterEndpoints) async throws -> T) async throws -> T {
        try await mapped {
            try await keys.auditedCluster(operation, .readCluster, by: try context.requirePrincipal(), recordSuccess: false) {
                (try await Self.engineErrors { try await body(try cluster.require()) }, details: [:])
            }
        }
    }

    private func operate<T: Sendable>(_ operation: AuditOperation, _ context: CustosRequestContext,
                                      _ body: (any ClusterEndpoints) async throws -> (T, [String: String])) async throws -> T {
        try await audited(operation, .operateCluster, context, body)
    }

    private func audited<T: Sendable>(_ operation: AuditOperation, _ permission: Permission, _ context: CustosRequestContext,
                                      _ body: (any ClusterEndpoints) async throws -> (T, [String: String])) async throws -> T {
        try await mapped {
            try await keys.auditedCluster(operation, permission, by: try context.requirePrincipal()) {
                let (result, details) = try await Self.engineErrors { try await body(try cluster.require()) }
                return (result, details: details)
            }
        }
    }

    /// Verification signs nothing: any reader may ask, and the call is audited like a POST.
    private func check<T: Sendable>(_ context: CustosRequestContext,
                                    _ body: (any ClusterEndpoints) async throws -> (T, [String: String])) async throws -> T {
        try await mapped {
            try await keys.auditedCluster(.clusterVerify, .readCluster, by: try context.requirePrincipal()) {
                let (result, details) = try await Self.engineErrors { try await body(try cluster.require()) }
                return (result, details: details)
            }
        }
    }

    /// The engine's refusals as route errors, inside the audited call, so the record names their code.
    private static func engineErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ClusterError {
            throw ClusterRouteError.engine(error)
        }
    }

    /// Route errors and the engine's refusals become problems; keystore errors and problems pass.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ClusterRouteError {
            throw error.problem
        } catch let error as ClusterError {
            throw ClusterRouteError.engine(error).problem
        } catch let error as Problem {
            throw error
        } catch let error as KeystoreError {
            throw error
        } catch is CancellationError {
            throw Problem.timeout
        } catch {
            throw ClusterRouteError.refused(code: "cluster-refused", detail: "\(error)").problem
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        try await io.decode(type, from: request)
    }

    // MARK: The key log, long-polled or streamed

    static let scheduledKinds = ["replica-record", "client-record", "command"]

    struct LogQuery {
        var after: UInt64
        var limit: Int
        var wait: Duration?
    }

    /// `after`, `limit` and `wait_ms`; a stream resumes after the `Last-Event-ID` its reader saw.
    static func logQuery(_ request: Request, streaming: Bool) throws -> LogQuery {
        var after = try Field.query(request, "after").map { try Self.number($0, "after", minimum: 0) } ?? 0
        if streaming, let last = request.headers[.lastEventID] {
            guard let seen = UInt64(last), seen < UInt64.max else { throw ClusterRouteError.invalid("Last-Event-ID must be an entry index") }
            after = max(after, seen + 1)
        }
        let limit = try Field.query(request, "limit").map { try Self.number($0, "limit", minimum: 1) } ?? UInt64(Self.maxLogPage)
        guard limit <= Self.maxLogPage else { throw ClusterRouteError.invalid("limit must be at most \(Self.maxLogPage)") }
        let wait = try Field.query(request, "wait_ms").map { try Self.number($0, "wait_ms", minimum: 0) }
        if let wait, wait > 25_000 { throw ClusterRouteError.invalid("wait_ms must be at most 25000") }
        if streaming, wait != nil { throw ClusterRouteError.invalid("wait_ms is for a long-poll, not an event stream") }
        return LogQuery(after: after, limit: Int(limit), wait: wait.map { .milliseconds(Int64($0)) })
    }

    /// Server-sent events: one `entry` event per key-log entry from `after` on (`id:` its index,
    /// `data:` its JSON), a `: keep-alive` comment after `keepAlive` without one. The reader
    /// pulls: an entry is read from the replica only once the previous one is written, so a slow
    /// reader holds one page at most; a write that does not complete within the request deadline
    /// (a reader that stopped reading) ends the stream, as do the stream's lifetime and the
    /// server's shutdown. Places are bounded by `LogStreams`.
    func eventStream(_ replica: any ClusterEndpoints, after: UInt64) throws -> Response {
        guard let ticket = streams.ticket() else {
            throw Problem(status: 503, code: "too-many-streams", title: Problem.title(503),
                          detail: "\(streams.maximum) key-log streams are open (cluster.max_log_streams); long-poll instead, or retry later")
        }
        let deadlines = self.deadlines, keepAlive = streams.keepAlive
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        headers[.init("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { ticket.close() }
            var next = after
            try await deadlines.enforce { try await writer.write(ByteBuffer(string: ": custos key log from entry \(after)\n\n")) }
            while !Task.isCancelled, !Task.isShuttingDownGracefully, ContinuousClock.now < ticket.deadline {
                let page: ClusterLogResponse
                do {
                    let wait = max(min(keepAlive, ticket.deadline - .now), .zero), from = next
                    page = try await cancelWhenGracefulShutdown { try await replica.log(after: from, limit: 100, wait: wait) }
                } catch {
                    break
                }
                var text = page.entries.isEmpty ? ": keep-alive\n\n" : ""
                for entry in page.entries {
                    text += "id: \(entry.index)\nevent: entry\ndata: " + String(decoding: try JSONIO.encoder.encode(entry), as: UTF8.self) + "\n\n"
                    next = entry.index + 1
                }
                let chunk = ByteBuffer(string: text)
                try await deadlines.enforce { try await writer.write(chunk) }
            }
            try await writer.finish(nil)
        })
    }

    /// A SignedCommand as CBOR (`application/cbor`) or as JSON `{"command": base64}`.
    func commandBytes(_ request: Request) async throws -> [UInt8] {
        let bytes: [UInt8]
        if request.headers[.contentType]?.lowercased().hasPrefix("application/cbor") == true {
            var request = request
            do {
                bytes = Array(try await request.collectBody(upTo: Self.maxCommandBytes).readableBytesView)
            } catch is NIOTooManyBytesError {
                throw ClusterRouteError.invalid("a signed command is at most \(Self.maxCommandBytes) bytes")
            }
        } else {
            let body = try await decode(ClusterCommandRequest.self, request)
            bytes = try Self.base64(body.command, "command")
        }
        guard !bytes.isEmpty else { throw ClusterRouteError.invalid("command is empty") }
        guard bytes.count <= Self.maxCommandBytes else { throw ClusterRouteError.invalid("a signed command is at most \(Self.maxCommandBytes) bytes") }
        return bytes
    }

    static let maxCommandBytes = OperatorCommand.maximumByteCount

    // MARK: Arguments

    static func base64(_ text: String, _ field: String) throws -> [UInt8] {
        guard let bytes = Base64Text.decode(text) else { throw ClusterRouteError.invalid("\(field) is not canonical base64 (RFC 4648, padded)") }
        return bytes
    }

    static func digest(_ text: String, _ field: String) throws -> [UInt8] {
        guard text.utf8.count == 64, text == text.lowercased(), let bytes = Hex.decode(text) else {
            throw ClusterRouteError.invalid("\(field) must be 64 lower-case hex digits (32 bytes)")
        }
        return bytes
    }

    static func number(_ text: String, _ field: String, minimum: UInt64) throws -> UInt64 {
        guard let value = UInt64(text), value >= minimum else { throw ClusterRouteError.invalid("\(field) must be an integer of at least \(minimum)") }
        return value
    }

    static func phase(_ text: String) throws -> ConsensusPhase {
        guard let phase = ConsensusPhase.allCases.first(where: { $0.description == text }) else {
            throw ClusterRouteError.invalid("phase must be one of \(ConsensusPhase.allCases.map(\.description).joined(separator: ", "))")
        }
        return phase
    }

    static func message(view: UInt64, sequence: UInt64, phase: String, digest: String) throws -> ConsensusMessage {
        guard sequence >= 1 else { throw ClusterRouteError.invalid("sequence must be at least 1") }
        return try ConsensusMessage(view: view, sequence: sequence, phase: try Self.phase(phase), digest: try Self.digest(digest, "digest"))
    }

    static func keyName(_ name: ClusterKeyName) throws -> KeyName {
        guard (0...255).contains(name.replica) else { throw ClusterRouteError.invalid("a replica id is 0…255") }
        return KeyName(replica: ReplicaID(name.replica), generation: name.generation, epoch: name.epoch)
    }

    static func details(_ message: ConsensusMessage) -> [String: String] {
        ["view": "\(message.view)", "sequence": "\(message.sequence)", "phase": "\(message.phase)", "digest": Hex.encode(message.digest)]
    }
}

extension HTTPField.Name {
    /// The index of the last event a server-sent event reader saw (WHATWG HTML, 9.2).
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
