import Crypto

/// SLIP-39 (https://github.com/satoshilabs/slips/blob/master/slip-0039.md): a master secret
/// encrypted by a 4-round Feistel cipher (PBKDF2-HMAC-SHA256 rounds, keyed by an optional
/// passphrase), split by Shamir's scheme over GF(256) in groups of members, each share
/// written as words of a 1024-word list with an RS1024 checksum. Both the original format
/// (customisation string "shamir", identifier in the salt) and the extendable one
/// ("shamir_extendable") are read and written.
///
/// Share values and mnemonics are secret: they stay in `SecretBytes`, words are matched
/// and rendered by constant-time scans of the word list, and GF(256) arithmetic on share
/// bytes uses no table lookups indexed by secret data.
public enum SLIP39 {
    static let radixBits = 10
    static let identifierBits = 15
    static let iterationExponentBits = 4
    static let idExpWords = 2
    static let checksumWords = 3
    static let metadataWords = idExpWords + 2 + checksumWords
    static let minimumStrengthBytes = 16
    static let minimumMnemonicWords = metadataWords + (minimumStrengthBytes * 8 + radixBits - 1) / radixBits
    public static let maximumShareCount = 16
    static let baseIterationCount = 10_000
    static let roundCount = 4
    static let secretIndex: UInt8 = 255
    static let digestIndex: UInt8 = 254
    static let digestLength = 4
    static let customizationOriginal = Array("shamir".utf8)
    static let customizationExtendable = Array("shamir_extendable".utf8)

    /// Parameters every share of one master secret carries.
    public struct CommonParameters: Sendable, Equatable {
        public var identifier: Int
        public var extendable: Bool
        public var iterationExponent: Int
        public var groupThreshold: Int
        public var groupCount: Int
    }

    /// One share: public metadata and a secret value.
    public struct Share: Sendable {
        public let identifier: Int
        public let extendable: Bool
        public let iterationExponent: Int
        public let groupIndex: Int
        public let groupThreshold: Int
        public let groupCount: Int
        /// The member index inside its group, 0-based (the index in the mnemonic).
        public let memberIndex: Int
        public let memberThreshold: Int
        public let value: SecretBytes

        public var common: CommonParameters {
            CommonParameters(identifier: identifier, extendable: extendable, iterationExponent: iterationExponent,
                             groupThreshold: groupThreshold, groupCount: groupCount)
        }

        init(identifier: Int, extendable: Bool, iterationExponent: Int, groupIndex: Int, groupThreshold: Int, groupCount: Int,
             memberIndex: Int, memberThreshold: Int, value: SecretBytes) {
            self.identifier = identifier
            self.extendable = extendable
            self.iterationExponent = iterationExponent
            self.groupIndex = groupIndex
            self.groupThreshold = groupThreshold
            self.groupCount = groupCount
            self.memberIndex = memberIndex
            self.memberThreshold = memberThreshold
            self.value = value
        }

