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
        if let file {
            guard var data = FileManager.default.contents(atPath: file) else {
                throw KeystoreError.invalidArgument("cannot read passphrase file \(file)")
            }
            defer { data.withUnsafeMutableBytes { SecretBytes.zeroize($0) } }
            var end = data.count
            while end > 0, data[data.startIndex + end - 1] == 0x0a || data[data.startIndex + end - 1] == 0x0d { end -= 1 }
            return SecretBytes(data.prefix(end))
        }
        if let value = getenv("CUSTOS_PASSPHRASE") {
            let length = strlen(value)
            return SecretBytes(UnsafeRawBufferPointer(start: value, count: length))
        }
        if isatty(STDIN_FILENO) == 1, let entered = getpass("Custos passphrase: ") {
            let length = strlen(entered)
            let secret = SecretBytes(UnsafeRawBufferPointer(start: entered, count: length))
            memset(entered, 0, length)
            return secret
        }
        throw KeystoreError.invalidArgument("no passphrase: use --passphrase-file, set CUSTOS_PASSPHRASE, or run on a terminal")
    }
}
