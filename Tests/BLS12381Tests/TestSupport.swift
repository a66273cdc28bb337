import Foundation
@testable import BLS12381

enum Vectors {
    /// `<package>/vectors`, found from this file's path (three directories up), unless
    /// `CUSTOS_VECTORS` names another copy.
    static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["CUSTOS_VECTORS"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // BLS12381Tests/
            .deletingLastPathComponent()  // Tests/
            .deletingLastPathComponent()  // the package
            .appendingPathComponent("vectors")
    }

    static func json(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try existingFile(relativePath))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The file, or an error that says where the vectors were looked for: a bare "no such
    /// file" from Foundation does not tell a reader that the whole folder is missing.
    static func existingFile(_ relativePath: String) throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            let why = ProcessInfo.processInfo.environment["CUSTOS_VECTORS"].flatMap { $0.isEmpty ? nil : "CUSTOS_VECTORS=\($0)" }
                ?? "the repository's vectors/ folder; CUSTOS_VECTORS=<dir> points to another copy"
            throw MissingVectors(message: "test vectors not found: no directory at \(directory.path) (\(why))")
        }
        let file = directory.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw MissingVectors(message: "test vector file missing: \(file.path)")
        }
        return file
    }
}

struct MissingVectors: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
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
