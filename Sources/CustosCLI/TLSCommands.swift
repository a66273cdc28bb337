import ArgumentParser
import CustosAPI
import CustosCrypto
import CustosKeystore
import CustosPKI
import CustosServer
import Foundation

/// `custos tls …`: certificates for keystore keys and the server's client trust set,
/// on the local data directory. The output bodies are the API's (`APIViews.swift`).
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
                try await withLocalKeystore(global) { service in
                    let spec = CertificateAuthoritySpec(
                        tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), subject: subject,
                        scheme: try SignatureScheme(identifier: scheme), days: days, issuer: try issuer.map { try KeyAlias(validating: $0) },
                        pathLength: pathLength)
                    TLSCommand.print(try await service.createCertificateAuthority(spec, by: .local), global)
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
            try await withLocalKeystore(global) { service in
                let spec = CertificateSpec(
                    tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), subject: subject,
                    issuer: try issuer.map { try KeyAlias(validating: $0) }, dnsNames: dns, ipAddresses: ip,
                    usage: try CertificateUsage(option: usage), days: days, scheme: try scheme.map { try SignatureScheme(identifier: $0) })
                TLSCommand.print(try await service.issueCertificate(spec, by: .local), global)
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
            try await withLocalKeystore(global) { service in
                guard let data = FileManager.default.contents(atPath: csr), data.count <= 64 * 1024 else {
                    throw CLIError("cannot read the request file \(csr) (at most 64 KiB)")
                }
                let info = try await service.signCertificateRequest(tenant: try TenantID(validating: tenant), issuer: try KeyAlias(validating: issuer),
                                                                    csr: Array(data), days: days, usage: try CertificateUsage(option: usage), by: .local)
                if let out { try AtomicFile.write(Array(CertificateResponse(info).chainPEM.utf8), to: out, permissions: 0o644) }
                TLSCommand.print(info, global)
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
            try await withLocalKeystore(global) { service in
                guard let data = FileManager.default.contents(atPath: file), data.count <= 64 * 1024 else {
                    throw CLIError("cannot read the certificate file \(file) (at most 64 KiB)")
                }
                TLSCommand.print(try await service.importCertificate(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias),
                                                                     certificate: Array(data), by: .local), global)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's certificates (serial, subject, not after, days left, pin).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Tenant id.") var tenant: String
        @Option(name: .long, help: "Only the certificates of this key.") var alias: String?

        func run() async throws {
            try await withLocalKeystore(global) { service in
                let infos = try await service.certificates(tenant: try TenantID(validating: tenant), alias: try alias.map { try KeyAlias(validating: $0) }, by: .local)
                let list = CertificateListResponse(infos)
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
            try await withLocalKeystore(global) { service in
                let key = try await service.key(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: .local)
                let infos = try await service.certificates(tenant: key.tenant, alias: key.alias, by: .local)
                guard let current = infos.last(where: { $0.keyVersion == key.primaryVersion && $0.revokedAt == nil }) ?? infos.last else {
                    throw CLIError("key '\(alias)' has no certificate")
                }
                let response = CertificateResponse(current)
                let pem = chain ? response.chainPEM : CertificatePEM.encode(current.chainDER[0])
                if global.json { Output.line(Output.encode(Output.object(response))) } else { FileHandle.standardOutput.write(Data(pem.utf8)) }
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
            try await withLocalKeystore(global) { service in
                TLSCommand.print(try await service.rotateTLSKey(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: .local), global)
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
            try await withLocalKeystore(global) { service in
                let tenant = try TenantID(validating: self.tenant)
                let info: CertificateInfo
                if let serial {
                    info = try await service.revokeCertificate(tenant: tenant, serialHex: serial, by: .local)
                } else {
                    guard let path = certificate, let data = FileManager.default.contents(atPath: path), data.count <= 64 * 1024 else {
                        throw CLIError("cannot read the certificate file (at most 64 KiB)")
                    }
                    info = try await service.revokeCertificate(tenant: tenant, certificate: Array(data), by: .local)
                }
                TLSCommand.print(info, global)
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
                try await withLocalKeystore(global) { service in
                    try await service.trustClientPin(try TLSCommand.pin(pin), label: label, by: .local)
                    try await TLSCommand.printTrust(service, global)
                }
            }
        }

        struct RemovePin: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove-pin", abstract: "Stop trusting a pinned client key.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "64 hex digits, or RFC 7469 base64.") var pin: String

            func run() async throws {
                try await withLocalKeystore(global) { service in
                    try await service.untrustClientPin(try TLSCommand.pin(pin), by: .local)
                    try await TLSCommand.printTrust(service, global)
                }
            }
        }

        struct AddCA: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "add-ca", abstract: "Trust the client certificates a keystore CA key issues.")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "Tenant id.") var tenant: String
            @Option(name: .long, help: "Alias of the CA key.") var alias: String

            func run() async throws {
                try await withLocalKeystore(global) { service in
                    try await service.trustCertificateAuthority(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: .local)
                    try await TLSCommand.printTrust(service, global)
                }
            }
        }

        struct RemoveCA: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove-ca", abstract: "Stop trusting a keystore CA key.")
            @OptionGroup var global: GlobalOptions
            @Option(name: .long, help: "Tenant id.") var tenant: String
            @Option(name: .long, help: "Alias of the CA key.") var alias: String

            func run() async throws {
                try await withLocalKeystore(global) { service in
                    try await service.untrustCertificateAuthority(tenant: try TenantID(validating: tenant), alias: try KeyAlias(validating: alias), by: .local)
                    try await TLSCommand.printTrust(service, global)
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the trusted pins and CAs.")
            @OptionGroup var global: GlobalOptions

            func run() async throws {
                try await withLocalKeystore(global) { service in try await TLSCommand.printTrust(service, global) }
            }
        }
    }

    // MARK: Output

    static func pin(_ text: String) throws -> PublicKeyPin {
        do { return try PublicKeyPin(parsing: text) } catch let error as PKIError { throw KeystoreError.certificate(error) }
    }

    static func print(_ info: CertificateInfo, _ global: GlobalOptions) {
        let response = CertificateResponse(info)
        global.output.emit(Output.object(response), text: text(response))
    }

    static func printTrust(_ service: KeyService, _ global: GlobalOptions) async throws {
        let trust = TLSTrustResponse(try await service.tlsTrust(by: .local))
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

/// The TLS commands act on the data directory; through a server they are refused
/// rather than silently run on a local data directory.
private func withLocalKeystore(_ global: GlobalOptions, _ body: (KeyService) async throws -> Void) async throws {
    if global.resolvedServer != nil {
        try await runReporting { throw CLIError("custos tls works on the local data directory; --server (or $CUSTOS_SERVER) is not supported by these commands") }
    }
    try await withKeystore(global, body)
}
