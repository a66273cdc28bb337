import Crypto
import Foundation

extension BLS12381 {
    /// An ordered committee of distinct public keys with a signing threshold. A key is admitted only
    /// together with a valid proof of possession, which is what makes `FastAggregateVerify` over any
    /// subset safe against rogue-key attacks. Member order defines the bit positions of certificates.
    public struct SignerSet: Sendable, Hashable {
        public let publicKeys: [PublicKey]
        public let threshold: Int
        private let indexByKey: [PublicKey: Int]

        /// Maximum committee size representable in the certificate's UInt16 size field.
        public static let maximumCount = Int(UInt16.max)

        /// Verifies every proof of possession (`missingProofOfPossession(index:)` on failure) and rejects
        /// repeated keys (`duplicateSigner(index:)`, index of the repeat).
        public init(members: [(publicKey: PublicKey, proofOfPossession: ProofOfPossession)], threshold: Int) throws(BLS12381Error) {
            for (i, m) in members.enumerated() where !m.publicKey.isValidProofOfPossession(m.proofOfPossession) {
                throw .missingProofOfPossession(index: i)
            }
            try self.init(preverifiedPublicKeys: members.map(\.publicKey), threshold: threshold)
        }

        /// For keys whose proofs of possession the caller has already verified (for example at
        /// registration in a keystore). Still rejects duplicates and bad thresholds.
        public init(preverifiedPublicKeys keys: [PublicKey], threshold: Int) throws(BLS12381Error) {
            guard !keys.isEmpty, keys.count <= SignerSet.maximumCount, threshold >= 1, threshold <= keys.count else {
                throw .invalidThreshold(threshold: threshold, signers: keys.count)
            }
            var index: [PublicKey: Int] = [:]
            for (i, k) in keys.enumerated() {
                if index[k] != nil { throw .duplicateSigner(index: i) }
                index[k] = i
            }
            publicKeys = keys
            self.threshold = threshold
            indexByKey = index
        }

        public var count: Int { publicKeys.count }

        public func index(of key: PublicKey) -> Int? { indexByKey[key] }

        public static func == (a: SignerSet, b: SignerSet) -> Bool { a.publicKeys == b.publicKeys && a.threshold == b.threshold }
        public func hash(into h: inout Hasher) { h.combine(publicKeys); h.combine(threshold) }
    }

    /// An aggregate signature by a subset of a `SignerSet` on one message.
    ///
    /// Wire encoding (`serializedRepresentation`), all integers big-endian:
    ///
    ///     offset  size            field
    ///     0       1               version, currently 0x01
    ///     1       2               n = signer-set size (UInt16), must equal the verifier's set size
    ///     3       ceil(n/8)       signer bit-vector: member i is bit (i % 8) of byte i / 8 (LSB-first);
    ///                             bits at positions >= n (padding of the last byte) must be zero
    ///     3+ceil(n/8)  96         aggregate signature, compressed G2 (ZCash format)
    ///
    /// Total length 99 + ceil(n/8) bytes. Decoding rejects other versions, a wrong total length, set padding bits,
    /// and an aggregate that is not a valid G2 subgroup point.
    public struct QuorumCertificate: Sendable, Hashable {
        public static let currentVersion: UInt8 = 1

        public let signerSetSize: Int
        /// LSB-first bit-vector of signers, ceil(signerSetSize / 8) bytes.
        public let signerBits: [UInt8]
        public let aggregateSignature: Signature

        /// Builds from signer indices; rejects indices outside 0..<signerSetSize and repeats.
        public init(signerSetSize: Int, signerIndices: [Int], aggregateSignature: Signature) throws(BLS12381Error) {
            guard signerSetSize >= 1, signerSetSize <= SignerSet.maximumCount else {
                throw .invalidThreshold(threshold: 0, signers: signerSetSize)
            }
            var bits = [UInt8](repeating: 0, count: (signerSetSize + 7) / 8)
            for i in signerIndices {
                guard i >= 0, i < signerSetSize else { throw .signerIndexOutOfRange(index: i, signers: signerSetSize) }
                guard bits[i / 8] & (1 << UInt8(i % 8)) == 0 else { throw .duplicateShare(index: i) }
                bits[i / 8] |= 1 << UInt8(i % 8)
            }
            self.signerSetSize = signerSetSize
            signerBits = bits
            self.aggregateSignature = aggregateSignature
        }

