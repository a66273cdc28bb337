import Foundation

/// Locates the test vectors (`<package>/vectors`) and this target's fixtures by source path,
/// so the tests need no bundled resources and run from any clone. `CUSTOS_VECTORS` overrides
/// the vectors directory.
enum TestVectors {
    /// `<package>/Tests/CustosCryptoTests`: this file sits in its `Support/` subfolder.
    static let testsDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support/
        .deletingLastPathComponent()  // CustosCryptoTests/

    /// `<package>/vectors`, unless `CUSTOS_VECTORS` names another copy.
    static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["CUSTOS_VECTORS"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        return testsDirectory
            .deletingLastPathComponent()  // Tests/
            .deletingLastPathComponent()  // the package
            .appendingPathComponent("vectors", isDirectory: true)
    }

    static func url(_ relative: String) -> URL {
        directory.appendingPathComponent(relative)
    }

    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: try existingFile(relative)))
    }

    /// The file, or an error that says where the vectors were looked for: a bare "no such
    /// file" from Foundation does not tell a reader that the whole folder is missing.
    static func existingFile(_ relative: String) throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            let why = ProcessInfo.processInfo.environment["CUSTOS_VECTORS"].flatMap { $0.isEmpty ? nil : "CUSTOS_VECTORS=\($0)" }
                ?? "the repository's vectors/ folder; CUSTOS_VECTORS=<dir> points to another copy"
            throw MissingVectors(message: "test vectors not found: no directory at \(directory.path) (\(why))")
        }
        let file = url(relative)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw MissingVectors(message: "test vector file missing: \(file.path)")
        }
        return file
    }

    /// A file under `Tests/CustosCryptoTests/Fixtures/`.
    static func fixture(_ name: String) throws -> Any {
        let url = testsDirectory.appendingPathComponent("Fixtures").appendingPathComponent(name)
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    }
}

struct MissingVectors: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension Array where Element == UInt8 {
    /// Bytes from hex digits, with or without a "0x" prefix. Traps on malformed test data.
    init(hex: String) {
        var digits = Substring(hex)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        precondition(digits.utf8.count % 2 == 0, "odd number of hex digits: \(hex)")
        var bytes = [UInt8]()
        bytes.reserveCapacity(digits.utf8.count / 2)
        var iterator = digits.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(Self.hexNibble(high) << 4 | Self.hexNibble(low))
        }
        self = bytes
    }

    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexNibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: preconditionFailure("not a hex digit: \(c)")
        }
    }
}
