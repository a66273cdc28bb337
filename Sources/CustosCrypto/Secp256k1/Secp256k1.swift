import CSecp256k1
import Foundation
import SwiftASN1

/// ECDSA over secp256k1 (Bitcoin, Ethereum), backed by the system libsecp256k1.
///
/// All digests are 32 bytes that the caller has already hashed (SHA-256, Keccak-256, …).
public enum Secp256k1 {
    public struct PrivateKey: Sendable {
        private let scalar: SecretBytes

        /// A uniformly random scalar 0 < k < n from the system CSPRNG.
        public init() {
            while true {
                let candidate = SecretBytes(randomCount: 32)
                if Secp256k1.isValidScalar(candidate) {
                    scalar = candidate
                    return
                }
            }
        }

        /// 32 big-endian bytes with 0 < k < n.
        public init(rawRepresentation: some DataProtocol) throws {
            guard rawRepresentation.count == 32 else { throw Secp256k1Error.invalidPrivateKey }
            let candidate = SecretBytes(rawRepresentation)
            guard Secp256k1.isValidScalar(candidate) else { throw Secp256k1Error.invalidPrivateKey }
            scalar = candidate
        }

        /// The scalar, still in zeroize-on-free storage.
        public var rawRepresentation: SecretBytes { scalar }

        public var publicKey: PublicKey {
            var pubkey = secp256k1_pubkey()
            let created = scalar.withUnsafeBytes { seckey in
                secp256k1_ec_pubkey_create(Secp256k1.context, &pubkey, seckey.bindMemory(to: UInt8.self).baseAddress!)
            }
            // The scalar was checked at construction, so creation cannot fail.
            precondition(created == 1, "secp256k1_ec_pubkey_create failed on a verified key")
            return PublicKey(uncheckedPoint: pubkey)
        }

        /// ECDSA with the RFC 6979 deterministic nonce; the result is always low-s.
        public func signature(forDigest digest: some DataProtocol) throws -> ECDSASignature {
            let message = try Secp256k1.digestBytes(digest)
            var signature = secp256k1_ecdsa_signature()
            let signed = scalar.withUnsafeBytes { seckey in
                secp256k1_ecdsa_sign(
                    Secp256k1.context, &signature, message,
                    seckey.bindMemory(to: UInt8.self).baseAddress!, nil, nil)
            }
            guard signed == 1 else { throw Secp256k1Error.signingFailed }
            var raw = [UInt8](repeating: 0, count: 64)
            _ = secp256k1_ecdsa_signature_serialize_compact(Secp256k1.context, &raw, &signature)
            return ECDSASignature(uncheckedRaw: raw)
        }

        /// Like `signature(forDigest:)`, plus the recovery id (Ethereum's v - 27).
        public func recoverableSignature(forDigest digest: some DataProtocol) throws -> RecoverableSignature {
            let message = try Secp256k1.digestBytes(digest)
            var signature = secp256k1_ecdsa_recoverable_signature()
            let signed = scalar.withUnsafeBytes { seckey in
                secp256k1_ecdsa_sign_recoverable(
                    Secp256k1.context, &signature, message,
                    seckey.bindMemory(to: UInt8.self).baseAddress!, nil, nil)
            }
            guard signed == 1 else { throw Secp256k1Error.signingFailed }
            var raw = [UInt8](repeating: 0, count: 64)
            var recoveryID: Int32 = 0
            _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(Secp256k1.context, &raw, &recoveryID, &signature)
            return RecoverableSignature(uncheckedRaw: raw, recoveryID: UInt8(recoveryID))
        }
    }

    public struct PublicKey: Sendable, Hashable {
        /// Canonical form: 65 bytes 0x04 ‖ X ‖ Y of a point known to be on the curve.
        private let uncompressed: [UInt8]

        fileprivate init(uncheckedPoint point: secp256k1_pubkey) {
            uncompressed = Secp256k1.serialize(point, compressed: false)
        }