        /// Parses a mnemonic given as bytes (words separated by ASCII white space, any case).
        public init(mnemonic: some Collection<UInt8>) throws(SLIP39Error) {
            var indices = try SLIP39.wordIndices(mnemonic)
            defer { for i in indices.indices { indices[i] = 0 } }
            guard indices.count >= SLIP39.minimumMnemonicWords else {
                throw .invalidLength("a share has at least \(SLIP39.minimumMnemonicWords) words, this one \(indices.count)")
            }
            let padding = (SLIP39.radixBits * (indices.count - SLIP39.metadataWords)) % 16
            guard padding <= 8 else { throw .invalidLength("\(indices.count) words is not the length of any share") }
            let idExp = indices[0] << 10 | indices[1]
            let extendable = (idExp >> 4) & 1 == 1
            guard SLIP39.verifyChecksum(indices, customization: extendable ? SLIP39.customizationExtendable : SLIP39.customizationOriginal) else {
                throw .invalidChecksum
            }
            let parameters = indices[2] << 10 | indices[3]
            let groupIndex = parameters >> 16
            let groupThreshold = (parameters >> 12) & 0xf
            let groupCount = (parameters >> 8) & 0xf
            let memberIndex = (parameters >> 4) & 0xf
            let memberThreshold = parameters & 0xf
            guard groupCount >= groupThreshold else {
                throw .invalidParameters("the group threshold is greater than the group count")
            }
            let valueWords = indices[SLIP39.idExpWords + 2 ..< indices.count - SLIP39.checksumWords]
            let byteCount = (SLIP39.radixBits * valueWords.count - padding) / 8
            guard byteCount >= SLIP39.minimumStrengthBytes, byteCount % 2 == 0 else {
                throw .invalidLength("the secret must be an even number of bytes, at least \(SLIP39.minimumStrengthBytes)")
            }
            var bytes = [UInt8]()
            defer { SecretBytes.zeroize(&bytes) }
            let paddingBits = SLIP39.unpack(valueWords, skipping: padding, into: &bytes)
            guard paddingBits == 0 else { throw .invalidPadding }
            self.init(identifier: idExp >> 5, extendable: extendable, iterationExponent: idExp & 0xf, groupIndex: groupIndex,
                      groupThreshold: groupThreshold + 1, groupCount: groupCount + 1, memberIndex: memberIndex,
                      memberThreshold: memberThreshold + 1, value: SecretBytes(bytes))
        }

        /// The mnemonic: lower-case words separated by single spaces.
        public func mnemonic() -> SecretBytes {
            var indices = [Int]()
            defer { for i in indices.indices { indices[i] = 0 } }
            indices.append((identifier >> 5) & 0x3ff)
            indices.append((identifier & 0x1f) << 5 | (extendable ? 1 << 4 : 0) | iterationExponent)
            let parameters = groupIndex << 16 | (groupThreshold - 1) << 12 | (groupCount - 1) << 8 | memberIndex << 4 | (memberThreshold - 1)
            indices.append(parameters >> 10)
            indices.append(parameters & 0x3ff)
            value.withUnsafeBytes { SLIP39.pack($0, into: &indices) }
            indices += SLIP39.checksum(indices, customization: extendable ? SLIP39.customizationExtendable : SLIP39.customizationOriginal)
            var text = [UInt8]()
            defer { SecretBytes.zeroize(&text) }
            for (position, index) in indices.enumerated() {
                if position > 0 { text.append(0x20) }
                SLIP39.appendWord(index, to: &text)
            }
            return SecretBytes(text)
        }
    }

    // MARK: Splitting and combining

    /// Encrypts `masterSecret` with `passphrase` and splits it: `groupThreshold` of the
    /// `groups` (each a member threshold and count) recover it. Member threshold 1 with
    /// more than one member is refused, as the standard says (use 1-of-1 instead).
    public static func split(masterSecret: SecretBytes, passphrase: SecretBytes = SecretBytes([]), groupThreshold: Int = 1,
                             groups: [(threshold: Int, count: Int)], extendable: Bool = true, iterationExponent: Int = 1,
                             identifier: Int? = nil) throws(SLIP39Error) -> [[Share]] {
        guard masterSecret.count >= minimumStrengthBytes, masterSecret.count % 2 == 0 else {
            throw .invalidLength("the master secret must be an even number of bytes, at least \(minimumStrengthBytes)")
        }
        try checkPassphrase(passphrase)
        guard (0...15).contains(iterationExponent) else { throw .invalidParameters("the iteration exponent must be 0–15") }
        guard !groups.isEmpty, groups.count <= maximumShareCount else { throw .invalidParameters("there must be 1–\(maximumShareCount) groups") }
        guard (1...groups.count).contains(groupThreshold) else {
            throw .invalidParameters("the group threshold must be between 1 and the number of groups (\(groups.count))")
        }
        for group in groups {
            guard (1...maximumShareCount).contains(group.count), (1...group.count).contains(group.threshold) else {
                throw .invalidParameters("a group needs 1–\(maximumShareCount) shares and a threshold between 1 and its share count")
            }
            guard !(group.threshold == 1 && group.count > 1) else {
                throw .invalidParameters("a threshold of 1 with several shares is refused (each share would be the whole secret): use 1-of-1")
            }
        }
        let id = identifier ?? Int(SecretBytes(randomCount: 2).withUnsafeBytes { UInt16($0[0]) << 8 | UInt16($0[1]) } & 0x7fff)
        guard (0..<(1 << identifierBits)).contains(id) else { throw .invalidParameters("the identifier must be a 15-bit number") }
        let encrypted = feistel(masterSecret, passphrase: passphrase, iterationExponent: iterationExponent, identifier: id,
                                extendable: extendable, decrypt: false)
        let groupShares = try splitSecret(threshold: groupThreshold, count: groups.count, secret: encrypted)
        var result: [[Share]] = []
        for (group, groupShare) in zip(groups, groupShares) {
            result.append(try splitSecret(threshold: group.threshold, count: group.count, secret: groupShare.value).map { member in
                Share(identifier: id, extendable: extendable, iterationExponent: iterationExponent, groupIndex: Int(groupShare.x),
                      groupThreshold: groupThreshold, groupCount: groups.count, memberIndex: Int(member.x),
                      memberThreshold: group.threshold, value: member.value)
            })
        }
        return result
    }

