import Foundation
import SwiftASN1

/// The algorithm of an SPKI or PKCS#8 structure, reduced to what Custos supports.
enum EncodedKeyAlgorithm: Equatable {
    case ecPublicKey(curve: ASN1ObjectIdentifier)
    case ed25519
    case x25519
    case rsa
    case mlDSA65

    var keyType: KeyType? {
        switch self {
        case .ecPublicKey(let curve):
            switch curve {
            case OID.prime256v1: return .p256
            case OID.secp384r1: return .p384
            case OID.secp256k1: return .secp256k1
            default: return nil
            }
        case .ed25519: return .ed25519
        case .x25519: return .x25519
        case .rsa: return .rsa
        case .mlDSA65: return .mlDSA65
        }
    }

    var humanName: String {
        switch self {
        case .ecPublicKey(let curve):
            switch curve {
            case OID.prime256v1: return "ECDSA P-256"
            case OID.secp384r1: return "ECDSA P-384"
            case OID.secp256k1: return "ECDSA secp256k1"
            default: return "EC key on unsupported curve \(curve)"
            }
        case .ed25519: return "Ed25519"
        case .x25519: return "X25519"
        case .rsa: return "RSA"
        case .mlDSA65: return "ML-DSA-65"
        }
    }

    /// Reads `AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }`.
    init(derEncoded node: ASN1Node) throws {
        self = try parsingDER("AlgorithmIdentifier") { try DER.sequence(node, identifier: .sequence) { nodes in
            guard let oidNode = nodes.next() else {
                throw CustosCryptoError.malformedDER("AlgorithmIdentifier has no algorithm")
            }
            let oid = try ASN1ObjectIdentifier(derEncoded: oidNode)
            let parameters = nodes.next()
            switch oid {
            case OID.ecPublicKey:
                guard let parameters else {
                    throw CustosCryptoError.malformedDER("EC key without a named curve")
                }
                guard let curve = try? ASN1ObjectIdentifier(derEncoded: parameters) else {
                    throw CustosCryptoError.malformedDER("EC key parameters are not a named curve OID")
                }
                return .ecPublicKey(curve: curve)
            case OID.ed25519, OID.x25519, OID.mlDSA65:
                // RFC 8410 and FIPS 204 encodings: parameters must be absent.
                guard parameters == nil else {
                    throw CustosCryptoError.malformedDER("\(oid) must not carry parameters")
                }
                return oid == OID.ed25519 ? .ed25519 : (oid == OID.x25519 ? .x25519 : .mlDSA65)
            case OID.rsaEncryption:
                if let parameters {
                    guard (try? ASN1Null(derEncoded: parameters)) != nil else {
                        throw CustosCryptoError.malformedDER("RSA parameters must be NULL")
                    }
                }
                return .rsa
            default:
                throw CustosCryptoError.malformedDER("unsupported key algorithm \(oid)")
            }
        } }
    }

    func serialize(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            switch self {
            case .ecPublicKey(let curve):
                try coder.serialize(OID.ecPublicKey)
                try coder.serialize(curve)
            case .ed25519: try coder.serialize(OID.ed25519)
            case .x25519: try coder.serialize(OID.x25519)
            case .mlDSA65: try coder.serialize(OID.mlDSA65)
            case .rsa:
                try coder.serialize(OID.rsaEncryption)
                try coder.serialize(ASN1Null())
            }
        }
    }
}

