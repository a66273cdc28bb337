import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reading a file the user named (a TLS certificate, a token file, a configuration),
/// with an error that says which file and why: `cannot read TLS certificate
/// /etc/custos/server.pem: no such file`.
public enum NamedFile {
    public struct ReadError: Error, CustomStringConvertible, Equatable {
        /// What the file is for: "TLS certificate", "token file".
        public var what: String
        public var path: String
        /// "no such file", "permission denied", "is a directory", "larger than N bytes", ...
        public var cause: String
        public var description: String { "cannot read \(what) \(path): \(cause)" }

        public init(what: String, path: String, cause: String) {
            self.what = what
            self.path = path
            self.cause = cause
        }
    }

    /// The whole file; refused when larger than `limit` bytes (so a wrong path such as a
    /// device or a huge log cannot exhaust memory).
    public static func read(_ path: String, what: String, limit: Int = 16 << 20) throws(ReadError) -> [UInt8] {
        func failure(_ cause: String) -> ReadError { ReadError(what: what, path: path, cause: cause) }
        guard !path.isEmpty else { throw failure("empty path") }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(cause(errno)) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure(cause(errno)) }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw failure("is a directory") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        defer { chunk.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let reason = cause(errno)
                bytes.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                throw failure(reason)
            }
            if count == 0 { break }
            guard bytes.count + count <= limit else {
                bytes.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                throw failure("larger than \(limit) bytes")
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// The same, as `Data`.
    public static func data(_ path: String, what: String, limit: Int = 16 << 20) throws(ReadError) -> Data {
        var bytes = try read(path, what: what, limit: limit)
        defer { bytes.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        return Data(bytes)
    }

    /// A short, lower-case cause for the common errors; the system's text otherwise.
    static func cause(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case EACCES, EPERM: "permission denied"
        case EISDIR: "is a directory"
        case ENOTDIR: "a component of the path is not a directory"
        case ELOOP: "too many symbolic links"
        default: String(cString: strerror(code)).lowercased()
        }
    }
}

/// The user's home directory: `$HOME` when set (as a shell does), else the password
/// database. Foundation's `expandingTildeInPath` reads only the password database on
/// Linux, so a service or test that sets `HOME` would get another user's directory.
public enum HomeDirectory {
    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let home = environment["HOME"], !home.isEmpty { return home }
        if let entry = getpwuid(getuid()), let directory = entry.pointee.pw_dir { return String(cString: directory) }
        return "/"
    }

    /// `~` and `~/…` expanded from `path(environment:)`; other paths as given.
    public static func expand(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if path == "~" { return Self.path(environment: environment) }
        if path.hasPrefix("~/") {
            let home = Self.path(environment: environment)
            return (home.hasSuffix("/") ? String(home.dropLast()) : home) + path.dropFirst()
        }
        return path
    }
}