        /// Decodes the wire encoding described on the type.
        public init<D: DataProtocol>(serializedRepresentation data: D) throws(BLS12381Error) {
            let bytes = Array(data)
            guard bytes.count >= 3 else { throw .invalidLength(expected: 3, actual: bytes.count) }
            guard bytes[0] == QuorumCertificate.currentVersion else { throw .unsupportedVersion(bytes[0]) }
            let n = Int(bytes[1]) << 8 | Int(bytes[2])
            guard n >= 1 else { throw .invalidThreshold(threshold: 0, signers: 0) }
            let bitBytes = (n + 7) / 8
            let expected = 3 + bitBytes + 96
            guard bytes.count == expected else { throw .invalidLength(expected: expected, actual: bytes.count) }
            let bits = Array(bytes[3..<(3 + bitBytes)])
            try QuorumCertificate.checkPadding(bits, size: n)
            signerSetSize = n
            signerBits = bits
            aggregateSignature = try Signature(compressedRepresentation: bytes[(3 + bitBytes)...])
        }

        private static func checkPadding(_ bits: [UInt8], size n: Int) throws(BLS12381Error) {
            let usedInLast = n % 8
            if usedInLast != 0 {
                let padding = bits[bits.count - 1] >> UInt8(usedInLast)
                if padding != 0 { throw .signerBitOutOfRange(bit: n + padding.trailingZeroBitCount) }
            }
        }

        public var serializedRepresentation: [UInt8] {
            [QuorumCertificate.currentVersion, UInt8(signerSetSize >> 8), UInt8(signerSetSize & 0xff)]
                + signerBits + aggregateSignature.compressedRepresentation
        }

        /// Indices of the members whose bit is set, ascending.
        public var signerIndices: [Int] {
            (0..<(signerBits.count * 8)).filter { signerBits[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
        }

        /// Checks the certificate against a committee and message. Cost: one pairing check
        /// (two Miller loops, one final exponentiation) plus one point addition per signer.
        /// Throws the first failing condition: set-size mismatch, out-of-range bits, fewer signers
        /// than the threshold, or a bad aggregate signature.
        public func verify<M: DataProtocol>(message: M, signerSet: SignerSet,
                                            domain: DomainSeparationTag = .standard) throws(BLS12381Error) {
            guard signerSetSize == signerSet.count, signerBits.count == (signerSet.count + 7) / 8 else { throw .signerSetMismatch }
            try QuorumCertificate.checkPadding(signerBits, size: signerSetSize)
            let signers = signerIndices
            guard signers.count >= signerSet.threshold else {
                throw .belowThreshold(required: signerSet.threshold, actual: signers.count)
            }
            let keys = signers.map { signerSet.publicKeys[$0] }
            guard BLS12381.fastAggregateVerify(aggregateSignature, for: message, publicKeys: keys, domain: domain) else {
                throw .invalidAggregateSignature
            }
        }

        public func isValid<M: DataProtocol>(message: M, signerSet: SignerSet, domain: DomainSeparationTag = .standard) -> Bool {
            (try? verify(message: message, signerSet: signerSet, domain: domain)) != nil
        }
    }

    /// Collects signature shares for one message, verifying each share as it arrives so that a bad
    /// share is rejected and named by signer index instead of spoiling the aggregate.
    public struct QuorumCertificateBuilder: Sendable {
        public let signerSet: SignerSet
        public let message: [UInt8]
        public let domain: DomainSeparationTag
        private var shares: [Int: Signature] = [:]

        public init<M: DataProtocol>(signerSet: SignerSet, message: M, domain: DomainSeparationTag = .standard) {
            self.signerSet = signerSet
            self.message = Array(message)
            self.domain = domain
        }

        /// Verifies and records the share of member `index`.
        /// Throws `signerIndexOutOfRange`, `duplicateShare(index:)` or `badShare(index:)`.
        public mutating func add(_ share: Signature, fromSignerAt index: Int) throws(BLS12381Error) {
            guard index >= 0, index < signerSet.count else { throw .signerIndexOutOfRange(index: index, signers: signerSet.count) }
            guard shares[index] == nil else { throw .duplicateShare(index: index) }
            guard signerSet.publicKeys[index].isValidSignature(share, for: message, domain: domain) else { throw .badShare(index: index) }
            shares[index] = share
        }

        /// Same, locating the member by key; throws `unknownSigner` for a key outside the set.
        public mutating func add(_ share: Signature, from publicKey: PublicKey) throws(BLS12381Error) {
            guard let index = signerSet.index(of: publicKey) else { throw .unknownSigner }
            try add(share, fromSignerAt: index)
        }

        public var shareCount: Int { shares.count }
        public var hasQuorum: Bool { shares.count >= signerSet.threshold }

        /// Aggregates the verified shares; throws `belowThreshold` if there are too few.
        public func build() throws(BLS12381Error) -> QuorumCertificate {
            guard hasQuorum else { throw .belowThreshold(required: signerSet.threshold, actual: shares.count) }
            let indices = shares.keys.sorted()
            let aggregate = try BLS12381.aggregate(indices.map { shares[$0]! })
            return try QuorumCertificate(signerSetSize: signerSet.count, signerIndices: indices, aggregateSignature: aggregate)
        }
    }
}
