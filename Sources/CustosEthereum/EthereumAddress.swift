import CustosCrypto

/// A 20-byte Ethereum account address, shown in EIP-55 mixed-case checksum form.
public struct EthereumAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(EthereumError) {
        guard bytes.count == 20 else { throw EthereumError.invalid("an address is 20 bytes, got \(bytes.count)") }
        self.bytes = Array(bytes)
    }

    /// "0x" and 40 hex digits. All lower-case or all upper-case text carries no checksum
    /// and is taken as is; mixed case must be the EIP-55 checksum, so a mistyped digit
    /// is caught instead of sending to a wrong account.
    public init(_ text: String, field: String = "address") throws(EthereumError) {
        guard text.hasPrefix("0x") || text.hasPrefix("0X"), text.utf8.count == 42, let bytes = Hex.decode(text) else {
            throw EthereumError.invalid("\(field) must be 0x and 40 hex digits")
        }
        self.bytes = bytes
        let digits = text.dropFirst(2)
        let mixed = digits.contains(where: \.isLowercase) && digits.contains(where: \.isUppercase)
        if mixed, String(digits) != String(checksummed.dropFirst(2)) {
            throw EthereumError.invalid("\(field) fails its EIP-55 checksum")
        }
    }

    public init(publicKey: Secp256k1.PublicKey) {
        bytes = publicKey.ethereumAddress
    }

    public var checksummed: String { Secp256k1.checksumAddress(bytes) }
    public var description: String { checksummed }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// Why an Ethereum input was refused. The text names the field and never holds key material.
public enum EthereumError: Error, Equatable, CustomStringConvertible {
    /// Malformed input: bad hex, a field out of range, RLP that does not decode.
    case invalid(String)
    /// Well-formed but refused: an unsupported transaction type, a signature that does
    /// not fit the chain, high s.
    case refused(String)

    public var description: String {
        switch self {
        case .invalid(let reason), .refused(let reason): reason
        }
    }
}
