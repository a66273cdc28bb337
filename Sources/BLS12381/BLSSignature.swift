import Crypto
import CBLS12381Field
import Foundation

/// BLS signatures over BLS12-381 per draft-irtf-cfrg-bls-signature-05, "minimal-pubkey-size"
/// variant with proofs of possession: public keys in G1 (48 bytes), signatures in G2 (96 bytes),
/// ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_.
public enum BLS12381 {
    public static let ciphersuiteID = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
    public static let proofOfPossessionCiphersuiteID = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
    /// Draft-04 KeyGen salt, as used by Ethereum (the value is hashed before first use).
    public static let defaultKeyGenSalt: [UInt8] = Array("BLS-SIG-KEYGEN-SALT-".utf8)

    public static let publicKeyByteCount = 48
    public static let signatureByteCount = 96
    public static let privateKeyByteCount = 32

    static let signatureDST: [UInt8] = Array(ciphersuiteID.utf8)

    /// A hash-to-curve domain separation tag (draft-irtf-cfrg-bls-signature §4.2, RFC 9380 §3.1):
    /// 1 to 255 bytes. Signatures made under one tag never verify under another, so each use of a
    /// key (a protocol message type) gets its own tag. `.standard` is the POP ciphersuite's own.
    public struct DomainSeparationTag: Sendable, Hashable {
        public let bytes: [UInt8]

        public init(_ bytes: [UInt8]) throws(BLS12381Error) {
            guard (1...255).contains(bytes.count) else { throw .invalidDomainSeparationTag(length: bytes.count) }
            self.bytes = bytes
        }

        public init(_ text: String) throws(BLS12381Error) { try self.init(Array(text.utf8)) }

        init(uncheckedBytes: [UInt8]) { bytes = uncheckedBytes }

        /// `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`.
        public static let standard = DomainSeparationTag(uncheckedBytes: signatureDST)
    }
    static let popDST: [UInt8] = Array(proofOfPossessionCiphersuiteID.utf8)

    /// Secret bytes in a heap buffer that is wiped on release.
    final class SecretBytes: @unchecked Sendable {
        let buffer: UnsafeMutableRawBufferPointer

        init(count: Int) {
            buffer = .allocate(byteCount: count, alignment: 16)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
        }

        deinit {
            BLS12381.wipe(buffer)
            buffer.deallocate()
        }
    }

    // MARK: Keys

    public struct PrivateKey: Sendable {
        let secret: SecretBytes
        /// SkToPk, computed once at creation (constant time in the secret).
        public let publicKey: PublicKey

        /// Draft-04 KeyGen: HKDF-SHA256 with the hashed salt, re-hashing the salt while SK == 0.
        /// - Parameters:
        ///   - ikm: at least 32 bytes of secret input keying material.
        ///   - salt: initial salt (hashed before use); defaults to "BLS-SIG-KEYGEN-SALT-".
        ///   - keyInfo: optional context bound into the key.
        public init<IKM: DataProtocol>(ikm: IKM, salt: [UInt8] = BLS12381.defaultKeyGenSalt, keyInfo: [UInt8] = []) throws(BLS12381Error) {
            guard ikm.count >= 32 else { throw .inputKeyMaterialTooShort(minimum: 32, actual: ikm.count) }
            var ikmWithZero = Array(ikm) + [0]
            let ikmKey = SymmetricKey(data: ikmWithZero)
            wipe(&ikmWithZero)
            let info = keyInfo + [0, 48]
            var currentSalt = salt
            let secret = SecretBytes(count: 32)
            while true {
                currentSalt = Array(SHA256.hash(data: currentSalt))
                let prk = HKDF<SHA256>.extract(inputKeyMaterial: ikmKey, salt: currentSalt)
                let okm = HKDF<SHA256>.expand(pseudoRandomKey: prk, info: info, outputByteCount: 48)
                var reduced = okm.withUnsafeBytes { ScalarField.reduce(bigEndian: $0) }
                secret.buffer.copyBytes(from: reduced)
                wipe(&reduced)
                // Whether this candidate is zero is public: KeyGen's retry loop reveals it by design.
                let valid = declassified(ScalarField.isValidNonzeroMask(bigEndian: UnsafeRawBufferPointer(secret.buffer)))
                if valid != 0 { break }
            }
            self.secret = secret
            publicKey = PrivateKey.derivePublicKey(secret)
        }

        /// A fresh key from the system's secure random generator.
        public init() {
            var rng = SystemRandomNumberGenerator()
            var ikm = [UInt8](repeating: 0, count: 32)
            for i in 0..<32 { ikm[i] = UInt8.random(in: 0...255, using: &rng) }
            // KeyGen cannot fail on 32 bytes of IKM.
            self = try! PrivateKey(ikm: ikm)
            wipe(&ikm)
        }

