import ArgumentParser
import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosPKI
import CustosServer
import Foundation

/// `custos tls …`: certificates for keystore keys and the server's client trust set, on
/// the data directory or through a server (`--server`); the same bodies either way.
struct TLSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls", abstract: "Issue TLS certificates for keystore keys; manage the client trust set.",
        subcommands: [CA.self, Issue.self, SignCSR.self, ImportCertificate.self, List.self, Export.self, Rotate.self, Trust.self, Revoke.self])

    struct CA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ca", abstract: "Certificate authorities.", subcommands: [Create.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Generate a CA key (category TLS) with a self-signed root certificate, or an intermediate signed by --issuer.")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "Tenant id.") var tenant: String
            @Option(name: .long, help: "Alias of the new CA key.") var alias: String
            @Option(name: .long, help: "Scheme: ecdsa-p384-sha384, ecdsa-p256-sha256, ed25519 or rsa-pkcs1-sha256.") var scheme: String = "ecdsa-p384-sha384"
            @Option(name: .long, help: "Subject, \"CN=…,O=…,OU=…,C=…\".") var subject: String
            @Option(name: .long, help: "Validity in days (default 3650 for a root, 1825 for an intermediate).") var days: Int?
            @Option(name: .long, help: "The CA key that signs this intermediate (default: a self-signed root).") var issuer: String?
            @Option(name: .long, help: "basicConstraints path length (default 1 for a root, 0 for an intermediate).") var pathLength: Int?

            func run() async throws {
                try await withBackend(global) { backend in
                    let request = CreateCertificateAuthorityRequest(alias: alias, subject: subject, scheme: scheme, days: days, issuer: issuer,
                                                                    pathLength: pathLength)
                    TLSCommand.print(try await backend.createCertificateAuthority(tenant: tenant, request), global)
                }
            }
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a certificate for a TLS key (generated with --scheme if the alias is new), signed by --issuer or self-signed.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Alias of the TLS key.") var alias: String
        @Option(name: .long, help: "The CA key that signs the certificate.") var issuer: String?
        @Flag(name: .long, help: "Sign the certificate with its own key (for pinning).") var selfSigned = false
        @Option(name: .long, help: "Subject, \"CN=…,O=…,OU=…,C=…\".") var subject: String
        @Option(name: .long, help: "A DNS name (repeatable; '*.' allowed as the left-most label).") var dns: [String] = []
        @Option(name: .long, help: "An IPv4 or IPv6 address (repeatable).") var ip: [String] = []
        @Option(name: .long, help: "server, client or both.") var usage: String = "both"
        @Option(name: .long, help: "Validity in days.") var days: Int = CertificateSpec.defaultDays
        @Option(name: .long, help: "Scheme of a new key (default ecdsa-p384-sha384).") var scheme: String?

        func validate() throws {
            guard (issuer != nil) != selfSigned else { throw ValidationError("give exactly one of --issuer ALIAS and --self-signed") }
        }

        func run() async throws {
            try await withBackend(global) { backend in
                let request = IssueCertificateRequest(alias: alias, subject: subject, issuer: issuer, selfSigned: selfSigned ? true : nil,
                                                      dnsNames: dns, ipAddresses: ip, usage: usage, days: days, scheme: scheme)
                TLSCommand.print(try await backend.issueCertificate(tenant: tenant, request), global)
            }
        }
    }

    struct SignCSR: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sign-csr", abstract: "Sign a PKCS#10 request (PEM or DER) with a CA key.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "The CA key that signs.") var issuer: String
        @Option(name: .long, help: "File holding the request.") var csr: String
        @Option(name: .long, help: "Validity in days.") var days: Int = CertificateSpec.defaultDays
        @Option(name: .long, help: "server, client or both.") var usage: String = "both"
        @Option(name: .long, help: "Write the certificate and its chain (PEM) to this file.") var out: String?

        func run() async throws {
            try await withBackend(global) { backend in
                let request = SignCertificateRequestRequest(issuer: issuer, csr: try TLSCommand.encodedFile(csr, what: "request"), usage: usage, days: days)
                let response = try await backend.signCertificateRequest(tenant: tenant, request)
                if let out { try AtomicFile.write(Array(response.chainPEM.utf8), to: out, permissions: 0o644) }
                TLSCommand.print(response, global)
            }
        }
    }

    struct ImportCertificate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-certificate", abstract: "Store a certificate issued elsewhere for the primary version of a TLS key.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Alias of the TLS key.") var alias: String
        @Option(name: .long, help: "PEM file: the certificate, then its chain (or one DER certificate).") var file: String

        func run() async throws {
            try await withBackend(global) { backend in
                let request = ImportCertificateRequest(certificate: try TLSCommand.encodedFile(file, what: "certificate"))
                TLSCommand.print(try await backend.importCertificate(tenant: tenant, alias: alias, request), global)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's certificates (serial, subject, not after, days left, pin).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Only the certificates of this key.") var alias: String?

        func run() async throws {
            try await withBackend(global) { backend in
                let list = CertificateListResponse(certificates: try await backend.certificates(tenant: tenant, alias: alias))
                global.output.emit(Output.object(list), text: list.certificates.isEmpty ? "no certificates" : list.certificates.map(TLSCommand.row).joined(separator: "\n"))
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the current certificate of a key as PEM (with --chain, the chain up to the root).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Alias of the key.") var alias: String
        @Flag(name: .long, help: "Add the certificates above it.") var chain = false

        func run() async throws {
            try await withBackend(global) { backend in
                let key = try await backend.key(tenant: tenant, alias: alias)
                let certificates = try await backend.certificates(tenant: tenant, alias: alias)
                guard let current = certificates.last(where: { $0.keyVersion == key.primaryVersion && $0.revokedAt == nil }) ?? certificates.last else {
                    throw CLIError("key '\(Output.field(alias))' has no certificate")
                }
                let pem = chain ? current.chainPEM : try TLSCommand.leafPEM(current)
                if global.json { Output.line(Output.encode(Output.object(current))) } else { FileHandle.standardOutput.write(Data(pem.utf8)) }
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "New key version with a new certificate (same issuer, subject, names, usages and validity length).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Alias of the TLS key.") var alias: String

        func run() async throws {
            try await withBackend(global) { backend in
                TLSCommand.print(try await backend.rotateCertificate(tenant: tenant, alias: alias), global)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a certificate (by --serial or --certificate FILE); a server stops accepting it as a client.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Serial, hex as listed.") var serial: String?
        @Option(name: .long, help: "File holding the certificate (PEM or DER).") var certificate: String?

        func validate() throws {
            guard (serial != nil) != (certificate != nil) else { throw ValidationError("give exactly one of --serial and --certificate") }
        }

        func run() async throws {
            try await withBackend(global) { backend in
                let request = RevokeCertificateRequest(serial: serial, certificate: try certificate.map { try TLSCommand.encodedFile($0, what: "certificate") })
                TLSCommand.print(try await backend.revokeCertificate(tenant: tenant, request), global)
            }
        }
    }

    struct Trust: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The server-wide set of client keys (pins) and keystore CAs accepted over mutual TLS; a running server picks changes up without a restart.",
            subcommands: [AddPin.self, RemovePin.self, AddCA.self, RemoveCA.self, List.self])

        struct AddPin: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "add-pin", abstract: "Trust a client public key by its SHA-256 pin.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "64 hex digits, or RFC 7469 base64.") var pin: String
            @Option(name: .long, help: "A note shown in listings.") var label: String?

            func run() async throws {
                try await withBackend(global) { backend in TLSCommand.print(try await backend.trustPin(TrustPinRequest(pin: pin, label: label)), global) }
            }
        }

        struct RemovePin: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove-pin", abstract: "Stop trusting a pinned client key.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "64 hex digits, or RFC 7469 base64.") var pin: String

            func run() async throws {
                try await withBackend(global) { backend in TLSCommand.print(try await backend.untrustPin(pin), global) }
            }
        }

        struct AddCA: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "add-ca", abstract: "Trust the client certificates a keystore CA key issues.")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "Tenant id.") var tenant: String
            @Option(name: .long, help: "Alias of the CA key.") var alias: String

            func run() async throws {
                try await withBackend(global) { backend in
                    TLSCommand.print(try await backend.trustAuthority(TrustAuthorityRequest(tenant: tenant, alias: alias)), global)
                }
            }
        }

        struct RemoveCA: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove-ca", abstract: "Stop trusting a keystore CA key.")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "Tenant id.") var tenant: String
            @Option(name: .long, help: "Alias of the CA key.") var alias: String

            func run() async throws {
                try await withBackend(global) { backend in
                    TLSCommand.print(try await backend.untrustAuthority(TrustAuthorityRequest(tenant: tenant, alias: alias)), global)
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the trusted pins and CAs.")
            @OptionGroup var global: GlobalOptions

            func run() async throws {
                try await withBackend(global) { backend in TLSCommand.print(try await backend.tlsTrust(), global) }
            }
        }
    }

    // MARK: Output

    /// A request or certificate file for a body: PEM as it is, DER as base64.
    static func encodedFile(_ path: String, what: String) throws -> String {
        let data = try NamedFile.data(path, what: "\(what) file", limit: EncodedObject.maximumBytes)
        if data.starts(with: Array("-----BEGIN".utf8)) { return String(decoding: data, as: UTF8.self) }
        return data.base64EncodedString()
    }

    /// The first certificate of a chain, PEM.
    static func leafPEM(_ certificate: CertificateResponse) throws -> String {
        let marker = "-----END CERTIFICATE-----"
        guard let end = certificate.chainPEM.range(of: marker) else { throw CLIError("the certificate body holds no PEM certificate") }
        return String(certificate.chainPEM[..<end.upperBound]) + "\n"
    }

    static func print(_ response: CertificateResponse, _ global: GlobalOptions) {
        global.output.emit(Output.object(response), text: text(response))
    }

    static func print(_ trust: TLSTrustResponse, _ global: GlobalOptions) {
        var lines = trust.pins.map { "pin \($0.pin)" + ($0.label.map { "  " + Output.field($0) } ?? "") }
        lines += trust.authorities.map { "ca  \(Output.field($0.tenant))/\(Output.field($0.alias))" }
        global.output.emit(Output.object(trust), text: lines.isEmpty ? "no trusted pins or CAs" : lines.joined(separator: "\n"))
    }

    static func text(_ certificate: CertificateResponse) -> String {
        var lines = [
            "serial     \(certificate.serial)",
            "subject    \(Output.field(certificate.subject))",
            "issuer     \(Output.field(certificate.issuer))" + (certificate.issuerAlias.map { " (key \(Output.field($0)))" } ?? ""),
            "not after  \(Output.timestamp(certificate.notAfter)) (\(certificate.daysLeft) days left)",
            "pin        \(certificate.pin)",
        ]
        if let alias = certificate.alias { lines.insert("key        \(Output.field(alias)) v\(certificate.keyVersion ?? 0)", at: 0) }
        if !certificate.dnsNames.isEmpty || !certificate.ipAddresses.isEmpty {
            lines.append("names      " + (certificate.dnsNames + certificate.ipAddresses).map(Output.field).joined(separator: ", "))
        }
        lines.append("usages     " + certificate.usages.joined(separator: ", "))
        if let revoked = certificate.revokedAt { lines.append("revoked    \(Output.timestamp(revoked))") }
        return lines.joined(separator: "\n")
    }

    /// One line of `tls list`: serial, subject, not after, days left, pin.
    static func row(_ certificate: CertificateResponse) -> String {
        [certificate.serial, Output.field(certificate.subject), Output.timestamp(certificate.notAfter), "\(certificate.daysLeft)d",
         certificate.pin, certificate.alias.map { Output.field($0) } ?? "(csr)", certificate.revokedAt == nil ? "" : "revoked"]
            .joined(separator: "\t")
    }
}
