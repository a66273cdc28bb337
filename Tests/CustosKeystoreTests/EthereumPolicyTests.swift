import BigInt
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosStore
import Foundation
import Synchronization
import Testing

@testable import CustosKeystore

/// The tenant's chain, account policies and nonce tracking, through the keystore.
@Suite("Ethereum chains, policies and nonces")
struct EthereumPolicyTests {
    static let recipient = "0x3535353535353535353535353535353535353535"

    static func request(_ fields: String) throws -> EthereumTransactionRequest {
        try EthereumTransactionRequest(json: try JSONValue.parse(Array("{\"gas\": 21000, \"gasPrice\": 1000000000, \(fields)}".utf8)))
    }

    /// Imports the account and, given `chain`, makes it the tenant's chain.
    static func account(_ fixture: Fixture, alias: KeyAlias = "treasury", chain: UInt64? = nil) async throws {
        try await EthereumAccountTests.importAccount(fixture, alias: alias, scalar: EthereumAccountTests.scalar(0))
        if let chain { try await fixture.service.setEthereumChain(chain, tenant: "node-1", by: .local) }
    }

    static func records(_ fixture: Fixture, _ operation: AuditOperation) async throws -> [AuditRecord] {
        try await fixture.service.store.auditRecords(AuditQuery(limit: 10_000)).filter { $0.operation == operation.rawValue }
    }

    static func nextNonce(_ service: KeyService, chain: UInt64?, alias: KeyAlias = "treasury") async throws -> UInt64? {
        try await service.ethereumAccountStates(tenant: "node-1", alias: alias, by: .local).first { $0.chainID == chain }?.nextNonce
    }

    @Test func theTenantsChainFillsAndBoundsTransactions() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        try await Self.account(fixture)
        // No chain configured: a request must name one.
        await #expect { try await service.signEthereumTransaction(try Self.request("\"to\": \"\(Self.recipient)\""), tenant: "node-1", alias: "treasury", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "invalid-argument" && "\($0)".contains("no chain configured") }
        #expect(try await service.ethereumChain(tenant: "node-1", by: .local) == nil)

        try await service.setEthereumChain(5, tenant: "node-1", by: .local)
        #expect(try await service.ethereumChain(tenant: "node-1", by: .local) == 5)
        let filled = try await service.signEthereumTransaction(try Self.request("\"to\": \"\(Self.recipient)\""), tenant: "node-1", alias: "treasury", by: .local)
        #expect(filled.transaction.chainID == 5 && filled.transaction.nonce == 0)
        // The raw transaction decodes, for chain 5 only, to the account.
        let decoded = try SignedEthereumTransaction(raw: filled.raw, expectedChainID: 5)
        #expect(try decoded.sender().checksummed == (try EthereumAccountTests.vectorSender(keyIndex: 0)))

        for (fields, expected) in [("\"chainId\": 1", "chain 1 is not the chain tenant 'node-1' signs for (5)"),
                                   ("\"chainId\": null", "could be replayed on any chain")] {
            await #expect { try await service.signEthereumTransaction(try Self.request("\(fields), \"to\": \"\(Self.recipient)\""), tenant: "node-1", alias: "treasury", by: .local) }
                throws: { ($0 as? KeystoreError)?.code == "ethereum-refused" && "\($0)".contains(expected) }
        }
        // Refusals consumed no nonce.
        #expect(try await Self.nextNonce(service, chain: 5) == 1)
        await #expect(throws: KeystoreError.self) { try await service.setEthereumChain(0, tenant: "node-1", by: .local) }
        await #expect { try await service.setEthereumChain(5, tenant: "nobody", by: .local) } throws: { ($0 as? KeystoreError)?.code == "tenant-not-found" }