        /// 32-byte big-endian scalar, 0 < sk < r.
        public init<D: DataProtocol>(rawRepresentation: D) throws(BLS12381Error) {
            guard rawRepresentation.count == 32 else { throw .invalidLength(expected: 32, actual: rawRepresentation.count) }
            let secret = SecretBytes(count: 32)
            secret.buffer.copyBytes(from: rawRepresentation)
            // Validity is public (the caller learns it from the error anyway).
            guard declassified(ScalarField.isValidNonzeroMask(bigEndian: UnsafeRawBufferPointer(secret.buffer))) != 0 else { throw .invalidPrivateKey }
            self.secret = secret
            publicKey = PrivateKey.derivePublicKey(secret)
        }

        /// The 32-byte big-endian secret scalar. Handle as secret material.
        public var rawRepresentation: [UInt8] { Array(secret.buffer) }

        /// SkToPk: sk * G1 generator, by the constant-time fixed-base comb.
        static func derivePublicKey(_ secret: SecretBytes) -> PublicKey {
            let point = G1Projective.generatorMultipliedConstantTime(byBigEndian: UnsafeRawBufferPointer(secret.buffer)).toAffine()
            // The public key is public: encoding it may branch on its coordinates.
            return PublicKey(validatedPoint: declassified(point))
        }

        /// Sign: sk * hash_to_G2(message) with the signature DST, constant time in sk.
        public func signature<M: DataProtocol>(for message: M) -> Signature {
            Signature(validatedPoint: signPoint(Array(message), dst: BLS12381.signatureDST))
        }

        /// Sign under another domain separation tag (same ciphersuite otherwise).
        public func signature<M: DataProtocol>(for message: M, domain: DomainSeparationTag) -> Signature {
            Signature(validatedPoint: signPoint(Array(message), dst: domain.bytes))
        }

        /// PopProve: a signature over the compressed public key under the PoP DST.
        public func proofOfPossession() -> ProofOfPossession {
            ProofOfPossession(validatedPoint: signPoint(publicKey.compressedRepresentation, dst: BLS12381.popDST))
        }

        func signPoint(_ message: [UInt8], dst: [UInt8]) -> G2Affine {
            let h = HashToCurve.hashToG2(message, dst: dst)
            // The signature is public: encoding it may branch on its coordinates.
            return declassified(h.multipliedConstantTimeGLS(byBigEndian: UnsafeRawBufferPointer(secret.buffer)).toAffine())
        }
    }

    /// Marks a value computed from the secret key as public for valgrind's memcheck (see
    /// scripts/ct-valgrind.sh); only values that are public by design go through here. Outside
    /// valgrind this costs a call and a few no-op instructions.
    static func declassified<T>(_ value: T) -> T {
        var copy = value
        withUnsafeMutableBytes(of: &copy) { cbls_ct_declassify($0.baseAddress, $0.count) }
        return copy
    }

