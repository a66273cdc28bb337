import CustosCrypto
import CustosKeystore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the passphrase comes from: a file, the environment, or a terminal prompt.
/// It is read into zeroize-on-free storage and never into a `String`.
enum Passphrase {
    static func read(file: String?) throws -> SecretBytes {
        try Secret.read(file: file, environment: "CUSTOS_PASSPHRASE", what: "passphrase", prompt: "Custos passphrase: ",
                        hint: "use --passphrase-file, set CUSTOS_PASSPHRASE, or run on a terminal")
    }
}

/// A secret (passphrase, PIN, authorization value) from a file, an environment
/// variable or a terminal prompt, read into zeroize-on-free storage, never a `String`.
enum Secret {
    /// Like `read` without a prompt; nil when neither the file nor the variable is given.
    static func readOptional(file: String?, environment: String, what: String) throws -> SecretBytes? {
        if file == nil && SecretEnvironment.value(environment) == nil { return nil }
        return try read(file: file, environment: environment, what: what, prompt: nil, hint: "")
    }

    static func read(file: String?, environment: String, what: String, prompt: String?, hint: String) throws -> SecretBytes {
        if let file {
            var data = try NamedFile.read(file, what: "\(what) file", limit: 64 * 1024)
            defer { SecretBytes.zeroize(&data) }
            var end = data.count
            while end > 0, data[end - 1] == 0x0a || data[end - 1] == 0x0d { end -= 1 }
            return SecretBytes(data.prefix(end))
        }
        if let value = SecretEnvironment.value(environment) { return value }
        if let prompt, isatty(STDIN_FILENO) == 1, let entered = getpass(prompt) {
            let length = strlen(entered)
            let secret = SecretBytes(UnsafeRawBufferPointer(start: entered, count: length))
            memset(entered, 0, length)
            return secret
        }
        throw KeystoreError.invalidArgument("no \(what): \(hint)")
    }
}
