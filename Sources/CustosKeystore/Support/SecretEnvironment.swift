import CustosCrypto
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Secrets given in environment variables (passphrases, PINs, tokens, KMS
/// credentials), taken out of the environment when `custos` starts.
///
/// `capture` copies each value into zeroize-on-free memory, unsets it and overwrites
/// the whole entry where the kernel shows it (`/proc/<pid>/environ`), so neither other processes of
/// the same user nor child processes see it for the life of a server. The readers of
/// these variables ask `value`, which answers from that memory.
public enum SecretEnvironment {
    public static let names = ["CUSTOS_PASSPHRASE", "CUSTOS_NEW_PASSPHRASE", "CUSTOS_TOKEN", "CUSTOS_PKCS11_PIN",
                               "CUSTOS_TPM_OWNER_AUTH", "CUSTOS_TPM_AUTH", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                               "CUSTOS_RECOVERY_PASSPHRASE"]
    /// HSM PINs: `CUSTOS_HSM_PIN_<NAME>`.
    public static let prefixes = ["CUSTOS_HSM_PIN_"]

    private static let kept = Mutex<[String: SecretBytes]>([:])

    /// Moves every secret variable present into memory and clears it from the
    /// environment. Calling it again moves only what was set since.
    public static func capture() {
        var present: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                let name = String(text[..<equals])
                if names.contains(name) || prefixes.contains(where: name.hasPrefix) { present.append(name) }
            }
            entry += 1
        }
        kept.withLock { kept in
            for name in present {
                guard let value = getenv(name) else { continue }
                let length = strlen(value)
                kept[name] = SecretBytes(UnsafeRawBufferPointer(start: value, count: length))
                // getenv points into the "NAME=value" entry. Unset first (it looks the
                // name up), then wipe the whole entry: glibc never frees it.
                let entry = value - (name.utf8.count + 1)
                unsetenv(name)
                memset(entry, 0, name.utf8.count + 1 + length)
            }
        }
    }

    /// The value of a secret variable: the captured copy, else (before `capture`, as
    /// in tests) the environment's. nil when it is not set.
    public static func value(_ name: String) -> SecretBytes? {
        if let value = kept.withLock({ $0[name] }) { return value }
        guard let value = getenv(name) else { return nil }
        return SecretBytes(UnsafeRawBufferPointer(start: value, count: strlen(value)))
    }
}