    /// Best-effort overwrite of a temporary copy of secret bytes.
    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }

    /// Zeroes the bytes. Never inlined and unoptimised, so the stores cannot be dropped as dead
    /// even when the memory is freed right afterwards.
    @inline(never) @_optimize(none)
    static func wipe(_ raw: UnsafeMutableRawBufferPointer) {
        for i in 0..<raw.count { raw.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
    }

    public struct PublicKey: Sendable, Hashable {
        let point: G1Affine
        public let compressedRepresentation: [UInt8]

        init(validatedPoint: G1Affine) {
            point = validatedPoint
            compressedRepresentation = validatedPoint.compressed
        }

        /// Decodes and runs KeyValidate: length, flags, field range, curve, subgroup, non-identity.
        public init<D: DataProtocol>(compressedRepresentation bytes: D) throws(BLS12381Error) {
            let raw = Array(bytes)
            let p = try G1Affine(compressed: raw)
            guard !p.isIdentity else { throw .identityPublicKey }
            guard G1Projective(p).isInSubgroup else { throw .pointNotInSubgroup }
            point = p
            compressedRepresentation = raw
        }

        public static func == (a: PublicKey, b: PublicKey) -> Bool { a.compressedRepresentation == b.compressedRepresentation }
        public func hash(into h: inout Hasher) { h.combine(compressedRepresentation) }

        /// Verify (CoreVerify with the signature DST).
        public func isValidSignature<M: DataProtocol>(_ signature: Signature, for message: M) -> Bool {
            BLS12381.coreVerify(point, signature.point, Array(message), dst: BLS12381.signatureDST)
        }

        /// Verify under another domain separation tag.
        public func isValidSignature<M: DataProtocol>(_ signature: Signature, for message: M, domain: DomainSeparationTag) -> Bool {
            BLS12381.coreVerify(point, signature.point, Array(message), dst: domain.bytes)
        }

        /// PopVerify.
        public func isValidProofOfPossession(_ proof: ProofOfPossession) -> Bool {
            BLS12381.coreVerify(point, proof.point, compressedRepresentation, dst: BLS12381.popDST)
        }
    }

    public struct Signature: Sendable, Hashable {
        let point: G2Affine
        public let compressedRepresentation: [UInt8]

        init(validatedPoint: G2Affine) {
            point = validatedPoint
            compressedRepresentation = validatedPoint.compressed
        }

        /// Decodes with length, flag, field-range, curve and subgroup checks. The identity decodes
        /// (it is a valid G2 element) but never verifies against a valid key.
        public init<D: DataProtocol>(compressedRepresentation bytes: D) throws(BLS12381Error) {
            let raw = Array(bytes)
            let p = try G2Affine(compressed: raw)
            guard p.isIdentity || G2Projective(p).isInSubgroup else { throw .pointNotInSubgroup }
            point = p
            compressedRepresentation = raw
        }

        public static func == (a: Signature, b: Signature) -> Bool { a.compressedRepresentation == b.compressedRepresentation }
        public func hash(into h: inout Hasher) { h.combine(compressedRepresentation) }
    }

    public struct ProofOfPossession: Sendable, Hashable {
        let point: G2Affine
        public let compressedRepresentation: [UInt8]

        init(validatedPoint: G2Affine) {
            point = validatedPoint
            compressedRepresentation = validatedPoint.compressed
        }

        public init<D: DataProtocol>(compressedRepresentation bytes: D) throws(BLS12381Error) {
            let s = try Signature(compressedRepresentation: bytes)
            point = s.point
            compressedRepresentation = s.compressedRepresentation
        }

        public static func == (a: ProofOfPossession, b: ProofOfPossession) -> Bool { a.compressedRepresentation == b.compressedRepresentation }
        public func hash(into h: inout Hasher) { h.combine(compressedRepresentation) }
    }

    // MARK: Core operations

    static let negatedG1Generator = (-G1Projective.generator).toAffine()

    /// e(pk, H(m)) * e(-g1, sig) == 1.
    static func coreVerify(_ pk: G1Affine, _ sig: G2Affine, _ message: [UInt8], dst: [UInt8]) -> Bool {
        if pk.isIdentity { return false }
        let h = HashToCurve.hashToG2(message, dst: dst).toAffine()
        return pairingProductIsOne([(pk, h), (negatedG1Generator, sig)])
    }

    /// Aggregate: the sum of the signatures. Throws on an empty list.
    public static func aggregate(_ signatures: [Signature]) throws(BLS12381Error) -> Signature {
        guard !signatures.isEmpty else { throw .emptyAggregate }
        return Signature(validatedPoint: G2Projective.sum(ofAffine: signatures.map(\.point)).toAffine())
    }

    /// Sum of public keys (for FastAggregateVerify); callers must hold proofs of possession for them.
    static func aggregatePoint(_ keys: [PublicKey]) -> G1Projective {
        G1Projective.sum(ofAffine: keys.map(\.point))
    }

    /// FastAggregateVerify: all keys signed the same message. Every key must have had its proof of
    /// possession verified before (see `SignerSet`), otherwise rogue-key attacks apply.
    public static func fastAggregateVerify<M: DataProtocol>(_ signature: Signature, for message: M, publicKeys: [PublicKey],
                                                           domain: DomainSeparationTag = .standard) -> Bool {
        guard !publicKeys.isEmpty else { return false }
        let aggregateKey = aggregatePoint(publicKeys).toAffine()
        return coreVerify(aggregateKey, signature.point, Array(message), dst: domain.bytes)
    }

    /// AggregateVerify: key i signed message i. One Miller loop per pair plus one for the signature,
    /// one final exponentiation. Under the POP ciphersuite messages need not be distinct (draft-05 section 3.3),
    /// so every key must have had its proof of possession verified before, as for FastAggregateVerify.
    public static func aggregateVerify<M: DataProtocol>(_ signature: Signature, messages: [M], publicKeys: [PublicKey]) -> Bool {
        guard !publicKeys.isEmpty, publicKeys.count == messages.count else { return false }
        var pairs: [(G1Affine, G2Affine)] = []
        pairs.reserveCapacity(publicKeys.count + 1)
        for (pk, m) in zip(publicKeys, messages) {
            pairs.append((pk.point, HashToCurve.hashToG2(Array(m), dst: signatureDST).toAffine()))
        }
        pairs.append((negatedG1Generator, signature.point))
        return pairingProductIsOne(pairs)
    }
}


extension BLS12381.PrivateKey: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the secret.
    public var description: String { "BLS12381.PrivateKey(publicKey: \(publicKey.compressedRepresentation.prefix(6).map { String(format: "%02x", $0) }.joined())…)" }
    public var debugDescription: String { description }
}
