import Foundation

// Signatures: ECDSA as r ‖ s or strict DER, and the recoverable r ‖ s ‖ v form.
extension Secp256k1 {
    public struct ECDSASignature: Sendable, Hashable {
        /// r ‖ s, 32 bytes each, big-endian, both in 1...n-1.
        private let raw: [UInt8]

        init(uncheckedRaw raw: [UInt8]) {
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

        init(uncheckedRaw raw: [UInt8], recoveryID: UInt8) {
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