        /// SEC 1 compressed point: 0x02 or 0x03 ‖ X.
        public init(compressedRepresentation: some DataProtocol) throws {
            let bytes = Array(compressedRepresentation)
            guard bytes.count == 33 else {
                throw Secp256k1Error.invalidPublicKey(reason: "compressed point must be 33 bytes, got \(bytes.count)")
            }
            guard bytes[0] == 0x02 || bytes[0] == 0x03 else {
                throw Secp256k1Error.invalidPublicKey(reason: "compressed point must start with 0x02 or 0x03")
            }
            self.init(uncheckedPoint: try Secp256k1.parsePoint(bytes))
        }

        /// SEC 1 uncompressed point: 0x04 ‖ X ‖ Y. Hybrid (0x06/0x07) encodings are refused.
        public init(x963Representation: some DataProtocol) throws {
            let bytes = Array(x963Representation)
            guard bytes.count == 65 else {
                throw Secp256k1Error.invalidPublicKey(reason: "uncompressed point must be 65 bytes, got \(bytes.count)")
            }
            guard bytes[0] == 0x04 else {
                throw Secp256k1Error.invalidPublicKey(reason: "uncompressed point must start with 0x04")
            }
            self.init(uncheckedPoint: try Secp256k1.parsePoint(bytes))
        }

        /// X.509 SubjectPublicKeyInfo with id-ecPublicKey and the named curve secp256k1;
        /// the point inside may be compressed or uncompressed.
        public init(derRepresentation: some DataProtocol) throws {
            let point = try Secp256k1SPKI.point(fromDER: Array(derRepresentation))
            if point.count == 33 {
                try self.init(compressedRepresentation: point)
            } else {
                try self.init(x963Representation: point)
            }
        }

        /// A "PUBLIC KEY" PEM block holding a SubjectPublicKeyInfo.
        public init(pemRepresentation: String) throws {
            let document: PEMDocument
            do {
                document = try PEMDocument(pemString: pemRepresentation)
            } catch {
                throw Secp256k1Error.invalidPublicKey(reason: "not a PEM document")
            }
            guard document.discriminator == "PUBLIC KEY" else {
                throw Secp256k1Error.invalidPublicKey(reason: "PEM type is \"\(document.discriminator)\", expected \"PUBLIC KEY\"")
            }
            try self.init(derRepresentation: document.derBytes)
        }

        public var compressedRepresentation: [UInt8] {
            [0x02 | (uncompressed[64] & 1)] + uncompressed[1..<33]
        }

        public var x963Representation: [UInt8] { uncompressed }

        /// SubjectPublicKeyInfo with the uncompressed point, as OpenSSL writes it.
        public var derRepresentation: [UInt8] { Secp256k1SPKI.encode(uncompressed) }

        public var pemRepresentation: String {
            PEMDocument(type: "PUBLIC KEY", derBytes: derRepresentation).pemString
        }

        /// - Parameter allowHighS: true for generic ECDSA, where (r, n - s) is as valid as
        ///   (r, s); false to insist on low s, as Ethereum does since EIP-2.
        public func isValidSignature(_ signature: ECDSASignature, forDigest digest: some DataProtocol, allowHighS: Bool) -> Bool {
            guard let message = try? Secp256k1.digestBytes(digest),
                  var point = try? Secp256k1.parsePoint(uncompressed)
            else { return false }
            var parsed = secp256k1_ecdsa_signature()
            guard secp256k1_ecdsa_signature_parse_compact(Secp256k1.context, &parsed, signature.rawRepresentation) == 1 else {
                return false
            }
            if allowHighS {
                var normalized = secp256k1_ecdsa_signature()
                _ = secp256k1_ecdsa_signature_normalize(Secp256k1.context, &normalized, &parsed)
                parsed = normalized
            }
            // secp256k1_ecdsa_verify itself refuses high-s signatures.
            return secp256k1_ecdsa_verify(Secp256k1.context, &parsed, message, &point) == 1
        }

