import Crypto

/// The identity of a public key: SHA-256 over a purpose prefix and the DER
/// `SubjectPublicKeyInfo`, written as a multihash so the hash algorithm travels
/// with the value ("1220" = SHA-256, 32 bytes).
///
/// The purpose prefix (a big-endian UInt32, 12 for public-key fingerprints) keeps a
/// fingerprint from ever colliding with a hash of the same bytes taken for another
/// purpose.
public struct Fingerprint: Sendable, Hashable, CustomStringConvertible, Codable {
    public static let publicKeyPurpose: UInt32 = 12
    public static let hashAlgorithm = "sha256"

    public let digest: [UInt8]

    public init(subjectPublicKeyInfo spki: [UInt8]) {
        var hasher = SHA256()
        withUnsafeBytes(of: Fingerprint.publicKeyPurpose.bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: spki)
        digest = Array(hasher.finalize())
    }

    public init?(string: String) {
        guard string.hasPrefix("1220"), let bytes = Hex.decode(String(string.dropFirst(4))), bytes.count == 32 else {
            return nil
        }
        digest = bytes
    }

    /// Multihash hex: "1220" followed by the 64 hex digits of the digest.
    public var description: String { "1220" + Hex.encode(digest) }

    /// The first 12 hex digits of the digest: enough for a human to tell keys apart,
    /// never used for lookups that decide anything.
    public var shortID: String { String(Hex.encode(digest).prefix(12)) }
}