/// Runs a DER parse, turning swift-asn1's errors into one that names the structure.
func parsingDER<T>(_ structure: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as CustosCryptoError {
        throw error
    } catch {
        throw CustosCryptoError.malformedDER("\(structure) has an unexpected structure")
    }
}

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }`
struct SubjectPublicKeyInfo {
    var algorithm: EncodedKeyAlgorithm
    var key: [UInt8]

    init(algorithm: EncodedKeyAlgorithm, key: [UInt8]) {
        self.algorithm = algorithm
        self.key = key
    }

    init<Bytes: DataProtocol>(derEncoded bytes: Bytes) throws {
        let node: ASN1Node
        do {
            node = try DER.parse(Array(bytes))
        } catch {
            throw CustosCryptoError.malformedDER("SubjectPublicKeyInfo is not valid DER")
        }
        (algorithm, key) = try parsingDER("SubjectPublicKeyInfo") { try DER.sequence(node, identifier: .sequence) { nodes in
            guard let algorithmNode = nodes.next(), let keyNode = nodes.next() else {
                throw CustosCryptoError.malformedDER("SubjectPublicKeyInfo is incomplete")
            }
            let algorithm = try EncodedKeyAlgorithm(derEncoded: algorithmNode)
            guard let bitString = try? ASN1BitString(derEncoded: keyNode), bitString.paddingBits == 0 else {
                throw CustosCryptoError.malformedDER("subjectPublicKey is not a whole-byte BIT STRING")
            }
            return (algorithm, Array(bitString.bytes))
        } }
    }

    var derRepresentation: [UInt8] {
        var coder = DER.Serializer()
        // Serialization of these fixed shapes cannot fail.
        try! coder.appendConstructedNode(identifier: .sequence) { coder in
            try algorithm.serialize(into: &coder)
            try coder.serialize(ASN1BitString(bytes: key[...]))
        }
        return coder.serializedBytes
    }
}

/// `OneAsymmetricKey` (PKCS#8, RFC 5958): version, algorithm, privateKey OCTET STRING, …
/// The private key octets are returned in `SecretBytes` and the parsed copy is zeroized.
struct PrivateKeyInfo {
    var algorithm: EncodedKeyAlgorithm
    var privateKey: SecretBytes

    init(derEncoded bytes: [UInt8]) throws {
        let node: ASN1Node
        do {
            node = try DER.parse(bytes)
        } catch {
            throw CustosCryptoError.malformedDER("PKCS#8 private key is not valid DER")
        }
        (algorithm, privateKey) = try parsingDER("PKCS#8 private key") { try DER.sequence(node, identifier: .sequence) { nodes in
            guard let versionNode = nodes.next(), let algorithmNode = nodes.next(),
                  let keyNode = nodes.next() else {
                throw CustosCryptoError.malformedDER("PKCS#8 private key is incomplete")
            }
            guard let version = try? Int(derEncoded: versionNode), version == 0 || version == 1 else {
                throw CustosCryptoError.malformedDER("PKCS#8 version must be 0 or 1")
            }
            let algorithm = try EncodedKeyAlgorithm(derEncoded: algorithmNode)
            guard let octets = try? ASN1OctetString(derEncoded: keyNode) else {
                throw CustosCryptoError.malformedDER("PKCS#8 privateKey is not an OCTET STRING")
            }
            // Optional attributes [0] and public key [1] are allowed and ignored.
            while nodes.next() != nil {}
            return (algorithm, SecretBytes(octets.bytes))
        } }
    }

    /// The scalar inside an `ECPrivateKey` (RFC 5915), left-padded to the field size.
    /// When the structure names its curve (`[0] parameters`), it must be `expectedCurve`.
    static func ecScalar(fromECPrivateKey secret: SecretBytes, byteCount: Int,
                         expectedCurve: ASN1ObjectIdentifier? = nil) throws -> SecretBytes {
        let node: ASN1Node
        do {
            node = try secret.withUnsafeBytes { try DER.parse(Array($0)) }
        } catch {
            throw CustosCryptoError.malformedDER("ECPrivateKey is not valid DER")
        }
        return try parsingDER("ECPrivateKey") { try DER.sequence(node, identifier: .sequence) { nodes in
            guard let versionNode = nodes.next(), let keyNode = nodes.next() else {
                throw CustosCryptoError.malformedDER("ECPrivateKey is incomplete")
            }
            guard let version = try? Int(derEncoded: versionNode), version == 1 else {
                throw CustosCryptoError.malformedDER("ECPrivateKey version must be 1")
            }
            guard let octets = try? ASN1OctetString(derEncoded: keyNode), octets.bytes.count <= byteCount else {
                throw CustosCryptoError.invalidPrivateKey("EC private scalar has the wrong length")
            }
            let parametersTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
            while let node = nodes.next() {
                guard node.identifier == parametersTag, let expectedCurve else { continue }
                let curve = try DER.explicitlyTagged(node, tagNumber: 0, tagClass: .contextSpecific) { try ASN1ObjectIdentifier(derEncoded: $0) }
                guard curve == expectedCurve else {
                    throw CustosCryptoError.keyDoesNotMatchScheme(expected: EncodedKeyAlgorithm.ecPublicKey(curve: expectedCurve).humanName,
                                                                  found: EncodedKeyAlgorithm.ecPublicKey(curve: curve).humanName)
                }
            }
            return SecretBytes(Array(repeating: 0, count: byteCount - octets.bytes.count) + octets.bytes)
        } }
    }

    /// The 32-byte seed inside an RFC 8410 `CurvePrivateKey ::= OCTET STRING`.
    static func curvePrivateKey(from secret: SecretBytes) throws -> SecretBytes {
        let node: ASN1Node
        do {
            node = try secret.withUnsafeBytes { try DER.parse(Array($0)) }
        } catch {
            throw CustosCryptoError.malformedDER("CurvePrivateKey is not valid DER")
        }
        guard let octets = try? ASN1OctetString(derEncoded: node), octets.bytes.count == 32 else {
            throw CustosCryptoError.invalidPrivateKey("Ed25519/X25519 private key must be a 32-byte OCTET STRING")
        }
        return SecretBytes(octets.bytes)
    }

    /// The 32-byte ML-DSA seed: `seed [0] IMPLICIT OCTET STRING`, or the
    /// `both SEQUENCE { seed, expandedKey }` form (draft-ietf-lamps-dilithium-certificates).
    static func mlDSASeed(from secret: SecretBytes) throws -> SecretBytes {
        let node: ASN1Node
        do {
            node = try secret.withUnsafeBytes { try DER.parse(Array($0)) }
        } catch {
            throw CustosCryptoError.malformedDER("ML-DSA private key is not valid DER")
        }
        let seedTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
        if node.identifier == seedTag, case .primitive(let bytes) = node.content, bytes.count == 32 {
            return SecretBytes(bytes)
        }
        if node.identifier == .sequence {
            return try parsingDER("ML-DSA private key") { try DER.sequence(node, identifier: .sequence) { nodes in
                guard let seedNode = nodes.next(),
                      let seed = try? ASN1OctetString(derEncoded: seedNode), seed.bytes.count == 32 else {
                    throw CustosCryptoError.invalidPrivateKey("ML-DSA private key has no 32-byte seed")
                }
                while nodes.next() != nil {}
                return SecretBytes(seed.bytes)
            } }
        }
        throw CustosCryptoError.invalidPrivateKey(
            "ML-DSA-65 private key must carry its 32-byte seed (the expanded-key-only form cannot be imported)")
    }
}

/// PEM armour, with errors that name what is wrong.
enum PEM {
    static func decode(_ text: String, expecting labels: Set<String>) throws -> (label: String, der: [UInt8]) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("-----BEGIN ") else {
            throw CustosCryptoError.malformedPEM("no '-----BEGIN' line")
        }
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: trimmed)
        } catch {
            throw CustosCryptoError.malformedPEM("armour or base64 body is invalid")
        }
        guard labels.contains(document.discriminator) else {
            let expected = labels.sorted().joined(separator: " or ")
            throw CustosCryptoError.malformedPEM("found '\(document.discriminator.prefix(40))', expected \(expected)")
        }
        return (document.discriminator, document.derBytes)
    }

    static func encode(_ der: [UInt8], label: String) -> String {
        PEMDocument(type: label, derBytes: der).pemString + "\n"
    }
}