        /// The public key that produced `signature` over `digest`, if there is one.
        public static func recover(from signature: RecoverableSignature, forDigest digest: some DataProtocol) throws -> PublicKey {
            let message = try Secp256k1.digestBytes(digest)
            var parsed = secp256k1_ecdsa_recoverable_signature()
            guard secp256k1_ecdsa_recoverable_signature_parse_compact(
                Secp256k1.context, &parsed, signature.rawRepresentation, Int32(signature.recoveryID)) == 1
            else { throw Secp256k1Error.recoveryFailed }
            var point = secp256k1_pubkey()
            guard secp256k1_ecdsa_recover(Secp256k1.context, &point, &parsed, message) == 1 else {
                throw Secp256k1Error.recoveryFailed
            }
            return PublicKey(uncheckedPoint: point)
        }

        /// The 20-byte Ethereum account address: the last 20 bytes of Keccak-256(X ‖ Y).
        public var ethereumAddress: [UInt8] {
            Array(Keccak256.hash(data: uncompressed[1...]).suffix(20))
        }

        /// The address as "0x" and 40 hex digits in EIP-55 mixed-case checksum form.
        public var ethereumChecksumAddress: String {
            Secp256k1.checksumAddress(ethereumAddress)
        }
    }

    public struct ECDSASignature: Sendable, Hashable {
        /// r ‖ s, 32 bytes each, big-endian, both in 1...n-1.
        private let raw: [UInt8]

        fileprivate init(uncheckedRaw raw: [UInt8]) {
            self.raw = raw
        }

        /// Strict DER: SEQUENCE { INTEGER r, INTEGER s } in minimal form, nothing after it.
        public init(derRepresentation: some DataProtocol) throws {
            raw = try SignatureDER.parse(Array(derRepresentation))
        }

        /// 64 bytes r ‖ s (IEEE P1363 form), with 0 < r, s < n.
        public init(rawRepresentation: some DataProtocol) throws {
            let bytes = Array(rawRepresentation)
            guard bytes.count == 64 else {
                throw Secp256k1Error.invalidSignatureEncoding(reason: "raw signature must be 64 bytes, got \(bytes.count)")
            }
            try Scalar.checkRange(bytes[0..<32], name: "r")
            try Scalar.checkRange(bytes[32..<64], name: "s")
            raw = bytes
        }

        public var derRepresentation: [UInt8] { SignatureDER.encode(raw) }

        public var rawRepresentation: [UInt8] { raw }

        /// Whether s ≤ n/2, the form libsecp256k1 produces and Ethereum requires.
        public var isLowS: Bool { !Scalar.isGreater(raw[32..<64], than: Scalar.halfOrder) }
    }

    public struct RecoverableSignature: Sendable, Hashable {
        private let raw: [UInt8]
        public let recoveryID: UInt8

        fileprivate init(uncheckedRaw raw: [UInt8], recoveryID: UInt8) {
            self.raw = raw
            self.recoveryID = recoveryID
        }

        /// 64 bytes r ‖ s and a recovery id in 0...3.
        public init(rawRepresentation: some DataProtocol, recoveryID: UInt8) throws {
            guard recoveryID <= 3 else { throw Secp256k1Error.invalidRecoveryID(recoveryID) }
            raw = try ECDSASignature(rawRepresentation: rawRepresentation).rawRepresentation
            self.recoveryID = recoveryID
        }

        /// Ethereum's 65 bytes r ‖ s ‖ v with v in {0, 1, 27, 28}; high s is refused (EIP-2).
        public init(ethereumRepresentation: some DataProtocol) throws {
            let bytes = Array(ethereumRepresentation)
            guard bytes.count == 65 else {
                throw Secp256k1Error.invalidSignatureEncoding(reason: "Ethereum signature must be 65 bytes, got \(bytes.count)")
            }
            let v = bytes[64]
            let id: UInt8
            switch v {
            case 0, 1: id = v
            case 27, 28: id = v - 27
            default: throw Secp256k1Error.invalidRecoveryID(v)
            }
            let signature = try ECDSASignature(rawRepresentation: bytes[0..<64])
            guard signature.isLowS else { throw Secp256k1Error.highS }
            raw = signature.rawRepresentation
            recoveryID = id
        }

        public var rawRepresentation: [UInt8] { raw }

        /// r ‖ s ‖ v with v = 27 + recoveryID.
        public var ethereumRepresentation: [UInt8] { raw + [27 + recoveryID] }

