import ArgumentParser
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosKeystore
import Foundation

/// `custos eth`: Ethereum accounts (docs/ethereum.md). The account commands work on the
/// data directory or, with --server, on a Custos server; decoding and recovery need no
/// keys and run anywhere.
struct EthereumCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eth",
        abstract: "Ethereum accounts: sign and decode transactions, sign and recover EIP-191 messages and EIP-712 typed data, policies, nonces.",
        subcommands: [Accounts.self, Account.self, SignTransaction.self, DecodeTransaction.self, SignMessage.self, RecoverMessage.self,
                      SignTypedData.self, RecoverTypedData.self, Chain.self, Policy.self, Nonce.self])

    /// The account to act for: its alias or its address.
    struct AccountOptions: ParsableArguments {
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "The account: its key alias, or its 0x address.") var account: String
    }

    struct Accounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "accounts", abstract: "List a tenant's accounts with their addresses.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String

        func run() async throws {
            try await withBackend(global) { backend in
                let answer = try await backend.ethereum(.ethAccounts, tenant: tenant, account: nil, body: nil)
                var rows: [JSONValue] = []
                if case .array(let listed)? = answer["accounts"] { rows = listed }
                emit(global, answer, text: rows.map { (row: JSONValue) -> String in
                    ["address", "alias", "status"].map { row[$0]?.stringValue ?? "-" }.joined(separator: "  ")
                }.joined(separator: "\n"))
            }
        }
    }

    struct Account: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "account", abstract: "Show an account: its address, policy, and next nonce and value signed today per chain.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: AccountOptions

        func run() async throws {
            try await withBackend(global) { backend in
                let answer = try await backend.ethereum(.ethAccount, tenant: account.tenant, account: account.account, body: nil)
                emit(global, answer, text: accountText(answer))
            }
        }
    }

    struct SignTransaction: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-tx",
            abstract: "Sign a transaction given as JSON; print the raw signed transaction for eth_sendRawTransaction.",
            discussion: """
                The JSON is a transaction as web3 tooling writes it: chainId, nonce, gas, gasPrice or \
                maxFeePerGas and maxPriorityFeePerGas, to, value, data, accessList, type. Quantities \
                are numbers, decimal strings or 0x hex. Without chainId the tenant's chain is used \
                ("chainId": null: a legacy transaction without replay protection, refused when the \
                tenant has a chain); without nonce, the account's next nonce. A "from" must be the \
                signing account. The account's policy is checked first.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: AccountOptions
        @Option(name: .long, help: "File holding the transaction JSON ('-' for standard input).") var txFile: String?
        @Option(name: .long, help: "The transaction JSON itself.") var tx: String?

        func run() async throws {
            try await withBackend(global) { backend in
                let transaction = try readJSON(file: txFile, text: tx, what: "transaction")
                let signed = try await backend.ethereum(.ethSignTransaction, tenant: account.tenant, account: account.account,
                                                        body: .object(["transaction": transaction]))
                emit(global, signed, text: signed["raw"]?.stringValue ?? signed.text)
            }
        }
    }

    struct DecodeTransaction: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode-tx",
            abstract: "Decode a raw signed transaction: its fields, hash and sender.",
            discussion: "Exit code 0: decoded; 2: malformed or refused (high s, a v that fits no chain or not --chain-id, trailing bytes).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The raw transaction as 0x hex.") var raw: String
        @Option(name: .long, help: "Refuse a transaction for any other chain.") var chainId: UInt64?

        func run() async throws {
            try await runReporting {
                try global.requireLocal("eth decode-tx")
                guard let bytes = Hex.decode(raw) else { throw CLIError("the raw transaction is not valid hex") }
                let decoded = try SignedEthereumTransaction(raw: bytes, expectedChainID: chainId)
                let json = try decoded.json()
                emit(global, json, text: Self.text(json))
            }
        }

        static func text(_ json: JSONValue) -> String {
            guard case .object(let members) = json else { return json.text }
            let order = ["hash", "from", "type", "chainId", "nonce", "to", "value", "gas", "gasPrice", "maxPriorityFeePerGas", "maxFeePerGas",
                         "input", "accessList", "v", "r", "s", "yParity"]
            return order.compactMap { key in
                guard let value = members[key] else { return nil }
                if case .string(let text) = value { return "\(key): \(text)" }
                return "\(key): \(value.text)"
            }.joined(separator: "\n")
        }
    }

    struct MessageOptions: ParsableArguments {
        @Option(name: .long, help: "The message as text (UTF-8).") var message: String?
        @Option(name: .long, help: "The message as hex.") var messageHex: String?
        @Option(name: .long, help: "File holding the message.") var messageFile: String?

        func bytes() throws -> [UInt8] {
            switch (message, messageHex, messageFile) {
            case (let text?, nil, nil): return Array(text.utf8)
            case (nil, _, _): return try InputBytes.read(file: messageFile, hex: messageHex, what: "message")
            default: throw CLIError("give the message once: --message, --message-hex or --message-file")
            }
        }
    }

    struct SignMessage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sign-message", abstract: "Sign a message as personal_sign does (EIP-191).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: AccountOptions
        @OptionGroup var message: MessageOptions

        func run() async throws {
            try await withBackend(global) { backend in
                let bytes = try message.bytes()
                let answer = try await backend.ethereum(.ethSignMessage, tenant: account.tenant, account: account.account,
                                                        body: .object(["message": .string("0x" + Hex.encode(bytes))]))
                emit(global, answer, text: answer["signature"]?.stringValue ?? answer.text)
            }
        }
    }

    struct RecoverMessage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "recover-message", abstract: "The address that signed a personal_sign message.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var message: MessageOptions
        @Option(name: .long, help: "The 65-byte signature r‖s‖v as hex.") var signature: String

        func run() async throws {
            try await runReporting {
                try global.requireLocal("eth recover-message")
                guard let signatureBytes = Hex.decode(signature) else { throw CLIError("the signature is not valid hex") }
                let address = try PersonalMessage.signer(of: try message.bytes(), signature: signatureBytes)
                emit(global, .object(["address": .string(address.checksummed)]), text: address.checksummed)
            }
        }
    }

    struct SignTypedData: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-typed-data", abstract: "Sign EIP-712 typed data (eth_signTypedData_v4 JSON: types, primaryType, domain, message).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: AccountOptions
        @Option(name: .long, help: "File holding the typed data JSON ('-' for standard input).") var file: String

        func run() async throws {
            try await withBackend(global) { backend in
                let data = try readJSON(file: file, text: nil, what: "typed data")
                let answer = try await backend.ethereum(.ethSignTypedData, tenant: account.tenant, account: account.account,
                                                        body: .object(["typed_data": data]))
                emit(global, answer, text: answer["signature"]?.stringValue ?? answer.text)
            }
        }
    }

    struct RecoverTypedData: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "recover-typed-data", abstract: "The address that signed EIP-712 typed data.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "File holding the typed data JSON ('-' for standard input).") var file: String
        @Option(name: .long, help: "The 65-byte signature r‖s‖v as hex.") var signature: String

        func run() async throws {
            try await runReporting {
                try global.requireLocal("eth recover-typed-data")
                guard let signatureBytes = Hex.decode(signature) else { throw CLIError("the signature is not valid hex") }
                let data = try TypedData(json: try readJSON(file: file, text: nil, what: "typed data"))
                let address = try data.signer(signature: signatureBytes)
                emit(global, .object(["address": .string(address.checksummed), "digest": .string("0x" + Hex.encode(data.signingHash))]),
                     text: address.checksummed)
            }
        }
    }

    struct Chain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chain",
            abstract: "Show or set the chain the tenant's accounts sign for.",
            discussion: """
                Once set, a transaction for another chain, or without replay protection, is refused, \
                and one that names no chainId is signed for this chain. eth_chainId answers it.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Set the chain id (1: Ethereum mainnet, 11155111: Sepolia, ...).") var set: UInt64?
        @Flag(name: .long, help: "Clear the chain: each transaction names its own.") var clear = false

        func run() async throws {
            try await withBackend(global) { backend in
                let answer: JSONValue
                switch (set, clear) {
                case (nil, false): answer = try await backend.ethereum(.ethChain, tenant: tenant, account: nil, body: nil)
                case (let id?, false):
                    answer = try await backend.ethereum(.ethSetChain, tenant: tenant, account: nil, body: .object(["chain_id": .number(String(id))]))
                case (nil, true): answer = try await backend.ethereum(.ethSetChain, tenant: tenant, account: nil, body: .object(["chain_id": .null]))
                case (_?, true): throw CLIError("give --set or --clear, not both")
                }
                emit(global, answer, text: answer["chain_id"].flatMap { $0 == .null ? nil : $0.text } ?? "none")
            }
        }
    }

    struct Policy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy",
            abstract: "Show or set an account's signing policy.",
            discussion: """
                Every rule is optional; what is not given is not restricted. Values are in wei. The \
                daily limit counts per chain over the UTC day. With no option the policy is shown; \
                a new policy replaces the old one whole.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: AccountOptions
        @Option(name: .long, help: "A chain the account may sign for (repeat for more).") var chainId: [UInt64] = []
        @Option(name: .long, help: "An address the account may send to (repeat for more).") var to: [String] = []
        @Option(name: .long, help: "The most one transaction may transfer, in wei.") var maxValue: String?
        @Option(name: .long, help: "The highest gasPrice or maxFeePerGas, in wei.") var maxGasPrice: String?
        @Option(name: .long, help: "The most the account may transfer per chain per UTC day, in wei.") var dailyLimit: String?
        @Flag(name: .long, help: "Refuse EIP-191 messages and EIP-712 typed data.") var noMessages = false
        @Option(name: .long, help: "File holding the policy as JSON (docs/ethereum.md).") var file: String?
        @Flag(name: .long, help: "Remove the policy: the account may sign anything.") var clear = false

        func run() async throws {
            try await withBackend(global) { backend in
                let rules = !chainId.isEmpty || !to.isEmpty || maxValue != nil || maxGasPrice != nil || dailyLimit != nil || noMessages
                let policy: JSONValue?
                switch (rules, file, clear) {
                case (false, nil, false): policy = nil
                case (true, nil, false):
                    var members: [String: JSONValue] = ["sign_messages": .bool(!noMessages)]
                    if !chainId.isEmpty { members["chain_ids"] = .array(chainId.map { .number(String($0)) }) }
                    if !to.isEmpty { members["recipients"] = .array(to.map { .string($0) }) }
                    if let maxValue { members["max_value"] = .string(maxValue) }
                    if let maxGasPrice { members["max_gas_price"] = .string(maxGasPrice) }
                    if let dailyLimit { members["daily_value_limit"] = .string(dailyLimit) }
                    policy = .object(members)
                case (false, let file?, false): policy = try readJSON(file: file, text: nil, what: "policy")
                case (false, nil, true): policy = .null
                default: throw CLIError("give the rules as options, or --file, or --clear: one of them")
                }
                let answer = try await backend.ethereum(policy == nil ? .ethAccount : .ethSetPolicy, tenant: account.tenant,
                                                        account: account.account, body: policy.map { .object(["policy": $0]) })
                let shown = answer["policy"] ?? .null
                emit(global, shown, text: policyText(shown))
            }
        }
    }

    struct Nonce: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nonce",
            abstract: "Set the nonce an account hands out next on a chain.",
            discussion: """
                A transaction that names no nonce gets the account's next one, and no two such \
                transactions get the same. Set it to the chain's transaction count (eth_getTransactionCount, \
                "pending") when the account has sent transactions Custos did not sign, or after \
                transactions Custos signed were never sent. 'eth account' shows the nonces.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: AccountOptions
        @Option(name: .long, help: "The nonce to hand out next.") var next: UInt64
        @Option(name: .long, help: "The chain (default: the tenant's chain).") var chainId: UInt64?
        @Flag(name: .long, help: "For transactions without replay protection (no chain id).") var noChainId = false

        func run() async throws {
            try await withBackend(global) { backend in
                var body: [String: JSONValue] = ["next_nonce": .number(String(next))]
                switch (chainId, noChainId) {
                case (let id?, false): body["chain_id"] = .number(String(id))
                case (nil, true): body["chain_id"] = .null
                case (nil, false): break
                case (_?, true): throw CLIError("give --chain-id or --no-chain-id, not both")
                }
                let answer = try await backend.ethereum(.ethSetNonce, tenant: account.tenant, account: account.account, body: .object(body))
                emit(global, answer, text: accountText(answer))
            }
        }
    }
}

