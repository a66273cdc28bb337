import CustosCrypto
import CustosStore
import Foundation
import Testing

@testable import CustosKeystore

/// Free text and names a hostile caller controls, and the rules of who may do what.
@Suite("Hostile input")
struct HostileInputTests {
    static let unsafe = ["two\nlines", "\u{1B}]0;title\u{07}", "\u{1B}[2J", "nul\u{0}", "rtl\u{202E}txt", "tab\there", "c1\u{9B}x", "del\u{7F}"]

    func spec(_ alias: KeyAlias = "k", labels: [String: String] = [:], externalID: String? = nil) -> KeySpec {
        KeySpec(tenant: "node-1", alias: alias, algorithm: .signing(.ed25519), labels: labels, externalID: externalID)
    }

    @Test func controlAndBidiCharactersAreRefusedInFreeText() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let tokens = TokenService(store: fixture.service.store, audit: fixture.service.audit)
        for value in Self.unsafe {
            await #expect(throws: KeystoreError.self) { try await fixture.service.generateKey(spec(labels: ["l": value]), by: .local) }
            await #expect(throws: KeystoreError.self) { try await fixture.service.generateKey(spec(externalID: value), by: .local) }
            await #expect(throws: KeystoreError.self) {
                try await tokens.create(tenant: nil, role: .auditor, lifetime: 60, description: value, by: .local)
            }
            #expect(throws: KeystoreError.self) { try KeyAlias(validating: "a" + value) }
        }
        // Length limits, in bytes of UTF-8.
        await #expect(throws: KeystoreError.self) { try await fixture.service.generateKey(spec(externalID: String(repeating: "é", count: 129)), by: .local) }
        await #expect(throws: KeystoreError.self) { try await fixture.service.generateKey(spec(labels: ["l": String(repeating: "v", count: 257)]), by: .local) }
        await #expect(throws: KeystoreError.self) {
            try await tokens.create(tenant: nil, role: .auditor, lifetime: 60, description: String(repeating: "d", count: 201), by: .local)
        }
        #expect(try await fixture.service.store.tokens(tenantID: nil).isEmpty)
        // At the limits, and with harmless non-ASCII text, everything is accepted.
        let key = try await fixture.service.generateKey(spec(labels: ["l": String(repeating: "v", count: 256)], externalID: String(repeating: "é", count: 128)), by: .local)
        #expect(key.externalID?.count == 128)
        _ = try await tokens.create(tenant: nil, role: .auditor, lifetime: 60, description: String(repeating: "d", count: 200), by: .local)
    }

    @Test func aFailedBatchItemRecordsItsAliasEscaped() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(spec(), by: .local)
        let items = Self.unsafe.map { SignRequestItem(alias: "x" + $0, message: [1]) } + [SignRequestItem(alias: "k", message: [1])]
        let outcomes = try await fixture.service.signBatch(tenant: "node-1", items: items, by: .local)
        #expect(outcomes.dropLast().allSatisfy { if case .failure(let error) = $0 { error.code == "invalid-name" } else { false } })
        let records = try await fixture.service.store.auditRecords(AuditQuery(limit: 1000, operation: "sign"))
        let aliases = records.compactMap { $0.detailValues["alias"] }
        #expect(aliases.contains("xtwo\\nlines"))
        #expect(aliases.contains("xrtl\\u{202E}txt"))
        for record in records {
            #expect(!record.details.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E })
        }
    }

    @Test func aProofOfPossessionIsASignerOperation() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(KeySpec(tenant: "node-1", alias: "bls", algorithm: .signing(.bls12381Pop)), by: .local)
        for role in [Role.operator, .auditor] {
            let caller = Principal(id: "token:\(role)", tenant: "node-1", role: role)
            await #expect(throws: KeystoreError.forbidden("role '\(role.rawValue)' may not use keys")) {
                try await fixture.service.proofOfPossession(tenant: "node-1", alias: "bls", by: caller)
            }
        }
        let signer = Principal(id: "token:s", tenant: "node-1", role: .signer)
        #expect(try await fixture.service.proofOfPossession(tenant: "node-1", alias: "bls", by: signer).proof.count == 96)
    }

    @Test func aTokenNeverOutlivesOrSurvivesTheTokenThatMadeIt() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let tokens = TokenService(store: fixture.service.store, audit: fixture.service.audit, timeToLive: .zero)
        let parent = try await tokens.create(tenant: nil, role: .admin, lifetime: 60, by: .local)
        let parentPrincipal = try await tokens.authenticate(bearer: parent.bearer.copyBytes())
        await #expect(throws: KeystoreError.self) {
            try await tokens.create(tenant: nil, role: .signer, lifetime: 3600, by: parentPrincipal)
        }
        let child = try await tokens.create(tenant: nil, role: .admin, lifetime: 50, by: parentPrincipal)
        let childPrincipal = try await tokens.authenticate(bearer: child.bearer.copyBytes())
        let grandchild = try await tokens.create(tenant: "node-1", role: .signer, lifetime: 40, by: childPrincipal)
        let unrelated = try await tokens.create(tenant: nil, role: .auditor, lifetime: 40, by: .local)
        _ = try await tokens.revoke(id: parent.info.id, by: .local)
        for heir in [child, grandchild] {
            await #expect(throws: KeystoreError.invalidToken) { try await tokens.authenticate(bearer: heir.bearer.copyBytes()) }
        }
        #expect(try await tokens.authenticate(bearer: unrelated.bearer.copyBytes()).role == .auditor)
        let revocations = try await fixture.service.store.auditRecords(AuditQuery(limit: 1000, operation: "token.revoke"))
        #expect(Set(revocations.compactMap { $0.detailValues["token"] }) == [parent.info.id, child.info.id, grandchild.info.id])
    }

    @Test func onlyTheExactSpellingOfATokenAuthenticates() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        let tokens = TokenService(store: fixture.service.store, audit: fixture.service.audit)
        let created = try await tokens.create(tenant: nil, role: .auditor, lifetime: 60, by: .local)
        let bearer = created.bearer.copyBytes()
        #expect(try await tokens.authenticate(bearer: bearer).role == .auditor)
        // The last of 43 base64url characters carries two unused bits: the other three
        // spellings of the same secret are other strings, and are refused.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let last = alphabet.firstIndex(of: bearer.last!)!
        for variant in (0..<4).map({ alphabet[(last & ~3) | $0] }) where variant != bearer.last! {
            await #expect(throws: KeystoreError.invalidToken) { try await tokens.authenticate(bearer: bearer.dropLast() + [variant]) }
        }
    }

    @Test func anOperationCutOffByItsDeadlineIsAuditedAsATimeout() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.cleanUp() } }
        _ = try await fixture.service.generateKey(spec(), by: .local)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await fixture.service.signBatch(tenant: "node-1", items: [SignRequestItem(alias: "k", message: [1])], by: .local)
        }
        let outcomes = try await task.value
        guard case .failure(let error) = outcomes[0] else { Issue.record("a cancelled batch item was signed"); return }
        #expect(error == .deadlineExceeded && error.code == "timeout")
        let failures = try await fixture.service.store.auditRecords(AuditQuery(limit: 1000, operation: "sign")).filter { $0.outcome == "failure" }
        #expect(failures.map { $0.detailValues["error"] } == ["timeout"])
        await #expect(throws: KeystoreError.deadlineExceeded) { try await mappingErrors { throw CancellationError() } }
    }

    @Test func secretsAreTakenOutOfTheEnvironment() throws {
        setenv("CUSTOS_HSM_PIN_UNITTEST", "1234-not-a-pin", 1)
        setenv("CUSTOS_TPM_AUTH", "not-an-auth", 1)
        setenv("CUSTOS_NOT_A_SECRET_UNITTEST", "stays", 1)
        SecretEnvironment.capture()
        #expect(getenv("CUSTOS_HSM_PIN_UNITTEST") == nil && getenv("CUSTOS_TPM_AUTH") == nil)
        #expect(ProcessInfo.processInfo.environment["CUSTOS_HSM_PIN_UNITTEST"] == nil)
        #expect(String(cString: getenv("CUSTOS_NOT_A_SECRET_UNITTEST")) == "stays")
        #expect(SecretEnvironment.value("CUSTOS_HSM_PIN_UNITTEST")?.copyBytes() == Array("1234-not-a-pin".utf8))
        #expect(try HSMPins.fromEnvironment("unittest").copyBytes() == Array("1234-not-a-pin".utf8))
        unsetenv("CUSTOS_NOT_A_SECRET_UNITTEST")
    }
}
