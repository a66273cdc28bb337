/// The ciphertext format of keystore encryption: a format byte, the number of the key
/// version that sealed it, then the AES-256-GCM box.
///
///     0x01 ‖ version (UInt32, big-endian) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
///
/// Carrying the version lets a key rotate while older ciphertexts keep decrypting.
public struct VersionedCiphertext: Sendable, Equatable {
    public static let formatByte: UInt8 = 0x01
    public static let headerByteCount = 5
    /// The shortest valid ciphertext: a header and an empty plaintext's box.
    public static let minimumByteCount = headerByteCount + AEADKey.nonceByteCount + AEADKey.tagByteCount

    /// The key version that sealed `box`.
    public let keyVersion: Int
    /// nonce ‖ ciphertext ‖ tag, as `AEADKey.open` takes it.
    public let box: ArraySlice<UInt8>

    public init(keyVersion: Int, box: [UInt8]) throws {
        guard keyVersion >= 1, keyVersion <= Int(UInt32.max) else {
            throw CustosCryptoError.invalidCiphertext("key version \(keyVersion) does not fit the format")
        }
        self.keyVersion = keyVersion
        self.box = box[...]
    }

    /// Parses a ciphertext; refuses a wrong format byte or one too short to hold a box.
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count >= Self.minimumByteCount, bytes[0] == Self.formatByte else {
            throw CustosCryptoError.invalidCiphertext("not a Custos ciphertext (wrong header or too short)")
        }
        keyVersion = bytes[1..<Self.headerByteCount].reduce(0) { $0 << 8 | Int($1) }
        box = bytes[Self.headerByteCount...]
    }

    public var bytes: [UInt8] {
        let version = UInt32(keyVersion)
        var result: [UInt8] = [Self.formatByte]
        result.reserveCapacity(Self.headerByteCount + box.count)
        for shift in stride(from: 24, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: version >> UInt32(shift))) }
        result += box
        return result
    }
}