    /// Recovers the master secret from exactly the threshold of shares (in each of exactly
    /// the threshold of groups), checking the digest of every Shamir recovery so that a
    /// wrong set of shares is refused rather than yielding another secret. With
    /// `allowingExtraShares`, a group may hold more than its threshold: the extra shares
    /// must lie on the same polynomial.
    public static func combine(_ shares: [Share], passphrase: SecretBytes = SecretBytes([]),
                               allowingExtraShares: Bool = false) throws(SLIP39Error) -> SecretBytes {
        let (encrypted, common) = try recoverEncrypted(shares, allowingExtraShares: allowingExtraShares)
        try checkPassphrase(passphrase)
        return feistel(encrypted, passphrase: passphrase, iterationExponent: common.iterationExponent, identifier: common.identifier,
                       extendable: common.extendable, decrypt: true)
    }

    /// The encrypted master secret and the parameters needed to decrypt it.
    public static func recoverEncrypted(_ shares: [Share], allowingExtraShares: Bool = false) throws(SLIP39Error)
        -> (encrypted: SecretBytes, common: CommonParameters) {
        guard let first = shares.first else { throw .tooFewShares(needed: 1, given: 0, group: nil) }
        let common = first.common
        for share in shares {
            let other = share.common
            if other.identifier != common.identifier || other.extendable != common.extendable {
                throw .differentSets("the shares belong to different sets (their identifiers differ)")
            }
            if other.iterationExponent != common.iterationExponent {
                throw .differentSets("the shares have different iteration exponents")
            }
            if other.groupThreshold != common.groupThreshold || other.groupCount != common.groupCount {
                throw .differentSets("the shares have different group thresholds or group counts")
            }
        }
        var groups: [Int: [Share]] = [:]
        for share in shares {
            var members = groups[share.groupIndex, default: []]
            if let existing = members.first, existing.memberThreshold != share.memberThreshold {
                throw .differentSets("the shares of group \(share.groupIndex + 1) have different member thresholds")
            }
            if let same = members.first(where: { $0.memberIndex == share.memberIndex }) {
                // The same share given twice counts once; two values at one index is an error.
                guard same.value.isEqual(to: share.value) else {
                    throw .duplicateIndex("two different shares carry member index \(share.memberIndex + 1)")
                }
                continue
            }
            members.append(share)
            groups[share.groupIndex] = members
        }
        guard groups.count >= common.groupThreshold else {
            throw .tooFewShares(needed: common.groupThreshold, given: groups.count, group: nil)
        }
        guard groups.count == common.groupThreshold else {
            throw .tooManyShares("\(groups.count) groups were given, the group threshold is \(common.groupThreshold)")
        }
        var groupSecrets: [(x: UInt8, value: SecretBytes)] = []
        for (index, members) in groups.sorted(by: { $0.key < $1.key }) {
            let threshold = members[0].memberThreshold
            guard members.count >= threshold else {
                throw .tooFewShares(needed: threshold, given: members.count, group: common.groupCount > 1 ? index : nil)
            }
            guard members.count == threshold || allowingExtraShares else {
                throw .tooManyShares("\(members.count) shares were given, the threshold is \(threshold)")
            }
            let used = members.prefix(threshold).map { (x: UInt8($0.memberIndex), value: $0.value) }
            let secret = try recoverSecret(threshold: threshold, shares: Array(used))
            if threshold > 1 {
                for extra in members.dropFirst(threshold) {
                    let expected = try interpolate(Array(used), at: UInt8(extra.memberIndex))
                    guard expected.isEqual(to: extra.value) else {
                        throw .invalidDigest("a share beyond the threshold does not belong with the others")
                    }
                }
            }
            groupSecrets.append((UInt8(index), secret))
        }
        return (try recoverSecret(threshold: common.groupThreshold, shares: groupSecrets), common)
    }

