import ArgumentParser
import CustosCrypto
import CustosEthereum
import CustosJSON
import CustosKeystore
import Foundation

/// `custos eth`: Ethereum accounts (docs/ethereum.md). Signing opens the data directory;
/// decoding and recovery need no keys and run anywhere.
struct EthereumCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eth",
        abstract: "Ethereum accounts: sign and decode transactions, sign and recover EIP-191 messages and EIP-712 typed data.",
        subcommands: [Accounts.self, SignTransaction.self, DecodeTransaction.self, SignMessage.self, RecoverMessage.self,
                      SignTypedData.self, RecoverTypedData.self])

    /// The account to sign with: its alias or its address.
    struct AccountOptions: ParsableArguments {
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "The account: its key alias, or its 0x address.") var account: String

        func alias(_ service: KeyService) async throws -> (KeyAlias, EthereumAddress) {
            let tenant = try TenantID(validating: self.tenant)
            if account.hasPrefix("0x") || account.hasPrefix("0X") {
                let found = try await service.ethereumAccount(tenant: tenant, address: try EthereumAddress(account, field: "--account"), by: .local)
                return (found.key.alias, found.address)
            }
            let alias = try KeyAlias(validating: account)
            guard let found = try await service.ethereumAccounts(tenant: tenant, by: .local).first(where: { $0.key.alias == alias }) else {
                throw CLIError("tenant '\(tenant.rawValue)' has no Ethereum account '\(account)' (an ecdsa-secp256k1-keccak256 key of category ACCOUNTS)")
            }
            return (alias, found.address)
        }
    }

    struct Accounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "accounts", abstract: "List a tenant's accounts with their addresses.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String

        func run() async throws {
            try await withLocalKeystore(global, "eth accounts") { service in
                let accounts = try await service.ethereumAccounts(tenant: try TenantID(validating: tenant), by: .local)
                let rows: [JSONValue] = accounts.map {
                    .object(["alias": .string($0.key.alias.rawValue), "address": .string($0.address.checksummed),
                             "status": .string($0.key.status.rawValue), "key_id": .string($0.key.id)])
                }
                emit(global, .object(["accounts": .array(rows)]),
                     text: accounts.map { "\($0.address.checksummed)  \($0.key.alias.rawValue)  \($0.key.status.rawValue)" }.joined(separator: "\n"))
            }
        }
    }

    struct SignTransaction: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-tx",
            abstract: "Sign a transaction given as JSON; print the raw signed transaction for eth_sendRawTransaction.",
            discussion: """
                The JSON is a transaction as web3 tooling writes it: chainId (null only for a legacy \
                transaction without replay protection), nonce, gas, gasPrice or maxFeePerGas and \
                maxPriorityFeePerGas, to, value, data, accessList, type. Quantities are numbers, \
                decimal strings or 0x hex. A "from" must be the signing account.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: AccountOptions
        @Option(name: .long, help: "File holding the transaction JSON ('-' for standard input).") var txFile: String?
        @Option(name: .long, help: "The transaction JSON itself.") var tx: String?

        func run() async throws {
            try await withLocalKeystore(global, "eth sign-tx") { service in
                let (transaction, from) = try EthereumTransaction.parse(json: try readJSON(file: txFile, text: tx, what: "transaction"))
                let (alias, address) = try await account.alias(service)
                if let from, from != address {
                    throw CLIError("the transaction's from (\(from.checksummed)) is not the signing account (\(address.checksummed))")
                }
                let signed = try await service.signEthereumTransaction(transaction, tenant: try TenantID(validating: account.tenant), alias: alias, by: .local)
                emit(global, try signed.json(), text: "0x" + Hex.encode(signed.raw))
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
            try await withLocalKeystore(global, "eth sign-message") { service in
                let bytes = try message.bytes()
                let (alias, address) = try await account.alias(service)
                let signature = try await service.signEthereumMessage(bytes, tenant: try TenantID(validating: account.tenant), alias: alias, by: .local)
                emit(global, .object(["signature": .string("0x" + Hex.encode(signature)), "address": .string(address.checksummed)]),
                     text: "0x" + Hex.encode(signature))
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
            try await withLocalKeystore(global, "eth sign-typed-data") { service in
                let data = try TypedData(json: try readJSON(file: file, text: nil, what: "typed data"))
                let (alias, address) = try await account.alias(service)
                let signature = try await service.signEthereumTypedData(data, tenant: try TenantID(validating: account.tenant), alias: alias, by: .local)
                emit(global, .object(["signature": .string("0x" + Hex.encode(signature)), "address": .string(address.checksummed),
                                      "digest": .string("0x" + Hex.encode(data.signingHash))]),
                     text: "0x" + Hex.encode(signature))
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

/// Opens the data directory for a command that signs with its keys (refusing --server).
private func withLocalKeystore(_ global: GlobalOptions, _ name: String, _ body: (KeyService) async throws -> Void) async throws {
    try await runReporting {
        try global.requireLocal(name)
        let service = try await global.openKeystore()
        do {
            try await body(service)
            try await service.close()
        } catch {
            try? await service.close()
            throw error
        }
    }
}
