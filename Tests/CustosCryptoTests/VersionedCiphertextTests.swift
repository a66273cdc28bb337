@testable import CustosCrypto
import Testing

@Suite("Versioned ciphertext format")
struct VersionedCiphertextTests {
    let box = [UInt8](repeating: 0xAB, count: AEADKey.nonceByteCount + AEADKey.tagByteCount + 3)

    @Test func theHeaderIsTheFormatByteAndTheVersionBigEndian() throws {
        let bytes = try VersionedCiphertext(keyVersion: 0x0102_0304, box: box).bytes
        #expect(Array(bytes.prefix(5)) == [0x01, 0x01, 0x02, 0x03, 0x04])
        #expect(Array(bytes.dropFirst(5)) == box)
        let parsed = try VersionedCiphertext(parsing: bytes)
        #expect(parsed.keyVersion == 0x0102_0304 && Array(parsed.box) == box)
    }

    @Test func aSealedBoxOpensAfterTheRoundTrip() throws {
        let key = AEADKey()
        let sealed = try VersionedCiphertext(keyVersion: 7, box: try key.seal(Array("hello".utf8), associatedData: [1])).bytes
        let parsed = try VersionedCiphertext(parsing: sealed)
        #expect(parsed.keyVersion == 7)
        #expect(try key.open(parsed.box, associatedData: [1]).copyBytes() == Array("hello".utf8))
    }

    @Test func aWrongFormatByteOrAShortInputIsRefused() throws {
        var bytes = try VersionedCiphertext(keyVersion: 1, box: box).bytes
        bytes[0] = 0x02
        #expect(throws: CustosCryptoError.self) { try VersionedCiphertext(parsing: bytes) }
        let shortest = [0x01, 0, 0, 0, 1] + [UInt8](repeating: 0, count: AEADKey.nonceByteCount + AEADKey.tagByteCount)
        #expect(try VersionedCiphertext(parsing: shortest).box.count == AEADKey.nonceByteCount + AEADKey.tagByteCount)
        #expect(throws: CustosCryptoError.self) { try VersionedCiphertext(parsing: Array(shortest.dropLast())) }
        #expect(throws: CustosCryptoError.self) { try VersionedCiphertext(parsing: []) }
    }

    @Test func aVersionOutsideTheFormatIsRefused() {
        #expect(throws: CustosCryptoError.self) { try VersionedCiphertext(keyVersion: 0, box: box) }
        #expect(throws: CustosCryptoError.self) { try VersionedCiphertext(keyVersion: Int(UInt32.max) + 1, box: box) }
    }
}
