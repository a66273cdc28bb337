import CustosCrypto
import CustosJSON
import Testing

@testable import CustosEthereum

@Suite("Ethereum messages: EIP-191 and EIP-712")
struct MessageTests {
    static func vectors(_ kind: String) throws -> [JSONValue] { try EthereumVectors.load("signing.json")[kind]?.arrayValue ?? [] }

    static func sign(_ digest: [UInt8], key: String) throws -> [UInt8] {
        try Secp256k1.PrivateKey(rawRepresentation: [UInt8](hex: key)).recoverableSignature(forDigest: digest).ethereumRepresentation
    }

    @Test func personalSignMatchesEthAccount() throws {
        let vectors = try Self.vectors("personal_sign")
        #expect(vectors.count == 5)
        for vector in vectors {
            let message = [UInt8](hex: try #require(vector["message"]?.stringValue))
            let hash = PersonalMessage.signingHash(message)
            #expect(Hex.encode(hash) == vector["hash"]?.stringValue)
            let signature = try Self.sign(hash, key: try #require(vector["key"]?.stringValue))
            #expect(Hex.encode(signature) == vector["signature"]?.stringValue)
            #expect(try PersonalMessage.signer(of: message, signature: signature).checksummed == vector["signer"]?.stringValue)
        }
        // The older file's personal_sign cases, including the ones that must not yield the signer.
        for vector in try EthereumVectors.load("transactions.json")["personal_sign"]?.arrayValue ?? [] {
            let message = Array(try #require(vector["message"]?.stringValue).utf8)
            let signature = [UInt8](hex: try #require(vector["signature"]?.stringValue))
            let signer = try? PersonalMessage.signer(of: message, signature: signature).checksummed
            #expect((signer == vector["signer"]?.stringValue) == (vector["valid"] == .bool(true)))
        }
    }

    @Test func recoveryRefusesMalformedSignatures() throws {
        let vector = try #require(try Self.vectors("personal_sign").first)
        let message = [UInt8](hex: try #require(vector["message"]?.stringValue))
        let signature = [UInt8](hex: try #require(vector["signature"]?.stringValue))
        #expect(throws: EthereumError.self) { try PersonalMessage.signer(of: message, signature: signature.dropLast()) }
        #expect(throws: EthereumError.self) { try PersonalMessage.signer(of: message, signature: signature.dropLast() + [29]) }
        #expect(try PersonalMessage.signer(of: message + [0], signature: signature).checksummed != vector["signer"]?.stringValue)
    }

    @Test func typedDataMatchesEthAccountAndTheEIP712Example() throws {
        let vectors = try Self.vectors("typed_data")
        #expect(vectors.count == 3)
        for vector in vectors {
            let name = try #require(vector["name"]?.stringValue)
            let data = try TypedData(json: try #require(vector["data"]))
            #expect(Hex.encode(data.domainSeparator) == vector["domain_separator"]?.stringValue, "\(name)")
            #expect(Hex.encode(data.messageHash) == vector["message_hash"]?.stringValue, "\(name)")
            #expect(Hex.encode(data.signingHash) == vector["hash"]?.stringValue, "\(name)")
            let signature = try Self.sign(data.signingHash, key: try #require(vector["key"]?.stringValue))
            #expect(Hex.encode(signature) == vector["signature"]?.stringValue, "\(name)")
            #expect(try data.signer(signature: signature).checksummed == vector["signer"]?.stringValue)
        }
        // EIP-712's published values for its Mail example.
        let mail = try TypedData(json: try #require(vectors.first?["data"]))
        #expect(mail.encodeType("Mail") == "Mail(Person from,Person to,string contents)Person(string name,address wallet)")
        #expect(Hex.encode(mail.typeHash("Mail")) == "a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2")
        #expect(Hex.encode(mail.signingHash) == "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
    }

    static let mail = #"""
    {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
               "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}, {"name": "age", "type": "uint8"}],
               "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person[]"}, {"name": "tag", "type": "bytes4"},
                        {"name": "n", "type": "int8"}, {"name": "ok", "type": "bool"}, {"name": "pair", "type": "uint16[2]"}]},
     "primaryType": "Mail",
     "domain": {"name": "Ether Mail", "chainId": 1},
     "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "age": 3},
                 "to": [{"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "age": 255}],
                 "tag": "0xdeadbeef", "n": -128, "ok": true, "pair": [1, 65535]}}
    """#

    /// Typed data whose message does not match its types is refused, naming where.
    @Test(arguments: [
        ("\"age\": 3}", "\"age\": 256}", "message.from.age does not fit in uint8"),
        ("\"age\": 3}", "\"age\": -1}", "message.from.age must not be negative"),
        ("\"age\": 3}", "\"age\": \"three\"}", "message.from.age must be a decimal or 0x-prefixed hex"),
        ("\"n\": -128", "\"n\": -129", "message.n does not fit in int8"),
        ("\"n\": -128", "\"n\": 128", "message.n does not fit in int8"),
        ("\"tag\": \"0xdeadbeef\"", "\"tag\": \"0xdead\"", "message.tag must be 4 bytes, not 2"),
        ("\"ok\": true", "\"ok\": 1", "message.ok must be true or false"),
        ("\"pair\": [1, 65535]", "\"pair\": [1]", "message.pair must have 2 elements, not 1"),
        ("\"pair\": [1, 65535]", "\"pair\": [1, 65536]", "message.pair[1] does not fit in uint16"),
        (", \"age\": 255}", "}", "message.to[0].age is missing"),
        ("\"age\": 3}", "\"age\": 3, \"extra\": 1}", "message.from has an unknown field \"extra\""),
        ("\"wallet\": \"0xCD2a", "\"wallet\": \"0xcD2a", "message.from.wallet fails its EIP-55 checksum"),
        ("\"type\": \"bytes4\"", "\"type\": \"bytes33\"", "types.Mail.tag: unknown type bytes33"),
        ("\"type\": \"int8\"", "\"type\": \"int7\"", "types.Mail.n: unknown type int7"),
        ("\"type\": \"Person[]\"", "\"type\": \"Persona[]\"", "unknown type Persona[]"),
        ("\"primaryType\": \"Mail\"", "\"primaryType\": \"Letter\"", "primaryType Letter is not among types"),
        ("\"chainId\": 1}", "\"chainId\": 1, \"salt\": \"0x00\"}", "domain has an unknown field \"salt\""),
        (", \"chainId\": 1}", "}", "domain.chainId is missing"),
        ("\"tag\": \"0xdeadbeef\"", "\"tag\": \"0xdeadbeef\", \"tag\": \"0xdeadbeef\"", "appears twice"),
    ])
    func typedDataThatDoesNotMatchItsTypesIsRefused(original: String, replacement: String, reason: String) throws {
        #expect(try TypedData.parse(Array(Self.mail.utf8)).primaryType == "Mail")
        let text = Self.mail.replacingOccurrences(of: original, with: replacement, options: [], range: Self.mail.range(of: original))
        #expect(text != Self.mail)
        let error = #expect(throws: EthereumError.self) { try TypedData.parse(Array(text.utf8)) }
        #expect(error.map { "\($0)".contains(reason) } == true, "\(reason): \(String(describing: error))")
    }
}
