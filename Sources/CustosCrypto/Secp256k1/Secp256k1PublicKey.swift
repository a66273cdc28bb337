import CSecp256k1
import Foundation
import SwiftASN1

// Public keys: SEC 1, SPKI and PEM encodings, verification, recovery and Ethereum addresses.
extension Secp256k1 {
    public struct PublicKey: Sendable, Hashable {
        /// Canonical form: 65 bytes 0x04 ‖ X ‖ Y of a point known to be on the curve.
        private let uncompressed: [UInt8]

        init(uncheckedPoint point: secp256k1_pubkey) {
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
}

// MARK: - EIP-55

extension Secp256k1 {
    /// A 20-byte address as "0x" and 40 hex digits, each letter upper-case where the
    /// Keccak-256 of the lower-case text has a nibble of 8 or more (EIP-55).
    public static func checksumAddress(_ address: [UInt8]) -> String {
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

// MARK: - SPKI

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