    // MARK: Shamir over GF(256) with the digest share

    static func splitSecret(threshold: Int, count: Int, secret: SecretBytes) throws(SLIP39Error) -> [(x: UInt8, value: SecretBytes)] {
        if threshold == 1 { return (0..<count).map { (UInt8($0), secret) } }
        let randomCount = threshold - 2
        var base: [(x: UInt8, value: SecretBytes)] = (0..<randomCount).map { (UInt8($0), SecretBytes(randomCount: secret.count)) }
        let randomPart = SecretBytes(randomCount: secret.count - digestLength)
        let digestShare = SecretBytes(digest(randomPart: randomPart, secret: secret) + randomPart.copyBytes())
        var result = base
        base.append((digestIndex, digestShare))
        base.append((secretIndex, secret))
        for x in randomCount..<count {
            result.append((UInt8(x), try interpolate(base, at: UInt8(x))))
        }
        return result
    }

    static func recoverSecret(threshold: Int, shares: [(x: UInt8, value: SecretBytes)]) throws(SLIP39Error) -> SecretBytes {
        if threshold == 1 { return shares[0].value }
        let secret = try interpolate(shares, at: secretIndex)
        let digestShare = try interpolate(shares, at: digestIndex)
        let ok = digestShare.withUnsafeBytes { bytes in
            let randomPart = SecretBytes(bytes[digestLength...])
            let expected = digest(randomPart: randomPart, secret: secret)
            return expected.withUnsafeBytes { ConstantTime.equals($0, UnsafeRawBufferPointer(rebasing: bytes[..<digestLength])) }
        }
        guard ok else { throw .invalidDigest("the shares do not combine: the digest of the recovered secret does not match (shares of different sets, or a share was altered)") }
        return secret
    }

    static func digest(randomPart: SecretBytes, secret: SecretBytes) -> [UInt8] {
        let mac = randomPart.withUnsafeBytes { key in
            secret.withUnsafeBytes { HMAC<SHA256>.authenticationCode(for: $0, using: SymmetricKey(data: key)) }
        }
        return Array(Array(mac).prefix(digestLength))
    }

    /// f(x) from the points (x_i, y_i) by Lagrange interpolation, byte-wise. The basis
    /// coefficients depend only on the public x_i; the secret y_i are multiplied without tables.
    static func interpolate(_ shares: [(x: UInt8, value: SecretBytes)], at x: UInt8) throws(SLIP39Error) -> SecretBytes {
        let xs = shares.map(\.x)
        guard Set(xs).count == xs.count else { throw .duplicateIndex("share indices must be unique") }
        guard let length = shares.first?.value.count, shares.allSatisfy({ $0.value.count == length }) else {
            throw .differentSets("the share values have different lengths")
        }
        if let hit = shares.first(where: { $0.x == x }) { return hit.value }
        var result = [UInt8](repeating: 0, count: length)
        defer { SecretBytes.zeroize(&result) }
        for (i, share) in shares.enumerated() {
            var numerator: UInt8 = 1
            var denominator: UInt8 = 1
            for (j, other) in shares.enumerated() where j != i {
                numerator = GF256.multiply(numerator, x ^ other.x)
                denominator = GF256.multiply(denominator, share.x ^ other.x)
            }
            let basis = GF256.multiply(numerator, GF256.inverse(denominator))
            share.value.withUnsafeBytes { bytes in
                for k in 0..<length { result[k] ^= GF256.multiply(bytes[k], basis) }
            }
        }
        return SecretBytes(result)
    }

