import CustosAPI
import CustosCluster
import CustosCrypto
import CustosKeystore
import CustosStore
import Foundation
import Hummingbird

/// The node's routes on the replica network (docs/cluster.md): notices in, shares and
/// signatures out. Tokens of role `node` operate the replica; admins and auditors read it.
/// Every call is authorised before anything else and audited as the calling token (a refusal
/// always; a POST's success too).
struct ClusterRoutes {
    let keys: KeyService
    let io: JSONIO
    let cluster: ClusterHandle
    static let maxLogPage = 1000

    func register(on router: RouterGroup<CustosRequestContext>) {
        router.on(.clusterStatus) { _, context in
            try JSONIO.response(try await read(.clusterStatus, context) { try await $0.status() })
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
            try JSONIO.response(try await read(.clusterLog, context) { replica in
                let after = try Field.query(request, "after").map { try Self.number($0, "after", minimum: 0) } ?? 0
                let limit = try Field.query(request, "limit").map { try Self.number($0, "limit", minimum: 1) } ?? UInt64(Self.maxLogPage)
                guard limit <= Self.maxLogPage else { throw ClusterRouteError.invalid("limit must be at most \(Self.maxLogPage)") }
                return try await replica.log(after: after, limit: Int(limit))
            })
        }
        router.on(.clusterLogExport) { _, context in
            try JSONIO.response(try await read(.clusterLog, context) { try await $0.export() })
        }

        router.on(.clusterSchedule) { request, context in
            try JSONIO.response(try await operate(.clusterSchedule, context) { replica in
                let body = try await decode(ClusterScheduleRequest.self, request)
                guard body.sequence >= 1 else { throw ClusterRouteError.invalid("sequence must be at least 1") }
                let entry = try await replica.schedule(sequence: body.sequence, record: try Self.base64(body.record, "record"),
                                                       certificate: try Self.base64(body.certificate, "certificate"))
                return (entry, ["sequence": "\(body.sequence)", "index": "\(entry.index)", "status": entry.status])
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
        try await mapped {
            try await keys.auditedCluster(operation, .operateCluster, by: try context.requirePrincipal()) {
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
