import Crypto
import CustosCrypto
import CustosKeystore
import CustosPKI
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The server's certificate and key from PEM files (`tls.certificate`, `tls.private_key`),
/// clients trusted by `tls.client_ca` and `tls.client_pins`. The marker is a hash of the
/// files' contents, so replacing any of them (in place or by rename) is noticed.
struct PEMFileSource: TLSMaterialSource {
    let certificatePath: String
    let privateKeyPath: String
    let trustFiles: PEMTrustFiles
    /// The keystore's client trust set, added to the files' when `tls.keystore_trust` is on.
    var keystoreTrust: (any TLSKeystore)? = nil

    func changeMarker() async throws -> String {
        var hash = SHA256()
        for path in [certificatePath, privateKeyPath] {
            // A missing file is a change too (and the load that follows says which).
            let bytes = (try? Self.read(path, what: "TLS file")) ?? []
            hash.update(data: Array(path.utf8) + [0] + withUnsafeBytes(of: UInt64(bytes.count).bigEndian, Array.init))
            hash.update(data: bytes)
        }
        let keystoreMarker = try await keystoreTrust?.tlsMarker().description ?? "-"
        return Hex.encode(Array(hash.finalize())) + "/" + (try await trustFiles.changeMarker()) + "/" + keystoreMarker
    }

    func load() async throws -> TLSMaterial {
        let chain = try Self.certificates(path: certificatePath, what: "TLS certificate")
        let (nioKey, publicKey) = try Self.privateKey(privateKeyPath)
        return TLSMaterial(chain: chain, privateKey: nioKey, keyPublicKey: publicKey, trust: try await trustFiles.load().union(keystoreTrust?.tlsTrust() ?? ClientTrust()), origin: "files")
    }

    static func read(_ path: String, what: String) throws -> [UInt8] {
        do {
            return try NamedFile.read(path, what: what)
        } catch {
            throw TLSMaterialError(error.description)
        }
    }

    /// The certificates of a named PEM file: `cannot read TLS certificate /x.pem: no such file`,
    /// `cannot load TLS certificate /x.pem: no CERTIFICATE in the PEM file`.
    static func certificates(path: String, what: String) throws -> [Certificate] {
        let bytes = try read(path, what: what)
        do {
            return try certificates(bytes)
        } catch {
            throw TLSMaterialError("cannot load \(what) \(path): \(error)")
        }
    }

    /// Every certificate of a PEM bundle, in order; at least one.
    static func certificates(_ pem: [UInt8]) throws -> [Certificate] {
        // The parser's own errors quote the file; these name the problem only.
        guard let text = String(validating: pem, as: UTF8.self),
              let documents = try? PEMDocument.parseMultiple(pemString: text).filter({ $0.discriminator == "CERTIFICATE" }) else {
            throw TLSMaterialError("not a complete PEM file")
        }
        guard !documents.isEmpty else { throw TLSMaterialError("no CERTIFICATE in the PEM file") }
        guard let certificates = try? documents.map({ try Certificate(derEncoded: $0.derBytes) }) else {
            throw TLSMaterialError("a CERTIFICATE block is not a DER X.509 certificate")
        }
        return certificates
    }

    /// The key for BoringSSL and its public half for the match check. The PEM text is
    /// decoded from bytes here so the private key never becomes a Swift String.
    static func privateKey(_ path: String) throws -> (NIOSSLPrivateKey, Certificate.PublicKey) {
        var file = try read(path, what: "TLS private key")
        defer { file.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        do {
            var der = try PEMBlock.decode(file)
            defer { der.body.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            let nioKey = try NIOSSLPrivateKey(bytes: der.body, format: .der)
            let key = try Certificate.PrivateKey(pemDocument: PEMDocument(type: der.label, derBytes: der.body))
            return (nioKey, key.publicKey)
        } catch {
            throw TLSMaterialError("cannot load TLS private key \(path): not a PEM private key (PKCS#8, SEC 1 or PKCS#1)")
        }
    }
}

/// The first PEM block of a file: its label and DER body.
enum PEMBlock {
    static func decode(_ bytes: [UInt8]) throws -> (label: String, body: [UInt8]) {
        let begin = Array("-----BEGIN ".utf8), dashes = Array("-----".utf8)
        guard let start = bytes.firstRange(of: begin),
              let labelEnd = bytes[start.upperBound...].firstRange(of: dashes) else { throw TLSMaterialError("no PEM block") }
        let label = String(decoding: bytes[start.upperBound..<labelEnd.lowerBound], as: UTF8.self)
        let end = Array("-----END \(label)-----".utf8)
        guard let endRange = bytes[labelEnd.upperBound...].firstRange(of: end),
              let body = Data(base64Encoded: Data(bytes[labelEnd.upperBound..<endRange.lowerBound]), options: .ignoreUnknownCharacters),
              !body.isEmpty else { throw TLSMaterialError("incomplete PEM block") }
        return (label, Array(body))
    }
}