        public var signature: ECDSASignature { ECDSASignature(uncheckedRaw: raw) }
    }
}

// MARK: - libsecp256k1 plumbing

extension Secp256k1 {
    /// Wraps the context pointer so it can live in a `static let`. After creation and
    /// randomization it is only read, which libsecp256k1 allows from any thread.
    private final class Context: @unchecked Sendable {
        let pointer: OpaquePointer

        init() {
            guard let created = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
                fatalError("secp256k1_context_create failed")
            }
            // Blinding for side-channel resistance of signing and key generation.
            let seed = SecretBytes(randomCount: 32)
            let randomized = seed.withUnsafeBytes { bytes in
                secp256k1_context_randomize(created, bytes.bindMemory(to: UInt8.self).baseAddress!)
            }
            precondition(randomized == 1, "secp256k1_context_randomize failed")
            pointer = created
        }
    }

    private static let sharedContext = Context()

    fileprivate static var context: OpaquePointer { sharedContext.pointer }

    fileprivate static func isValidScalar(_ scalar: SecretBytes) -> Bool {
        scalar.count == 32 && scalar.withUnsafeBytes { bytes in
            secp256k1_ec_seckey_verify(context, bytes.bindMemory(to: UInt8.self).baseAddress!) == 1
        }
    }

    fileprivate static func digestBytes(_ digest: some DataProtocol) throws -> [UInt8] {
        guard digest.count == 32 else { throw Secp256k1Error.digestLength(digest.count) }
        return Array(digest)
    }

    fileprivate static func parsePoint(_ bytes: [UInt8]) throws -> secp256k1_pubkey {
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_parse(context, &point, bytes, bytes.count) == 1 else {
            throw Secp256k1Error.invalidPublicKey(reason: "not a point on secp256k1")
        }
        return point
    }

    fileprivate static func serialize(_ point: secp256k1_pubkey, compressed: Bool) -> [UInt8] {
        var point = point
        var output = [UInt8](repeating: 0, count: compressed ? 33 : 65)
        var length = output.count
        let flags = UInt32(compressed ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED)
        _ = secp256k1_ec_pubkey_serialize(context, &output, &length, &point, flags)
        return output
    }

    fileprivate static func checksumAddress(_ address: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var lower = [UInt8]()
        lower.reserveCapacity(40)
        for byte in address {
            lower.append(digits[Int(byte >> 4)])
            lower.append(digits[Int(byte & 0x0f)])
        }
        let hash = Keccak256.hash(data: lower)
        var result = lower
        for (index, character) in lower.enumerated() where character >= UInt8(ascii: "a") {
            let nibble = index % 2 == 0 ? hash[index / 2] >> 4 : hash[index / 2] & 0x0f
            if nibble >= 8 { result[index] = character - 32 }
        }
        return "0x" + String(decoding: result, as: UTF8.self)
    }
}

// MARK: - Scalars

/// Big-endian 32-byte comparisons against the group order.
private enum Scalar {
    /// n, the order of the secp256k1 group.
    static let order: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    ]
    /// ⌊n / 2⌋.
    static let halfOrder: [UInt8] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
    ]

    static func isGreater(_ value: ArraySlice<UInt8>, than bound: [UInt8]) -> Bool {
        for (lhs, rhs) in zip(value, bound) where lhs != rhs {
            return lhs > rhs
        }
        return false
    }

    static func checkRange(_ value: ArraySlice<UInt8>, name: String) throws {
        guard value.contains(where: { $0 != 0 }) else {
            throw Secp256k1Error.invalidSignatureEncoding(reason: "\(name) is zero")
        }
        guard !isGreater(value, than: order) && !value.elementsEqual(order) else {
            throw Secp256k1Error.invalidSignatureEncoding(reason: "\(name) is not below the group order")
        }
    }
}

// MARK: - DER

