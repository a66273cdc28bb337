import CustosAPI
import CustosEthereum
import CustosJSON
import CustosKeystore
import Hummingbird
import NIOCore

/// The Ethereum API: accounts, signing, policies, nonces, the tenant's chain, decoding
/// and recovery, and the JSON-RPC endpoint for web3 tooling.
struct EthereumRoutes {
    let operations: EthereumOperations
    let io: JSONIO
    let rpcMaxBatch: Int

    func register(on router: RouterGroup<CustosRequestContext>) {
        for endpoint in Endpoint.ethereum {
            router.on(endpoint) { request, context in
                let principal = try context.requirePrincipal()
                let tenant = try Field.tenant(context)
                let account = endpoint.parameters.contains("account") ? try Field.path(context, "account") : nil
                let body = endpoint.method == .post ? try await io.readJSON(request) : nil
                let answer = try await operations.perform(endpoint, tenant: tenant, account: account, body: body, by: principal)
                return JSONIO.response(json: Array(answer.text.utf8))
            }
        }
        let rpc = EthereumRPC(operations: operations, maxBatch: rpcMaxBatch)
        router.on(.ethRPC) { request, context in
            let principal = try context.requirePrincipal()
            let tenant = try Field.tenant(context)
            let answer = await rpc.answer(try await io.readBody(request), tenant: tenant, by: principal)
            return JSONIO.response(json: Array(answer.text.utf8))
        }
    }
}
