import Foundation
@testable import BLS12381

enum Vectors {
    /// shared/vectors, three directories above this file's directory, unless CUSTOS_VECTORS overrides it.
    static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["CUSTOS_VECTORS"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("shared/vectors")
    }

    static func json(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(relativePath))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

func hexBytes(_ s: String) -> [UInt8] {
    var str = Substring(s)
    if str.hasPrefix("0x") { str = str.dropFirst(2) }
    if str.count % 2 == 1 { str = "0" + str }
    var out = [UInt8]()
    out.reserveCapacity(str.count / 2)
    var idx = str.startIndex
    while idx < str.endIndex {
        let next = str.index(idx, offsetBy: 2)
        out.append(UInt8(str[idx..<next], radix: 16)!)
        idx = next
    }
    return out
}

func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

func fpFromHex(_ s: String) -> Fp {
    let raw = hexBytes(s)
    return Fp(bigEndian: [UInt8](repeating: 0, count: 48 - raw.count) + raw)!
}

func fp2FromHex(_ s: String) -> Fp2 {
    let parts = s.split(separator: ",").map(String.init)
    return Fp2(fpFromHex(parts[0]), fpFromHex(parts[1]))
}

/// True when running an unoptimized build, where big-number code is ~50-100x slower.
var isDebugBuild: Bool {
    #if DEBUG
    return true
    #else
    return false
    #endif
}

/// Deterministic generator for reproducible random tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
