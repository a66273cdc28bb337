import Crypto
import CustosCrypto

/// A client's signing public key: Ed25519 (raw 32 bytes) or ECDSA P-256 with SHA-256 (SEC1
/// uncompressed, 65 bytes). Both sign with 64-byte signatures (P-256: raw r‖s).
public struct ClientSigningKey: Equatable, Sendable {
    public static let signatureByteCount = 64

    public let scheme: SignatureScheme
    public let rawRepresentation: [UInt8]
    public let publicKey: SigningPublicKey

    public init(scheme: SignatureScheme, rawRepresentation raw: [UInt8]) throws {
        switch scheme {
        case .ed25519: guard raw.count == 32 else { throw ClusterError.malformed("ed25519 client signing key must be 32 bytes, has \(raw.count)") }
        case .ecdsaP256SHA256:
            guard raw.count == 65, raw.first == 0x04 else {
                throw ClusterError.malformed("ecdsa-p256-sha256 client signing key must be a 65-byte uncompressed point")
            }
        default: throw ClusterError.malformed("client signing key scheme must be ed25519 or ecdsa-p256-sha256")
        }
        do {
            publicKey = try SigningPublicKey(rawRepresentation: raw, scheme: scheme)
        } catch {
            throw ClusterError.malformed("client signing key is not a valid \(scheme.rawValue) public key")
        }
        self.scheme = scheme
        rawRepresentation = raw
    }

    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == Self.signatureByteCount else { return false }
        let format: SignatureFormat? = scheme == .ecdsaP256SHA256 ? .raw : nil
        return (try? publicKey.isValidSignature(signature, for: message, format: format)) ?? false
    }

    public static func == (a: ClientSigningKey, b: ClientSigningKey) -> Bool {
        a.scheme == b.scheme && a.rawRepresentation == b.rawRepresentation
    }

    var cbor: CBORValue { .array([.text(scheme.rawValue), .bytes(rawRepresentation)]) }
}

/// The public keys of one client key set, without its name:
/// ClientKeySet = [signing scheme, signing key, TLS pin, API TLS pin].
public struct ClientKeySet: Equatable, Sendable {
    public let signingKey: ClientSigningKey
    /// RFC 7469 pin of the P-384 key the client authenticates to replicas with.
    public let tlsPin: [UInt8]
    /// RFC 7469 pin of the P-384 key of the client's own HTTPS API.
    public let apiTLSPin: [UInt8]

    public init(signingKey: ClientSigningKey, tlsPin: [UInt8], apiTLSPin: [UInt8]) {
        self.signingKey = signingKey
        self.tlsPin = tlsPin
        self.apiTLSPin = apiTLSPin
    }

    var cbor: CBORValue {
        .array([.text(signingKey.scheme.rawValue), .bytes(signingKey.rawRepresentation), .bytes(tlsPin), .bytes(apiTLSPin)])
    }

    init(value: CBORValue) throws {
        let f = try value.array("client key set", count: 4)
        let schemeText = try f[0].text("client signing scheme", maximum: 32)
        guard let scheme = SignatureScheme(rawValue: schemeText), scheme == .ed25519 || scheme == .ecdsaP256SHA256 else {
            throw ClusterError.malformed("client signing scheme must be ed25519 or ecdsa-p256-sha256")
        }
        signingKey = try ClientSigningKey(scheme: scheme, rawRepresentation: try f[1].bytes("client signing key", maximum: 65))
        tlsPin = try f[2].bytes("client TLS pin", count: 32)
        apiTLSPin = try f[3].bytes("client API TLS pin", count: 32)
    }

    /// M(client-key-binding, cluster, [k, e, ClientKeySet]): what the signing key of (k, e) signs.
    public func bindingMessage(cluster: [UInt8], name: ClientKeyName) -> [UInt8] {
        SignatureTag.clientKeyBinding.message(cluster: cluster, body: .array([
            .unsigned(UInt64(name.client.rawValue)), .unsigned(name.epoch), cbor,
        ]))
    }

    /// The pins of this key set (TLS, API TLS).
    public var pins: [[UInt8]] { [tlsPin, apiTLSPin] }
}

/// The public keys of one client key name, as the key log knows them.
public struct ClientKeys: Equatable, Sendable {
    public let name: ClientKeyName
    public let keySet: ClientKeySet

    public init(name: ClientKeyName, keySet: ClientKeySet) {
        self.name = name
        self.keySet = keySet
    }

    public var signingKey: ClientSigningKey { keySet.signingKey }
    public var tlsPin: [UInt8] { keySet.tlsPin }
    public var apiTLSPin: [UInt8] { keySet.apiTLSPin }
}

/// The epoch-0 keys of a client, carried by the add-client command:
/// ClientDescriptor = [k, ClientKeySet, binding signature over binding(k, 0)].
public struct ClientDescriptor: Equatable, Sendable {
    public static let maximumByteCount = 512

    public let client: ClientID
    public let keySet: ClientKeySet
    public let bindingSignature: [UInt8]
    /// The exact encoded item.
    public let encoded: [UInt8]
    /// The decoded item, embedded as is in an add-client action (deterministic CBOR encodes it
    /// back to `encoded`).
    let cbor: CBORValue

    public var keys: ClientKeys { ClientKeys(name: ClientKeyName(client: client, epoch: 0), keySet: keySet) }

    /// Builds the descriptor, `sign` signing the binding with the new signing key.
    public static func build(cluster: [UInt8], client: ClientID, keys: ClientKeySet,
                             sign: ([UInt8]) async throws -> [UInt8]) async throws -> ClientDescriptor {
        let signature = try await sign(keys.bindingMessage(cluster: cluster, name: ClientKeyName(client: client, epoch: 0)))
        return try ClientDescriptor(bytes: CBORValue.array([.unsigned(UInt64(client.rawValue)), keys.cbor, .bytes(signature)]).encoded)
    }

    /// Decodes (shapes and key validity); the binding is checked by `verify`.
    public init(bytes: [UInt8]) throws {
        try self.init(value: try CBORValue.decode(bytes, what: "client descriptor", limit: Self.maximumByteCount), encoded: bytes)
    }

    init(value: CBORValue, encoded: [UInt8]) throws {
        guard encoded.count <= Self.maximumByteCount else {
            throw ClusterError.oversized(what: "client descriptor", limit: Self.maximumByteCount, actual: encoded.count)
        }
        let f = try value.array("client descriptor", count: 3)
        client = try ClientID(value: f[0], what: "client id")
        keySet = try ClientKeySet(value: f[1])
        bindingSignature = try f[2].bytes("client binding signature", count: ClientSigningKey.signatureByteCount)
        self.encoded = encoded
        cbor = value
    }


    /// Checks the binding signature of the signing key over binding(k, 0).
    public func verify(cluster: [UInt8]) throws {
        guard keySet.signingKey.isValidSignature(bindingSignature, for: keySet.bindingMessage(cluster: cluster, name: keys.name)) else {
            throw ClusterError.badClientRecordSignature(keys.name)
        }
    }
}

extension ClientID {
    /// Reads a client id from the wire, refusing values beyond 32 bits.
    init(value: CBORValue, what: String) throws {
        let k = try value.unsigned(what)
        guard k <= UInt64(UInt32.max) else { throw ClusterError.clientOutOfRange(k) }
        self.init(rawValue: UInt32(k))
    }
}
