import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a crash leaves either the old or the new content, never a
/// mix: write a temporary file, fsync it, rename it over the target, fsync the folder.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String, permissions: mode_t = 0o600) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = path + ".tmp-\(UInt32.random(in: 0 ... .max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, permissions)
        guard fd >= 0 else { throw KeystoreError.invalidArgument("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        let written = bytes.withUnsafeBytes { buffer -> Int in
            var offset = 0
            while offset < buffer.count {
                let result = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if result <= 0 { return -1 }
                offset += result
            }
            return offset
        }
        guard written == bytes.count, fsync(fd) == 0 else {
            close(fd)
            throw KeystoreError.invalidArgument("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        close(fd)
        guard Glibc.rename(temporary, path) == 0 else {
            throw KeystoreError.invalidArgument("cannot rename into \(path): \(String(cString: strerror(errno)))")
        }
        ok = true
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Renames `source` over `target` (atomic on one file system), then syncs the folder.
    public static func rename(_ source: String, to target: String) throws {
        guard Glibc.rename(source, target) == 0 else {
            throw KeystoreError.invalidArgument("cannot rename \(source) to \(target): \(String(cString: strerror(errno)))")
        }
        syncDirectory(of: target)
    }

    /// Removes `path` if present, then syncs the folder.
    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw KeystoreError.invalidArgument("cannot remove \(path): \(String(cString: strerror(errno)))")
        }
        syncDirectory(of: path)
    }

    static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