    // MARK: Feistel encryption of the master secret

    static func feistel(_ input: SecretBytes, passphrase: SecretBytes, iterationExponent: Int, identifier: Int, extendable: Bool,
                        decrypt: Bool) -> SecretBytes {
        var bytes = input.copyBytes()
        let half = bytes.count / 2
        var left = Array(bytes[..<half])
        var right = Array(bytes[half...])
        defer {
            SecretBytes.zeroize(&bytes)
            SecretBytes.zeroize(&left)
            SecretBytes.zeroize(&right)
        }
        let salt = extendable ? [] : customizationOriginal + [UInt8(identifier >> 8), UInt8(identifier & 0xff)]
        let iterations = (baseIterationCount << iterationExponent) / roundCount
        let rounds = decrypt ? Array((0..<roundCount).reversed()) : Array(0..<roundCount)
        for round in rounds {
            var password = [UInt8(round)] + passphrase.copyBytes()
            let f = password.withUnsafeBytes { PBKDF2SHA256.derive(password: $0, salt: salt + right, iterations: iterations, byteCount: right.count) }
            SecretBytes.zeroize(&password)
            var mixed = left
            f.withUnsafeBytes { for k in 0..<mixed.count { mixed[k] ^= $0[k] } }
            SecretBytes.zeroize(&left)
            left = right
            right = mixed
        }
        return SecretBytes(right + left)
    }

    static func checkPassphrase(_ passphrase: SecretBytes) throws(SLIP39Error) {
        let printable = passphrase.withUnsafeBytes { $0.allSatisfy { (32...126).contains($0) } }
        guard printable else { throw .invalidParameters("the passphrase must be printable ASCII (32–126)") }
    }

    // MARK: Words, bits and the RS1024 checksum

    /// Each word packed into a UInt64 (at most 8 letters, zero-padded), for constant-time scans.
    static let packedWords: [UInt64] = SLIP39Wordlist.words.map { word in
        word.withUTF8Buffer { buffer in buffer.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
    }

    static func wordIndices(_ mnemonic: some Collection<UInt8>) throws(SLIP39Error) -> [Int] {
        var indices = [Int]()
        var packed: UInt64 = 0
        var length = 0
        var position = 0
        func finishWord() throws(SLIP39Error) {
            guard length > 0 else { return }
            position += 1
            defer { packed = 0; length = 0 }
            guard length <= 8 else { throw .unknownWord(position: position) }
            var found: UInt64 = 0
            var index: UInt64 = 0
            for (i, word) in packedWords.enumerated() {
                let difference = word ^ packed
                let equal = ((difference | (0 &- difference)) >> 63) ^ 1
                let mask = 0 &- equal
                found |= mask
                index |= UInt64(i) & mask
            }
            guard found != 0 else { throw .unknownWord(position: position) }
            indices.append(Int(index))
        }
        for byte in mnemonic {
            if byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d {
                try finishWord()
                continue
            }
            let lower = (0x41...0x5a).contains(byte) ? byte | 0x20 : byte
            if length < 8 { packed |= UInt64(lower) << (8 * UInt64(length)) }
            length += 1
        }
        try finishWord()
        return indices
    }

    static func appendWord(_ index: Int, to text: inout [UInt8]) {
        var selected: UInt64 = 0
        for (i, word) in packedWords.enumerated() {
            let difference = UInt64(i ^ index)
            let mask = 0 &- (((difference | (0 &- difference)) >> 63) ^ 1)
            selected |= word & mask
        }
        while selected != 0 {
            text.append(UInt8(truncatingIfNeeded: selected))
            selected >>= 8
        }
    }

    /// Bytes to 10-bit words, big-endian, with zero padding bits at the front.
    static func pack(_ bytes: UnsafeRawBufferPointer, into indices: inout [Int]) {
        let wordCount = (bytes.count * 8 + radixBits - 1) / radixBits
        var accumulator = 0
        var bits = wordCount * radixBits - bytes.count * 8
        for byte in bytes {
            accumulator = (accumulator << 8) | Int(byte)
            bits += 8
            while bits >= radixBits {
                bits -= radixBits
                indices.append((accumulator >> bits) & 0x3ff)
                accumulator &= (1 << bits) - 1
            }
        }
    }

    /// 10-bit words back to bytes, after `skipping` padding bits; returns the padding bits (must be 0).
    static func unpack(_ indices: ArraySlice<Int>, skipping padding: Int, into bytes: inout [UInt8]) -> Int {
        var accumulator = 0
        var bits = 0
        var paddingBits = 0
        var skipped = false
        for index in indices {
            accumulator = (accumulator << radixBits) | index
            bits += radixBits
            if !skipped {
                bits -= padding
                paddingBits = accumulator >> bits
                accumulator &= (1 << bits) - 1
                skipped = true
            }
            while bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> bits))
                accumulator &= (1 << bits) - 1
            }
        }
        return paddingBits
    }

    static let generator: [UInt32] = [0xE0E040, 0x1C1C080, 0x3838100, 0x7070200, 0xE0E0009,
                                      0x1C0C2412, 0x38086C24, 0x3090FC48, 0x21B1F890, 0x3F3F120]

    static func polymod(_ values: [Int]) -> UInt32 {
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 20
            checksum = (checksum & 0xFFFFF) << 10 ^ UInt32(value)
            for i in 0..<10 { checksum ^= generator[i] & (0 &- ((top >> UInt32(i)) & 1)) }
        }
        return checksum
    }

    static func checksum(_ data: [Int], customization: [UInt8]) -> [Int] {
        let value = polymod(customization.map(Int.init) + data + [0, 0, 0]) ^ 1
        return (0..<checksumWords).reversed().map { Int((value >> (10 * UInt32($0))) & 1023) }
    }

    static func verifyChecksum(_ data: [Int], customization: [UInt8]) -> Bool {
        polymod(customization.map(Int.init) + data) == 1
    }
}

