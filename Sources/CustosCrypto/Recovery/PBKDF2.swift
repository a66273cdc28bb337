import Crypto

/// PBKDF2 with HMAC-SHA256 (RFC 8018 §5.2). swift-crypto offers no PBKDF2 we can use, and
/// SLIP-39's Feistel rounds are defined with it; checked against RFC 7914 §11 and the
/// SLIP-39 vectors.
public enum PBKDF2SHA256 {
    public static func derive(password: UnsafeRawBufferPointer, salt: [UInt8], iterations: Int, byteCount: Int) -> SecretBytes {
        precondition(iterations >= 1 && byteCount >= 1, "PBKDF2 needs at least one iteration and one output byte")
        let key = SymmetricKey(data: password)
        // The keyed state is computed once; each iteration copies it (the HMAC pads are not re-hashed).
        let keyed = HMAC<SHA256>(key: key)
        var output = [UInt8]()
        output.reserveCapacity(byteCount + 32)
        var block: UInt32 = 1
        while output.count < byteCount {
            var mac = keyed
            mac.update(data: salt)
            mac.update(data: [UInt8(block >> 24), UInt8(truncatingIfNeeded: block >> 16), UInt8(truncatingIfNeeded: block >> 8), UInt8(truncatingIfNeeded: block)])
            var u = Array(mac.finalize())
            var t = u
            if iterations > 1 {
                for _ in 1..<iterations {
                    var next = keyed
                    next.update(data: u)
                    let digest = next.finalize()
                    digest.withUnsafeBytes { bytes in
                        for index in 0..<32 {
                            u[index] = bytes[index]
                            t[index] ^= bytes[index]
                        }
                    }
                }
            }
            output += t
            SecretBytes.zeroize(&u)
            SecretBytes.zeroize(&t)
            block += 1
        }
        defer { SecretBytes.zeroize(&output) }
        return SecretBytes(output.prefix(byteCount))
    }
}
