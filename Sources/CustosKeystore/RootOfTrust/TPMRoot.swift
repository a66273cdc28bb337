import CTSS2
import CustosCrypto
import Foundation

/// Which TPM and how the sealed root key is bound to it.
public struct TPMConfiguration: Codable, Sendable, Equatable {
    /// A TCTI string of one of `allowedTCTIs`: `device:/dev/tpmrm0` on real hardware,
    /// `swtpm:host=…,port=…` for swtpm.
    public var tcti: String
    /// SHA-256 PCRs the root key is bound to (empty: bound to the object password only).
    public var pcrs: [Int]

    public static let defaultTCTI = "device:/dev/tpmrm0"
    /// The TCTI modules Custos loads. Any other name (`cmd:` runs a shell, a library
    /// path loads code) is refused, since the string is read from `root.json`.
    public static let allowedTCTIs = ["device", "swtpm", "mssim", "tabrmd"]

    public init(tcti: String = defaultTCTI, pcrs: [Int] = []) {
        self.tcti = tcti
        self.pcrs = pcrs
    }

    var pcrMask: UInt32 { pcrs.reduce(0) { $0 | (1 << UInt32($1)) } }

    func validate() throws {
        guard !tcti.isEmpty, tcti.utf8.count <= 1024, !tcti.utf8.contains(0) else {
            throw KeystoreError.invalidArgument("the TPM TCTI string is empty or too long")
        }
        let name = tcti.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard Self.allowedTCTIs.contains(String(name)) else {
            throw KeystoreError.invalidArgument("the TPM TCTI '\(name.prefix(40))' is not allowed; use one of \(Self.allowedTCTIs.joined(separator: ", "))")
        }
        guard pcrs.allSatisfy({ (0...23).contains($0) }), Set(pcrs).count == pcrs.count else {
            throw KeystoreError.invalidArgument("TPM PCRs must be distinct numbers from 0 to 23")
        }
    }
}

/// The root key sealed as a keyed-hash object under the owner hierarchy's standard
/// ECC P-256 storage primary, optionally under a PCR policy. The TPM keeps nothing:
/// the sealed public and private parts are stored in the data directory, and opening
/// them needs the same TPM, the owner authorization and (if set) the same PCR values.
public struct TPMSealer: RootSealer {
    public let provider = "tpm"
    public let configuration: TPMConfiguration
    private let ownerAuth: SecretBytes
    private let objectAuth: SecretBytes

    public init(configuration: TPMConfiguration, ownerAuth: SecretBytes = SecretBytes([]), objectAuth: SecretBytes = SecretBytes([])) throws {
        try configuration.validate()
        guard ownerAuth.count <= 64, objectAuth.count <= 64 else {
            throw KeystoreError.invalidArgument("TPM authorization values are at most 64 bytes")
        }
        self.configuration = configuration
        self.ownerAuth = ownerAuth
        self.objectAuth = objectAuth
    }

    private func failure(_ rc: UInt32, _ what: String) -> KeystoreError {
        let text = String(cString: custos_tpm_describe(rc))
        let hint: String
        switch rc & 0xFFFF_0000 {
        case 0x000A_0000, 0x0010_0000: hint = " (cannot reach the TPM through TCTI '\(configuration.tcti)')"
        default:
            let code = rc & 0xFFF
            if code == 0x9A2 || code == 0x98E || (rc & 0xFF) == 0x8E { hint = " (wrong authorization)" }
            else if code == 0x921 { hint = " (the TPM is in dictionary-attack lockout after wrong authorizations)" }
            else if code == 0x99D || (rc & 0xFF) == 0x9D { hint = " (the PCR policy is not met: PCR values changed)" }
            else { hint = "" }
        }
        return KeystoreError.unsealFailed("tpm: \(what) failed: \(text)\(hint)")
    }

    public func prepare() async throws {}

    public func seal(_ rootKey: SecretBytes, context: [UInt8]) async throws -> [UInt8] {
        // The context is public; the TPM object binds the key, and SealedRoot checks the
        // root key id after every unseal.
        var publicPart = [UInt8](repeating: 0, count: 1024)
        var privatePart = [UInt8](repeating: 0, count: 1024)
        var publicLength = publicPart.count
        var privateLength = privatePart.count
        let rc = ownerAuth.withUnsafeBytes { owner in
            objectAuth.withUnsafeBytes { object in
                rootKey.withUnsafeBytes { data in
                    custos_tpm_seal(configuration.tcti, owner.bindMemory(to: UInt8.self).baseAddress, owner.count,
                                    object.bindMemory(to: UInt8.self).baseAddress, object.count, configuration.pcrMask,
                                    data.bindMemory(to: UInt8.self).baseAddress, data.count,
                                    &publicPart, &publicLength, &privatePart, &privateLength)
                }
            }
        }
        guard rc == 0 else { throw failure(rc, "sealing the root key") }
        return Array(publicPart.prefix(publicLength)) + Array(privatePart.prefix(privateLength))
    }

    public func unseal(_ sealed: [UInt8], context: [UInt8]) async throws -> SecretBytes {
        // A marshalled TPM2B_PUBLIC starts with its own big-endian size.
        guard sealed.count > 4 else { throw KeystoreError.unsealFailed("tpm: the sealed root key is malformed") }
        let publicLength = 2 + (Int(sealed[0]) << 8 | Int(sealed[1]))
        guard sealed.count > publicLength + 2 else { throw KeystoreError.unsealFailed("tpm: the sealed root key is malformed") }
        let publicPart = Array(sealed.prefix(publicLength))
        let privatePart = Array(sealed.dropFirst(publicLength))
        var out = [UInt8](repeating: 0, count: 128)
        defer { SecretBytes.zeroize(&out) }
        var length = out.count
        let rc = ownerAuth.withUnsafeBytes { owner in
            objectAuth.withUnsafeBytes { object in
                custos_tpm_unseal(configuration.tcti, owner.bindMemory(to: UInt8.self).baseAddress, owner.count,
                                  object.bindMemory(to: UInt8.self).baseAddress, object.count, configuration.pcrMask,
                                  publicPart, publicPart.count, privatePart, privatePart.count, &out, &length)
            }
        }
        guard rc == 0 else { throw failure(rc, "unsealing the root key") }
        return SecretBytes(out.prefix(length))
    }
}
