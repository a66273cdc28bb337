import Foundation

/// Which PKCS#11 modules Custos may load. A module is a shared library run inside the
/// process, and its path is read from `root.json` and the `hsms` table, which anyone
/// who can write the data directory can edit: so a path is loaded only if the operator
/// allowed it, through the environment of the process (never through the data directory).
///
/// Allowed: the paths in `CUSTOS_PKCS11_MODULES` (colon-separated), the path in
/// `CUSTOS_PKCS11_MODULE`, and the standard install locations in `defaults`. A path is
/// allowed when it is one of these, or resolves (through symbolic links) to the same file.
public enum PKCS11Modules {
    public static let defaults = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/pkcs11/yubihsm_pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/pkcs11/yubihsm_pkcs11.so",
    ]

    /// The allowed paths, as configured in `environment`.
    public static func allowed(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var paths = defaults
        if let list = environment["CUSTOS_PKCS11_MODULES"] {
            paths += list.split(separator: ":").map(String.init)
        }
        if let single = environment["CUSTOS_PKCS11_MODULE"], !single.isEmpty { paths.append(single) }
        return paths
    }

    /// Refuses a module that is not allowed, before anything loads it.
    public static func check(_ module: String, allowed: [String] = allowed()) throws {
        let refusal = KeystoreError.invalidArgument(
            "the PKCS#11 module '\(module.prefix(200))' is not allowed: list it in CUSTOS_PKCS11_MODULES (see docs/security.md)")
        guard module.hasPrefix("/") else { throw refusal }
        // Exactly a path the operator named (if it is missing, loading it fails plainly).
        if allowed.contains(module) { return }
        guard let resolved = resolve(module),
              allowed.contains(where: { $0.hasPrefix("/") && resolve($0) == resolved }) else { throw refusal }
    }

    /// Refuses a module that resolves into `directory` (the data directory), even if allowed.
    public static func checkOutside(_ module: String, directory: String) throws {
        guard let resolved = resolve(module), let base = resolve(directory) else { return }
        if resolved.hasPrefix(base.hasSuffix("/") ? base : base + "/") {
            throw KeystoreError.invalidArgument("the PKCS#11 module '\(module.prefix(200))' is inside the data directory; refusing to load it")
        }
    }

    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