/// Arithmetic in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (the AES field, as SLIP-39 uses),
/// without tables or branches on the operands.
enum GF256 {
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a, b = b, product: UInt8 = 0
        for _ in 0..<8 {
            product ^= a & (0 &- (b & 1))
            a = (a << 1) ^ (0x1B & (0 &- (a >> 7)))
            b >>= 1
        }
        return product
    }

    /// a^254 = a^-1 for a ≠ 0.
    static func inverse(_ a: UInt8) -> UInt8 {
        var result: UInt8 = 1
        var base = a
        var exponent = 254
        while exponent > 0 {
            if exponent & 1 == 1 { result = multiply(result, base) }
            base = multiply(base, base)
            exponent >>= 1
        }
        return result
    }
}

/// Why a set of SLIP-39 shares was refused. No case carries a word or a value of a share.
public enum SLIP39Error: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownWord(position: Int)
    case invalidLength(String)
    case invalidChecksum
    case invalidPadding
    case invalidParameters(String)
    case differentSets(String)
    case duplicateIndex(String)
    /// `group` is the 0-based group index when the missing shares are members of a group.
    case tooFewShares(needed: Int, given: Int, group: Int?)
    case tooManyShares(String)
    case invalidDigest(String)

    public var description: String {
        switch self {
        case .unknownWord(let position): "word \(position) is not in the SLIP-39 word list"
        case .invalidLength(let reason): "invalid share length: \(reason)"
        case .invalidChecksum: "invalid share checksum: a word is wrong or missing"
        case .invalidPadding: "invalid share padding: a word is wrong"
        case .invalidParameters(let reason): reason
        case .differentSets(let reason): reason
        case .duplicateIndex(let reason): reason
        case .tooFewShares(let needed, let given, let group):
            (group.map { "too few shares in group \($0 + 1)" } ?? "too few shares")
                + ": \(given) given, \(needed) needed (\(needed - given) more)"
        case .tooManyShares(let reason): "too many shares: \(reason)"
        case .invalidDigest(let reason): reason
        }
    }
}
