import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Secret key material held in memory that is zeroized when the last reference goes.
///
/// Private keys never live in a `String` or a `Data` owned by Custos: `Data` may be
/// copied by the runtime without trace, whereas this buffer is allocated once and
/// overwritten before it is freed.
public final class SecretBytes: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer

    /// Copies `bytes` into zeroize-on-free storage.
    public init<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        var array = Array(bytes)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(array.count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        array.withUnsafeBytes { source in
            if let base = source.baseAddress, source.count > 0 {
                buffer.baseAddress!.copyMemory(from: base, byteCount: source.count)
            }
        }
        storage = buffer
        count = array.count
        SecretBytes.zeroize(&array)
    }

    /// Fresh random bytes from the system's CSPRNG.
    public init(randomCount: Int) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(randomCount, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        var generator = SystemRandomNumberGenerator()
        for index in 0..<randomCount {
            storage[index] = UInt8.random(in: .min ... .max, using: &generator)
        }
        count = randomCount
    }

    public let count: Int

    deinit {
        SecretBytes.zeroize(storage)
        storage.deallocate()
    }

    /// Read-only access that does not copy the secret out of its storage.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// A copy as an array, for APIs that insist on owning their input. Callers zeroize it.
    public func copyBytes() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Constant-time equality: the time taken depends on the length only.
    public func isEqual(to other: SecretBytes) -> Bool {
        withUnsafeBytes { lhs in other.withUnsafeBytes { rhs in ConstantTime.equals(lhs, rhs) } }
    }

    /// Overwrites a buffer so the compiler cannot drop the stores as dead.
    public static func zeroize(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        #if canImport(Glibc)
        explicit_bzero(base, buffer.count)
        #else
        memset_s(base, buffer.count, 0, buffer.count)
        #endif
    }

    public static func zeroize(_ array: inout [UInt8]) {
        array.withUnsafeMutableBytes { zeroize($0) }
        array.removeAll()
    }
}

/// Comparisons whose running time does not depend on where inputs differ.
public enum ConstantTime {
    public static func equals(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<lhs.count {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }

    public static func equals<L: DataProtocol, R: DataProtocol>(_ lhs: L, _ rhs: R) -> Bool {
        let left = Array(lhs), right = Array(rhs)
        return left.withUnsafeBytes { l in right.withUnsafeBytes { r in equals(l, r) } }
    }
}
