import CustosAPI
import CustosCrypto
import CustosKeystore
import Foundation
import Hummingbird
import Metrics

/// Signing, verification (single and batch), encryption and HMAC.
struct CryptoRoutes {
    let keys: KeyService
    let io: JSONIO
    let batchMaxItems: Int
    let metrics: ServerMetrics

    func register(on router: RouterGroup<CustosRequestContext>) {
        router.on(.sign) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let body = try await io.decode(SignRequest.self, from: request)
            let result = try await sign(tenant: tenant, alias: alias, message: body.message, format: body.format, by: principal)
            return JSONIO.response(json: result.jsonBytes)
        }
        router.on(.verify) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let body = try await io.decode(VerifyRequest.self, from: request)
            return try JSONIO.response(try await verify(tenant: tenant, alias: alias, message: body.message, signature: body.signature,
                                                        format: body.format, version: body.version, by: principal))
        }
        router.on(.signBatch) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            try await keys.requireAccess(.useKeys, tenant: tenant, operation: .sign, by: principal)
            let body = try await io.decode(BatchBody<BatchSignRequest.Item>.self, from: request)
            try checkBatchSize(body.items.count)
            // Malformed items fail here; the rest are signed together, with one audit commit.
            var results = [BatchItemResult<SignResponse>?](repeating: nil, count: body.items.count)
            var requests: [SignRequestItem] = []
            var positions: [Int] = []
            for (index, slot) in body.items.enumerated() {
                do {
                    let item = try slot.get()
                    requests.append(SignRequestItem(alias: item.alias, message: try Field.base64(item.message, "message"),
                                                    format: try SignatureFormat.parse(item.format)))
                    positions.append(index)
                } catch {
                    results[index] = BatchItemResult(index: index, result: nil, error: Problem(error).summary)
                }
            }
            for (position, outcome) in zip(positions, try await keys.signBatch(tenant: tenant, items: requests, by: principal)) {
                switch outcome {
                case .success(let result):
                    metrics.signed(scheme: result.scheme.rawValue)
                    results[position] = BatchItemResult(index: position, result: SignResponse(result), error: nil)
                case .failure(let error):
                    results[position] = BatchItemResult(index: position, result: nil, error: Problem(error).summary)
                }
            }
            try Task.checkCancellation()
            return JSONIO.response(json: BatchResponse(results: results.map { $0! }).jsonBytes)
        }
        router.on(.verifyBatch) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            try await keys.requireAccess(.verify, tenant: tenant, operation: .verify, by: principal)
            let body = try await io.decode(BatchBody<BatchVerifyRequest.Item>.self, from: request)
            try checkBatchSize(body.items.count)
            let results = await perItem(body.items) { slot in
                let item = try slot.get()
                return try await verify(tenant: tenant, alias: try KeyAlias(validating: item.alias), message: item.message, signature: item.signature,
                                 format: item.format, version: item.version, by: principal)
            }
            return try JSONIO.response(BatchResponse(results: results))
        }
        router.on(.encrypt) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let body = try await io.decode(EncryptRequest.self, from: request)
            let sealed = try await keys.encrypt(tenant: tenant, alias: alias, plaintext: try Field.base64(body.plaintext, "plaintext"),
                                                associatedData: try body.associatedData.map { try Field.base64($0, "associated_data") } ?? [],
                                                by: principal)
            return try JSONIO.response(EncryptResponse(ciphertext: Data(sealed).base64EncodedString()))
        }
        router.on(.decrypt) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let body = try await io.decode(DecryptRequest.self, from: request)
            let plaintext = try await keys.decrypt(tenant: tenant, alias: alias, ciphertext: try Field.base64(body.ciphertext, "ciphertext"),
                                                   associatedData: try body.associatedData.map { try Field.base64($0, "associated_data") } ?? [],
                                                   by: principal)
            // The caller asked for this plaintext; it leaves only in the response body.
            return try JSONIO.response(DecryptResponse(plaintext: plaintext.withUnsafeBytes { Data($0).base64EncodedString() }))
        }
        router.on(.hmac) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context), alias = try Field.alias(context)
            let body = try await io.decode(HMACRequest.self, from: request)
            let message = try Field.base64(body.message, "message")
            if let mac = body.mac {
                let valid = try await keys.verifyMAC(tenant: tenant, alias: alias, message: message, mac: try Field.base64(mac, "mac"), by: principal)
                return try JSONIO.response(HMACResponse(mac: nil, version: nil, valid: valid))
            }
            let result = try await keys.mac(tenant: tenant, alias: alias, message: message, by: principal)
            return try JSONIO.response(HMACResponse(mac: Data(result.mac).base64EncodedString(), version: result.version, valid: nil))
        }
    }

    private func sign(tenant: TenantID, alias: KeyAlias, message: String, format: String?, by principal: Principal) async throws -> SignResponse {
        let result = try await keys.sign(tenant: tenant, alias: alias, message: try Field.base64(message, "message"),
                                         format: try SignatureFormat.parse(format), by: principal)
        metrics.signed(scheme: result.scheme.rawValue)
        return SignResponse(result)
    }

    private func verify(tenant: TenantID, alias: KeyAlias, message: String, signature: String, format: String?, version: Int?,
                        by principal: Principal) async throws -> VerifyResponse {
        let result = try await keys.verify(tenant: tenant, alias: alias, message: try Field.base64(message, "message"),
                                           signature: try Field.base64(signature, "signature"), format: try SignatureFormat.parse(format),
                                           version: version, by: principal)
        return VerifyResponse(result)
    }

    private func checkBatchSize(_ count: Int) throws {
        guard count >= 1, count <= batchMaxItems else {
            throw Problem.invalid("a batch holds 1 to \(batchMaxItems) items, got \(count)")
        }
    }

    /// Runs every item concurrently (their audit records share group commits) and
    /// keeps each one's result or error in request order; one failure never fails the
    /// others.
    private func perItem<Item: Sendable, Result: Codable & Sendable>(
        _ items: [Item], _ body: @escaping @Sendable (Item) async throws -> Result
    ) async -> [BatchItemResult<Result>] {
        await withTaskGroup(of: BatchItemResult<Result>.self) { group in
            for (index, item) in items.enumerated() {
                group.addTask {
                    do {
                        // Past the request's deadline the remaining items stop here.
                        try Task.checkCancellation()
                        return BatchItemResult(index: index, result: try await body(item), error: nil)
                    } catch {
                        return BatchItemResult(index: index, result: nil, error: Problem(error).summary)
                    }
                }
            }
            var results: [BatchItemResult<Result>] = []
            results.reserveCapacity(items.count)
            for await result in group { results.append(result) }
            return results.sorted { $0.index < $1.index }
        }
    }
}