/// The biggest JSON document an Ethereum command reads: transactions and typed data are small.
private let maximumJSONBytes = 1 << 20

private func readJSON(file: String?, text: String?, what: String) throws -> JSONValue {
    let bytes: [UInt8]
    switch (file, text) {
    case ("-"?, nil): bytes = Array(FileHandle.standardInput.readDataToEndOfFile().prefix(maximumJSONBytes + 1))
    case (let file?, nil): bytes = try NamedFile.read(file, what: "\(what) file")
    case (nil, let text?): bytes = Array(text.utf8)
    case (nil, nil): throw CLIError("give the \(what) as JSON, in a file or inline")
    default: throw CLIError("give the \(what) once, in a file or inline")
    }
    guard bytes.count <= maximumJSONBytes else { throw CLIError("the \(what) is larger than \(maximumJSONBytes) bytes") }
    do {
        return try JSONValue.parse(bytes)
    } catch {
        throw CLIError("the \(what): \(error)")
    }
}

private func emit(_ global: GlobalOptions, _ json: JSONValue, text: String) {
    Output.line(global.json ? json.text : text)
}

private func policyText(_ policy: JSONValue) -> String {
    guard case .object(let rules) = policy else { return policy.text }
    let text = rules.keys.sorted().filter { rules[$0] != .bool(true) || $0 != "sign_messages" }.map { name -> String in
        let value = rules[name]!
        if case .array(let items) = value { return "\(name): " + items.map { $0.stringValue ?? $0.text }.joined(separator: ", ") }
        return "\(name): \(value.stringValue ?? value.text)"
    }
    return text.isEmpty ? "no restriction" : text.joined(separator: "\n")
}

private func accountText(_ account: JSONValue) -> String {
    var lines = ["address", "alias", "status"].map { "\($0): \(account[$0]?.stringValue ?? "-")" }
    lines.append("tenant chain: " + (account["tenant_chain_id"].flatMap { $0 == .null ? nil : $0.text } ?? "none"))
    if case .array(let chains)? = account["chains"] {
        for chain in chains {
            let id = chain["chain_id"].flatMap { $0 == .null ? nil : $0.text } ?? "none"
            lines.append("chain \(id): next nonce \(chain["next_nonce"]?.text ?? "-"), signed today \(chain["spent_today"]?.stringValue ?? "0") wei")
        }
    }
    lines.append("policy:\n  " + policyText(account["policy"] ?? .null).replacingOccurrences(of: "\n", with: "\n  "))
    return lines.joined(separator: "\n")
}