        try await service.setEthereumChain(nil, tenant: "node-1", by: .local)
        let replayable = try await service.signEthereumTransaction(try Self.request("\"chainId\": null, \"to\": \"\(Self.recipient)\""), tenant: "node-1", alias: "treasury", by: .local)
        #expect(replayable.transaction.chainID == nil && replayable.transaction.nonce == 0)
        let changes = try await Self.records(fixture, .ethSetChain)
        #expect(changes.filter { $0.outcome == "success" }.map { $0.detailValues["chain_id"] } == ["5", "none"])
        #expect(changes.filter { $0.outcome == "failure" }.compactMap { $0.detailValues["error"] } == ["invalid-argument", "tenant-not-found"])
        // A signer token may sign but not change the chain.
        let signer = Principal(id: "token:s", tenant: "node-1", role: .signer)
        await #expect { try await service.setEthereumChain(1, tenant: "node-1", by: signer) } throws: { ($0 as? KeystoreError)?.code == "forbidden" }
    }

    @Test func concurrentRequestsNeverShareANonce() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        try await Self.account(fixture, chain: 1)
        let request = try Self.request("\"to\": \"\(Self.recipient)\", \"value\": 1")
        let nonces = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for _ in 0..<40 {
                group.addTask { try await service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local).transaction.nonce }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(nonces.sorted() == Array(0..<40))
        // Every signing's audit record names its nonce, and says Custos picked it.
        let audited = try await Self.records(fixture, .ethSignTransaction)
        #expect(audited.compactMap { $0.detailValues["nonce"].flatMap(UInt64.init) }.sorted() == Array(0..<40))
        #expect(audited.allSatisfy { $0.detailValues["nonce_from"] == "custos" && $0.detailValues["chain_id"] == "1" })

        // A caller's own nonce moves the counter past it, never back.
        _ = try await service.signEthereumTransaction(try Self.request("\"nonce\": 100, \"to\": \"\(Self.recipient)\""), tenant: "node-1", alias: "treasury", by: .local)
        #expect(try await Self.nextNonce(service, chain: 1) == 101)
        _ = try await service.signEthereumTransaction(try Self.request("\"nonce\": 7, \"to\": \"\(Self.recipient)\""), tenant: "node-1", alias: "treasury", by: .local)
        #expect(try await Self.nextNonce(service, chain: 1) == 101)
        // An operator sets it back (transactions signed but never sent), audited.
        try await service.setEthereumNonce(41, chainID: 1, tenant: "node-1", alias: "treasury", by: .local)
        #expect(try await service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local).transaction.nonce == 41)
        #expect(try await Self.records(fixture, .ethSetNonce).first?.detailValues["previous"] == "101")
        await #expect { try await service.setEthereumNonce(UInt64.max, chainID: 1, tenant: "node-1", alias: "treasury", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "invalid-argument" }
        // Chains count separately.
        try await service.setEthereumChain(nil, tenant: "node-1", by: .local)
        #expect(try await service.signEthereumTransaction(try Self.request("\"chainId\": 5, \"to\": \"\(Self.recipient)\""), tenant: "node-1", alias: "treasury", by: .local).transaction.nonce == 0)
    }

    @Test func twoProcessesOnOneDatabaseNeverShareANonce() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        try await Self.account(fixture, chain: 1)
        // A second keystore on the same files, as a second worker process would open them.
        let root = try PassphraseRoot.unseal(at: fixture.rootPath, passphrase: SecretBytes(Array(Fixture.passphrase.utf8)))
        let other = try await KeyService(store: try await SQLiteStore.open(path: fixture.databasePath), root: root)
        defer { Task { try? await other.close() } }
        let request = try Self.request("\"to\": \"\(Self.recipient)\"")
        let nonces = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<30 {
                let service = index % 2 == 0 ? fixture.service : other
                group.addTask { try await service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local).transaction.nonce }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(nonces.sorted() == Array(0..<30))
        #expect(try await Self.nextNonce(other, chain: 1) == 30)
    }

    @Test func aPolicyRefusesNamingTheRuleAndSignsNothing() async throws {
        let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))  // 2027-01-15T08:00:00Z
        let fixture = try await Fixture.make(clock: { now.withLock { $0 } })
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        try await Self.account(fixture)
        let policy = try EthereumPolicy(json: try JSONValue.parse(Array("""
            {"chain_ids": [1, 5], "recipients": ["\(Self.recipient)"], "max_value": "1000", "max_gas_price": "0x77359400",
             "daily_value_limit": 2500, "sign_messages": false}
            """.utf8)))
        #expect(policy.maxGasPrice == 2_000_000_000)
        try await service.setEthereumPolicy(policy, tenant: "node-1", alias: "treasury", by: .local)
        #expect(try await service.ethereumPolicy(tenant: "node-1", alias: "treasury", by: .local) == policy)

        let to = "\"to\": \"\(Self.recipient)\""
        let refused: [(String, String)] = [
            ("\"chainId\": 3, \(to)", "chain_ids"),
            ("\"chainId\": null, \(to)", "chain_ids"),
            ("\"chainId\": 1, \"to\": \"0x000000000000000000000000000000000000dEaD\"", "recipients"),
            ("\"chainId\": 1, \"data\": \"0x6000\"", "recipients"),
            ("\"chainId\": 1, \(to), \"value\": 1001", "max_value"),
            ("\"chainId\": 1, \(to), \"gasPrice\": 2000000001", "max_gas_price"),
        ]
        for (fields, rule) in refused {
            let json = "{\"gas\": 21000, " + (fields.contains("gasPrice") ? "" : "\"gasPrice\": 1, ") + fields + "}"
            let request = try EthereumTransactionRequest(json: try JSONValue.parse(Array(json.utf8)))
            await #expect { try await service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local) }
                throws: { error in
                    guard case .policyRefused(let refusal)? = error as? KeystoreError else { return false }
                    return refusal.rule == rule && (error as? KeystoreError)?.code == "policy-refused" && "\(error)".contains("(\(rule))")
                }
        }
        // A fee cap is checked as the gas price it may become.
        let dynamic = try EthereumTransactionRequest(json: try JSONValue.parse(Array(
            "{\"chainId\": 1, \(to), \"gas\": 21000, \"maxFeePerGas\": 3000000000, \"maxPriorityFeePerGas\": 1}".utf8)))
        await #expect { try await service.signEthereumTransaction(dynamic, tenant: "node-1", alias: "treasury", by: .local) }
            throws: { "\($0)".contains("(max_gas_price)") }
        // Each refusal is audited as denied, with its rule; none used a nonce.
        let denied = try await Self.records(fixture, .ethSignTransaction).filter { $0.outcome == "denied" }
        #expect(denied.compactMap { $0.detailValues["rule"] } == refused.map(\.1) + ["max_gas_price"])
        #expect(try await Self.nextNonce(service, chain: 1) == nil)

        // The daily limit: 1000 + 1000 pass, 1000 more would pass 2500; 500 fits.
        let spend = { (value: Int) throws -> EthereumTransactionRequest in try Self.request("\"chainId\": 1, \(to), \"value\": \(value)") }
        _ = try await service.signEthereumTransaction(try spend(1000), tenant: "node-1", alias: "treasury", by: .local)
        _ = try await service.signEthereumTransaction(try spend(1000), tenant: "node-1", alias: "treasury", by: .local)
        await #expect { try await service.signEthereumTransaction(try spend(1000), tenant: "node-1", alias: "treasury", by: .local) }
            throws: { "\($0)".contains("(daily_value_limit)") && "\($0)".contains("3000 wei") }
        _ = try await service.signEthereumTransaction(try spend(500), tenant: "node-1", alias: "treasury", by: .local)
        // Another chain has its own total.
        _ = try await service.signEthereumTransaction(try Self.request("\"chainId\": 5, \(to), \"value\": 1000"), tenant: "node-1", alias: "treasury", by: .local)
        let states = try await service.ethereumAccountStates(tenant: "node-1", alias: "treasury", by: .local)
        #expect(states.map(\.spentToday) == [2500, 1000] && states.map(\.nextNonce) == [3, 1] && states.allSatisfy { $0.day == "2027-01-15" })
        // The next UTC day starts from zero.
        now.withLock { $0 += 86_400 }
        _ = try await service.signEthereumTransaction(try spend(1000), tenant: "node-1", alias: "treasury", by: .local)
        #expect(try await service.ethereumAccountStates(tenant: "node-1", alias: "treasury", by: .local).first?.spentToday == 1000)

        // Messages and typed data are refused with their rule.
        await #expect { try await service.signEthereumMessage([1, 2, 3], tenant: "node-1", alias: "treasury", by: .local) }
            throws: { "\($0)".contains("(sign_messages)") }
        // Removing the policy lets them through; the removal is audited.
        try await service.setEthereumPolicy(nil, tenant: "node-1", alias: "treasury", by: .local)
        #expect(try await service.ethereumPolicy(tenant: "node-1", alias: "treasury", by: .local) == .unrestricted)
        _ = try await service.signEthereumMessage([1, 2, 3], tenant: "node-1", alias: "treasury", by: .local)
        #expect(try await Self.records(fixture, .ethSetPolicy).map { $0.detailValues["policy"] ?? "" }.last == "none")
    }

    @Test func typedDataIsHeldToTheChainsAndASignerCannotJumpTheNonce() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        try await Self.account(fixture, chain: 1337)
        func typed(_ domain: String) throws -> TypedData {
            try TypedData(json: try JSONValue.parse(Array("""
                {"types": {"Note": [{"name": "text", "type": "string"}]}, "primaryType": "Note", "domain": {\(domain)}, "message": {"text": "hi"}}
                """.utf8)))
        }
        // A permit for mainnet, from a tenant on chain 1337: refused; its own chain, or none named, signs.
        await #expect { try await service.signEthereumTypedData(try typed("\"chainId\": 1"), tenant: "node-1", alias: "treasury", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "ethereum-refused" && "\($0)".contains("domain is for chain 1") }
        _ = try await service.signEthereumTypedData(try typed("\"chainId\": \"0x539\""), tenant: "node-1", alias: "treasury", by: .local)
        _ = try await service.signEthereumTypedData(try typed("\"name\": \"no chain\""), tenant: "node-1", alias: "treasury", by: .local)
        try await service.setEthereumChain(nil, tenant: "node-1", by: .local)
        try await service.setEthereumPolicy(EthereumPolicy(chainIDs: [5]), tenant: "node-1", alias: "treasury", by: .local)
        await #expect { try await service.signEthereumTypedData(try typed("\"chainId\": 1"), tenant: "node-1", alias: "treasury", by: .local) }
            throws: { "\($0)".contains("(chain_ids)") }

        // A signer may not move the counter more than 1,000 ahead; an operator may.
        try await service.setEthereumPolicy(nil, tenant: "node-1", alias: "treasury", by: .local)
        let signer = Principal(id: "token:s", tenant: "node-1", role: .signer)
        let far = try Self.request("\"chainId\": 5, \"nonce\": 18446744073709551614, \"to\": \"\(Self.recipient)\"")
        await #expect { try await service.signEthereumTransaction(far, tenant: "node-1", alias: "treasury", by: signer) }
            throws: { ($0 as? KeystoreError)?.code == "ethereum-refused" && "\($0)".contains("more than 1000 past") }
        let near = try Self.request("\"chainId\": 5, \"nonce\": 1000, \"to\": \"\(Self.recipient)\"")
        #expect(try await service.signEthereumTransaction(near, tenant: "node-1", alias: "treasury", by: signer).transaction.nonce == 1000)
        let operatorSigner = Principal(id: "token:a", tenant: "node-1", role: .admin)
        _ = try await service.signEthereumTransaction(try Self.request("\"chainId\": 5, \"nonce\": 50000, \"to\": \"\(Self.recipient)\""),
                                                      tenant: "node-1", alias: "treasury", by: operatorSigner)
        #expect(try await Self.nextNonce(service, chain: 5) == 50001)
    }

    @Test func onlyAccountsHavePoliciesAndNonces() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "ed", algorithm: .signing(.ed25519), category: .accounts), by: .local)
        await #expect { try await service.setEthereumPolicy(.unrestricted, tenant: "node-1", alias: "ed", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "wrong-key-kind" }
        await #expect { try await service.setEthereumNonce(1, chainID: 1, tenant: "node-1", alias: "ed", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "wrong-key-kind" }
        await #expect { try await service.ethereumPolicy(tenant: "node-1", alias: "absent", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "key-not-found" }
        await #expect { try await service.ethereumAccount(tenant: "node-1", account: "0x12", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "invalid-argument" }
    }

    @Test func editedPolicyNonceAndChainRowsAreRefused() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        var service = fixture.service
        try await Self.account(fixture, chain: 1)
        try await service.setEthereumPolicy(EthereumPolicy(dailyValueLimit: 10), tenant: "node-1", alias: "treasury", by: .local)
        let request = try Self.request("\"to\": \"\(Self.recipient)\", \"value\": 10")
        _ = try await service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local)

        // Resetting the day's total (to sign past the limit) while Custos runs changes nothing: it
        // signs from the state it wrote, and the limit holds.
        try await fixture.execute("UPDATE eth_account_state SET spent = '0'")
        await #expect { try await fixture.service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local) }
            throws: { "\($0)".contains("(daily_value_limit)") }
        // After a restart the edited row is read, and refused.
        service = try await fixture.reopened().service
        await #expect { try await service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "corrupt-record" && "\($0)".contains("edited outside Custos") }
        try await fixture.execute("UPDATE eth_account_state SET spent = '10', next_nonce = '0'")
        service = try await fixture.reopened().service
        await #expect { try await service.signEthereumTransaction(request, tenant: "node-1", alias: "treasury", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "corrupt-record" }
        // Loosening the policy, or moving the chain, is refused too (read again after a restart).
        try await fixture.execute("UPDATE eth_policies SET policy = CAST('{\"sign_messages\":true}' AS BLOB)")
        service = try await fixture.reopened().service
        await #expect { try await service.signEthereumMessage([1], tenant: "node-1", alias: "treasury", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "corrupt-record" }
        try await fixture.execute("UPDATE eth_chains SET chain_id = '5'")
        service = try await fixture.reopened().service
        await #expect { try await service.ethereumChain(tenant: "node-1", by: .local) }
            throws: { ($0 as? KeystoreError)?.code == "corrupt-record" }
    }
}