/// Strict DER for ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
///
/// Hand-parsed rather than through a general ASN.1 decoder so that every rule is visible
/// here: definite short-form lengths only (a secp256k1 signature is at most 72 bytes, so a
/// long form is never minimal), minimal positive integers, nothing trailing.
private enum SignatureDER {
    static func parse(_ bytes: [UInt8]) throws -> [UInt8] {
        func fail(_ reason: String) -> Secp256k1Error { .invalidSignatureEncoding(reason: reason) }

        guard bytes.count >= 2 else { throw fail("too short") }
        guard bytes[0] == 0x30 else { throw fail("expected SEQUENCE tag 0x30") }
        guard bytes[1] < 0x80 else { throw fail("long-form or indefinite SEQUENCE length") }
        guard Int(bytes[1]) == bytes.count - 2 else {
            throw fail(Int(bytes[1]) < bytes.count - 2 ? "trailing data after SEQUENCE" : "SEQUENCE length exceeds input")
        }

        var offset = 2
        func integer(_ name: String) throws -> [UInt8] {
            guard offset + 2 <= bytes.count else { throw fail("\(name): truncated") }
            guard bytes[offset] == 0x02 else { throw fail("\(name): expected INTEGER tag 0x02") }
            let length = Int(bytes[offset + 1])
            guard bytes[offset + 1] < 0x80 else { throw fail("\(name): long-form or indefinite length") }
            guard length > 0 else { throw fail("\(name): empty INTEGER") }
            guard offset + 2 + length <= bytes.count else { throw fail("\(name): length exceeds SEQUENCE") }
            var value = bytes[(offset + 2)..<(offset + 2 + length)]
            offset += 2 + length

            guard value.first! & 0x80 == 0 else { throw fail("\(name): negative INTEGER") }
            if value.first! == 0 && value.count > 1 {
                guard value[value.startIndex + 1] & 0x80 != 0 else { throw fail("\(name): non-minimal leading zero") }
                value = value.dropFirst()
            }
            guard value.count <= 32 else { throw fail("\(name) is not below the group order") }
            let padded = ArraySlice(repeatElement(0, count: 32 - value.count) + value)
            try Scalar.checkRange(padded, name: name)
            return Array(padded)
        }

        let r = try integer("r")
        let s = try integer("s")
        guard offset == bytes.count else { throw fail("trailing data inside SEQUENCE") }
        return r + s
    }

    static func encode(_ raw: [UInt8]) -> [UInt8] {
        func integer(_ value: ArraySlice<UInt8>) -> [UInt8] {
            var minimal = Array(value.drop(while: { $0 == 0 }))
            if minimal.isEmpty || minimal[0] & 0x80 != 0 { minimal.insert(0, at: 0) }
            return [0x02, UInt8(minimal.count)] + minimal
        }
        let body = integer(raw[0..<32]) + integer(raw[32..<64])
        return [0x30, UInt8(body.count)] + body
    }
}

/// SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING } for EC keys on secp256k1.
/// secp256k1 SubjectPublicKeyInfo, through the module's shared SPKI codec.
private enum Secp256k1SPKI {
    static func encode(_ point: [UInt8]) -> [UInt8] {
        SubjectPublicKeyInfo(algorithm: .ecPublicKey(curve: OID.secp256k1), key: point).derRepresentation
    }

    /// The encoded point inside a secp256k1 SPKI (33 or 65 bytes; not yet checked on-curve).
    static func point(fromDER bytes: [UInt8]) throws -> [UInt8] {
        func fail(_ reason: String) -> Secp256k1Error { .invalidPublicKey(reason: reason) }
        let spki: SubjectPublicKeyInfo
        do {
            spki = try SubjectPublicKeyInfo(derEncoded: bytes)
        } catch let error as CustosCryptoError {
            switch error {
            case .malformedDER(let reason): throw fail(reason)
            default: throw fail("not a SubjectPublicKeyInfo structure")
            }
        }
        guard case .ecPublicKey(let curve) = spki.algorithm else {
            throw fail("algorithm is \(spki.algorithm.humanName), not id-ecPublicKey")
        }
        guard curve == OID.secp256k1 else { throw fail("curve is \(curve), not secp256k1 (1.3.132.0.10)") }
        guard spki.key.count == 33 || spki.key.count == 65 else {
            throw fail("point must be 33 or 65 bytes, got \(spki.key.count)")
        }
        return spki.key
    }
}
