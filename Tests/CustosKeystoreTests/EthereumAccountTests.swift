import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

@Suite("Ethereum accounts in the keystore")
struct EthereumAccountTests {
    static func importAccount(_ fixture: Fixture, alias: KeyAlias, scalar: [UInt8], category: KeyCategory = .accounts) async throws {
        let sec1 = [0x30, 0x2e, 0x02, 0x01, 0x01, 0x04, 0x20] + scalar + [0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]
        let pem = "-----BEGIN EC PRIVATE KEY-----\n" + Data(sec1).base64EncodedString() + "\n-----END EC PRIVATE KEY-----\n"
        _ = try await fixture.service.importKey(KeySpec(tenant: "node-1", alias: alias, algorithm: .signing(.ecdsaSecp256k1Keccak256), category: category),
                                                privateKey: SecretBytes(Array(pem.utf8)), by: .local)
    }

    /// The public test keys of vectors/ethereum/signing.json: SHA-256 of a fixed text.
    static func scalar(_ index: Int) -> [UInt8] {
        Array(SHA256Digest.of(Array("custos-ethereum-test-key-\(index)".utf8)))
    }

    @Test func accountsAreListedAndFoundByTheirAddress() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        try await Self.importAccount(fixture, alias: "treasury", scalar: Self.scalar(0))
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "hot", algorithm: .signing(.ecdsaSecp256k1Keccak256), category: .accounts), by: .local)
        // Not accounts: another category, another scheme.
        try await Self.importAccount(fixture, alias: "ledger-eth", scalar: Self.scalar(1), category: .ledger)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "ed", algorithm: .signing(.ed25519), category: .accounts), by: .local)

        let accounts = try await service.ethereumAccounts(tenant: "node-1", by: .local)
        #expect(accounts.map(\.key.alias.rawValue) == ["hot", "treasury"])
        let treasury = try #require(accounts.first { $0.key.alias == "treasury" })
        // The address eth-account derives from the same key (vectors/ethereum/signing.json).
        #expect(treasury.address.checksummed == (try Self.vectorSender(keyIndex: 0)))
        #expect(try await service.ethereumAccount(tenant: "node-1", address: treasury.address, by: .local).key.alias == "treasury")
        // The address is shown wherever the key is: one key, listings, lookups by public key.
        #expect(try await service.key(tenant: "node-1", alias: "treasury", by: .local).ethereumAddress == treasury.address.checksummed)
        let listed = try await service.listKeys(tenant: "node-1", by: .local).keys
        #expect(listed.first { $0.alias == "treasury" }?.ethereumAddress == treasury.address.checksummed)
        #expect(listed.filter { $0.ethereumAddress != nil }.map(\.alias.rawValue).sorted() == ["hot", "treasury"])
        #expect(try await service.key(tenant: "node-1", alias: "ledger-eth", by: .local).ethereumAddress == nil)
        let stranger = try EthereumAddress("0x000000000000000000000000000000000000dEaD")
        await #expect(throws: KeystoreError.accountNotFound(tenant: "node-1", address: stranger.checksummed)) {
            try await service.ethereumAccount(tenant: "node-1", address: stranger, by: .local)
        }
        // An account keeps its address: rotation is refused, and audited as refused.
        await #expect(throws: KeystoreError.self) { try await service.rotate(tenant: "node-1", alias: "treasury", by: .local) }
        #expect(try await service.ethereumAccount(tenant: "node-1", address: treasury.address, by: .local).key.primaryVersion == 1)
        // The same scheme in another category is no account and rotates as any key does.
        #expect(try await service.rotate(tenant: "node-1", alias: "ledger-eth", by: .local).primaryVersion == 2)
        // A destroyed account is no longer listed.
        _ = try await service.destroy(tenant: "node-1", alias: "hot", by: .local)
        #expect(try await service.ethereumAccounts(tenant: "node-1", by: .local).map(\.key.alias.rawValue) == ["treasury"])
    }

    static func vectorSender(keyIndex: Int) throws -> String {
        let vectors = try EthereumVectorFile.load()
        let key = "0x" + Hex.encode(scalar(keyIndex))
        for vector in vectors["transactions"]?.arrayValue ?? [] where vector["key"] == .string(key) {
            if case .string(let sender)? = vector["sender"] { return sender }
        }
        throw KeystoreError.invalidArgument("no vector signed with test key \(keyIndex)")
    }

    @Test func transactionsMessagesAndTypedDataAreSignedAsEthAccountSignsThem() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        let vectors = try EthereumVectorFile.load()
        for index in 0..<3 { try await Self.importAccount(fixture, alias: try KeyAlias(validating: "a\(index)"), scalar: Self.scalar(index)) }
        func alias(_ key: JSONValue?) throws -> KeyAlias {
            let index = try #require((0..<3).first { key == .string("0x" + Hex.encode(Self.scalar($0))) })
            return try KeyAlias(validating: "a\(index)")
        }
        for vector in vectors["transactions"]?.arrayValue ?? [] {
            let (transaction, _) = try EthereumTransaction.parse(json: try #require(vector["transaction"]))
            let signed = try await service.signEthereumTransaction(transaction, tenant: "node-1", alias: try alias(vector["key"]), by: .local)
            #expect(vector["raw"] == .string(Hex.encode(signed.raw)))
        }
        for vector in vectors["personal_sign"]?.arrayValue ?? [] {
            guard case .string(let hex)? = vector["message"] else { Issue.record("no message"); continue }
            let signature = try await service.signEthereumMessage(Hex.decode(hex) ?? [], tenant: "node-1", alias: try alias(vector["key"]), by: .local)
            #expect(vector["signature"] == .string(Hex.encode(signature)))
        }
        for vector in vectors["typed_data"]?.arrayValue ?? [] where vector["name"] != .string("eip712-mail") {
            let data = try TypedData(json: try #require(vector["data"]))
            let signature = try await service.signEthereumTypedData(data, tenant: "node-1", alias: try alias(vector["key"]), by: .local)
            #expect(vector["signature"] == .string(Hex.encode(signature)))
        }
        // Each signature is audited under its own operation, with the transaction's hash.
        let records = try await service.store.auditRecords(AuditQuery(limit: 1000))
        let transactions = records.filter { $0.operation == AuditOperation.ethSignTransaction.rawValue && $0.outcome == "success" }
        #expect(transactions.count == 9)
        for record in transactions {
            let details = try JSONValue.parse(Array(record.details.utf8))
            #expect(details["hash"].map { if case .string(let hash) = $0 { hash.hasPrefix("0x") && hash.count == 66 } else { false } } == true)
            #expect(details["address"] != nil && details["chain_id"] != nil || details["type"] == .string("legacy"))
        }
        #expect(records.filter { $0.operation == AuditOperation.ethSignMessage.rawValue }.count == 5)
        #expect(records.filter { $0.operation == AuditOperation.ethSignTypedData.rawValue }.count == 2)
    }

    @Test func keysThatAreNotAccountsDoNotSignEthereumDigests() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let service = fixture.service
        try await Self.importAccount(fixture, alias: "ledger-eth", scalar: Self.scalar(1), category: .ledger)
        _ = try await service.generateKey(KeySpec(tenant: "node-1", alias: "ed", algorithm: .signing(.ed25519), category: .accounts), by: .local)
        try await Self.importAccount(fixture, alias: "off", scalar: Self.scalar(2))
        _ = try await service.disable(tenant: "node-1", alias: "off", by: .local)
        for alias: KeyAlias in ["ledger-eth", "ed", "off", "missing"] {
            await #expect(throws: KeystoreError.self) {
                try await service.signEthereumMessage([1], tenant: "node-1", alias: alias, by: .local)
            }
        }
        // Every refusal is audited as a failure, with no signature made.
        let records = try await service.store.auditRecords(AuditQuery(limit: 1000))
        let failures = records.filter { $0.operation == AuditOperation.ethSignMessage.rawValue }
        #expect(failures.count == 4 && failures.allSatisfy { $0.outcome == "failure" })
        #expect(try failures.map { try JSONValue.parse(Array($0.details.utf8))["error"] }
                == [.string("wrong-key-kind"), .string("wrong-key-kind"), .string("key-disabled"), .string("key-not-found")])
    }
}

/// vectors/ethereum/signing.json, read exactly.
enum EthereumVectorFile {
    static func load() throws -> JSONValue {
        let directory = ProcessInfo.processInfo.environment["CUSTOS_VECTORS"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("vectors")
        return try JSONValue.parse(Array(try Data(contentsOf: directory.appendingPathComponent("ethereum/signing.json"))))
    }
}

extension JSONValue {
    var arrayValue: [JSONValue] { if case .array(let elements) = self { elements } else { [] } }
}
