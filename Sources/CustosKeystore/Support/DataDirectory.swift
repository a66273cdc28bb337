import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The data directory's permissions. It holds the sealed root, the wrapped keys and the
/// audit chain: another local user who can read it can attack the passphrase offline;
/// one who can write it can swap the root or the rows. So the directory is 0700 and
/// every file in it 0600, owned by the user running Custos, and a directory that breaks
/// this is refused before anything in it is read.
public enum DataDirectory {
    public struct InsecurePermissions: Error, CustomStringConvertible {
        public var problems: [String]
        public var description: String {
            problems.joined(separator: "; ")
                + " (others must not read or write the data directory; to run anyway, pass --allow-insecure-permissions"
                + " or set CUSTOS_ALLOW_INSECURE_PERMISSIONS=1)"
        }
    }

    /// Creates the directory (and missing parents) with mode 0700, or corrects an
    /// existing one to 0700: `custos init` owns what it initialises.
    public static func prepare(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard chmod(path, 0o700) == 0 else {
            throw KeystoreError.invalidArgument("cannot make \(path) private (chmod 700): \(String(cString: strerror(errno)))")
        }
    }

    /// What is wrong with the directory and every entry in it (following symbolic links
    /// to what they name): group or other permission bits, or another owner. Empty when
    /// the directory does not exist (the caller reports that as not initialised).
    public static func problems(_ path: String) -> [String] {
        var status = stat()
        guard stat(path, &status) == 0 else { return [] }
        let user = geteuid()
        var found: [String] = []
        func check(_ path: String, _ status: stat, fix: String) {
            let bits = status.st_mode & 0o7777
            if bits & 0o077 != 0 {
                found.append("\(path) has mode \(String(bits, radix: 8)), open to others: run chmod \(fix) \(path)")
            }
            if status.st_uid != user {
                found.append("\(path) belongs to user \(status.st_uid), not to the user running Custos (\(user))")
            }
        }
        check(path, status, fix: "700")
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in entries.sorted() {
            let entry = path + "/" + name
            var entryStatus = stat()
            guard stat(entry, &entryStatus) == 0 else { continue }
            let isDirectory = entryStatus.st_mode & S_IFMT == S_IFDIR
            check(entry, entryStatus, fix: isDirectory ? "700" : "600")
        }
        return found
    }

    /// Refuses a directory others can reach, unless `allowInsecure`; then the problems
    /// are returned for the caller to print as a warning.
    public static func check(_ path: String, allowInsecure: Bool) throws -> [String] {
        let found = problems(path)
        if !found.isEmpty && !allowInsecure { throw InsecurePermissions(problems: found) }
        return found
    }
}
