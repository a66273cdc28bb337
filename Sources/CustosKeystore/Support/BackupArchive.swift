import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A backup as one file: a POSIX ustar archive of a flat set of regular files.
///
/// The reader is strict because an archive comes from outside: only regular files with
/// plain names (no `/`, no `..`, no absolute path), no links, devices or directories,
/// no name twice, a bounded number of entries, checksums that match. Anything else is
/// refused before a byte is written.
enum BackupArchive {
    static let maximumEntries = 64

    /// Writes `names` from `directory` into a new archive at `path` (O_EXCL, 0600), fsync'd.
    static func write(_ names: [String], from directory: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw KeystoreError.invalidArgument("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        func put(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    guard written > 0 else { throw KeystoreError.invalidArgument("cannot write \(path): \(String(cString: strerror(errno)))") }
                    offset += written
                }
            }
        }
        for name in names {
            let source = directory + "/" + name
            guard let input = FileHandle(forReadingAtPath: source) else { throw KeystoreError.invalidArgument("cannot read \(source)") }
            defer { try? input.close() }
            var status = stat()
            guard stat(source, &status) == 0 else { throw KeystoreError.invalidArgument("cannot read \(source)") }
            let size = Int(status.st_size)
            try put(header(name: name, size: size))
            var copied = 0
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                copied += chunk.count
                try put(Array(chunk))
            }
            guard copied == size else { throw KeystoreError.invalidArgument("\(source) changed while it was archived") }
            if size % 512 != 0 { try put([UInt8](repeating: 0, count: 512 - size % 512)) }
        }
        try put([UInt8](repeating: 0, count: 1024))
        guard fsync(fd) == 0 else { throw KeystoreError.invalidArgument("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }

    static func header(name: String, size: Int) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func field(_ offset: Int, _ text: String) {
            for (index, byte) in text.utf8.enumerated() { block[offset + index] = byte }
        }
        func octal(_ offset: Int, _ width: Int, _ value: Int) {
            field(offset, String(repeating: "0", count: max(0, width - 1 - String(value, radix: 8).count)) + String(value, radix: 8))
        }
        field(0, name)
        octal(100, 8, 0o600)
        octal(108, 8, 0)
        octal(116, 8, 0)
        octal(124, 12, size)
        octal(136, 12, Int(Date().timeIntervalSince1970))
        block[156] = UInt8(ascii: "0")
        field(257, "ustar")
        field(263, "00")
        for index in 148..<156 { block[index] = 0x20 }
        let sum = block.reduce(0) { $0 + Int($1) }
        octal(148, 7, sum)
        block[154] = 0
        block[155] = 0x20
        return block
    }

    /// Why `name` may not be extracted, or nil when it is a plain file name.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "an entry without a name" }
        if name.hasPrefix("/") { return "the absolute path '\(name.prefix(100))'" }
        if name.split(separator: "/", omittingEmptySubsequences: false).contains("..") { return "the path '\(name.prefix(100))', which leaves the archive's folder" }
        if name.contains("/") || name == "." { return "the path '\(name.prefix(100))' (a backup holds plain file names only)" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { return "a name with control characters" }
        return nil
    }

    /// Extracts the archive at `path` into the empty directory `directory`; returns the
    /// names. Refuses, writing nothing more, at the first entry that is not a plain file.
    static func extract(_ path: String, into directory: String) throws -> [String] {
        guard let input = FileHandle(forReadingAtPath: path) else { throw KeystoreError.invalidArgument("cannot read \(path)") }
        defer { try? input.close() }
        func refuse(_ reason: String) -> KeystoreError { .invalidArgument("the backup archive \(path) is refused: \(reason)") }
        func read(_ count: Int) throws -> [UInt8] {
            var out: [UInt8] = []
            while out.count < count {
                guard let chunk = try input.read(upToCount: min(count - out.count, 1 << 20)), !chunk.isEmpty else { break }
                out += chunk
            }
            return out
        }
        func text(_ block: [UInt8], _ range: Range<Int>) -> String {
            String(decoding: block[range].prefix { $0 != 0 }, as: UTF8.self)
        }
        func octal(_ block: [UInt8], _ range: Range<Int>) throws -> Int {
            let digits = text(block, range).trimmingCharacters(in: .whitespaces)
            guard !digits.isEmpty, let value = Int(digits, radix: 8), value >= 0 else { throw refuse("a header field is not an octal number") }
            return value
        }
        var names: [String] = []
        while true {
            let block = try read(512)
            guard block.count == 512 else { throw refuse("it ends in the middle of a header (truncated)") }
            if block.allSatisfy({ $0 == 0 }) { break }
            var unsigned = block
            for index in 148..<156 { unsigned[index] = 0x20 }
            guard try octal(block, 148..<156) == unsigned.reduce(0, { $0 + Int($1) }) else { throw refuse("a header checksum does not match") }
            let name = text(block, 0..<100)
            let prefix = text(block, 345..<500)
            let full = prefix.isEmpty ? name : prefix + "/" + name
            switch block[156] {
            case UInt8(ascii: "0"), 0: break
            case UInt8(ascii: "2"): throw refuse("'\(full.prefix(100))' is a symbolic link")
            case UInt8(ascii: "1"): throw refuse("'\(full.prefix(100))' is a hard link")
            case UInt8(ascii: "5"): throw refuse("'\(full.prefix(100))' is a directory")
            default: throw refuse("'\(full.prefix(100))' is not a regular file (type '\(String(UnicodeScalar(block[156])))')")
            }
            if let problem = nameProblem(full) { throw refuse("it holds \(problem)") }
            guard !names.contains(full) else { throw refuse("it holds '\(full)' twice") }
            guard names.count < maximumEntries else { throw refuse("it holds more than \(maximumEntries) files") }
            let size = try octal(block, 124..<136)
            let target = directory + "/" + full
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw KeystoreError.invalidArgument("cannot create \(target): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var remaining = size
            while remaining > 0 {
                let chunk = try read(min(remaining, 1 << 20))
                guard !chunk.isEmpty else { throw refuse("'\(full)' is truncated") }
                let written = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
                guard written == chunk.count else { throw KeystoreError.invalidArgument("cannot write \(target): \(String(cString: strerror(errno)))") }
                remaining -= chunk.count
            }
            guard fsync(fd) == 0 else { throw KeystoreError.invalidArgument("cannot sync \(target)") }
            if size % 512 != 0 { _ = try read(512 - size % 512) }
            names.append(full)
        }
        return names
    }
}
