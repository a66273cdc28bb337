import CustosKeystore
import CustosPKI
import Foundation
import X509

/// The keystore's TLS certificates and client trust set, as the server's TLS source reads them.
extension KeyService: TLSKeystore {
    /// Renewals the server makes on its own are audited under this name.
    static let serverPrincipal = Principal(id: "server", tenant: nil, role: .admin)

    func tlsServerCertificate(tenant: String, alias: String) async throws -> (chainDER: [[UInt8]], signer: any KeySigner) {
        let material = try await tlsServerMaterial(tenant: TenantID(validating: tenant), alias: KeyAlias(validating: alias))
        return (material.chainDER, material.signer)
    }

    func tlsTrust() async throws -> ClientTrust {
        let trust = try await tlsClientTrust()
        let authorities = try trust.caCertificatesDER.map { try Certificate(derEncoded: $0) }
        return ClientTrust(pins: trust.pins, caCertificates: authorities, revokedPins: trust.revokedPins, revokedSerials: trust.revokedSerials)
    }

    func tlsMarker() async throws -> Int64 { try await tlsChangeMarker() }

    func rotateTLSCertificate(tenant: String, alias: String) async throws {
        _ = try await rotateTLSKey(tenant: TenantID(validating: tenant), alias: KeyAlias(validating: alias), by: Self.serverPrincipal)
    }
}
