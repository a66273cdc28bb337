import CProcessControl
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a key-custody process does before it reads any secret: no core file (it would
/// hold unwrapped keys, passphrases and bearer secrets), no ptrace attach or
/// /proc/<pid>/mem read by other processes of the same user, and files it creates
/// readable by its owner only, whatever umask it inherited.
public enum ProcessHardening {
    /// Sets RLIMIT_CORE to 0 (soft and hard, so a library cannot raise it again), makes
    /// the process non-dumpable and the umask 077. Returns what could not be done; the
    /// caller reports it (nothing here is fatal on a kernel that refuses).
    @discardableResult
    public static func apply() -> [String] {
        var problems: [String] = []
        umask(0o077)
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        if setrlimit(Int32(RLIMIT_CORE.rawValue), &none) != 0 {
            problems.append("cannot set RLIMIT_CORE to 0: \(String(cString: strerror(errno)))")
        }
        if custos_set_dumpable(0) != 0 {
            problems.append("cannot make the process non-dumpable: \(String(cString: strerror(errno)))")
        }
        return problems
    }

    /// Whether the process may dump core (false after `apply`).
    public static var isDumpable: Bool { custos_get_dumpable() != 0 }

    /// RLIMIT_CORE (soft, hard).
    public static var coreLimit: (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft limit on open files towards `wanted` (bounded by the hard limit)
    /// and returns the limit in force.
    public static func raiseOpenFileLimit(to wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return wanted }
        if limit.rlim_cur < rlim_t(wanted) {
            var raised = limit
            raised.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }
}
