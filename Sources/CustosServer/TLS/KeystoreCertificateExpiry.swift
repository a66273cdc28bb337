import CustosKeystore
import Foundation

/// Days left of the keystore's certificates for `custos_tls_certificate_days_left`:
/// every unrevoked certificate of every tenant, listed at most once a minute so a
/// scrape does not read the whole certificate table each time.
actor KeystoreCertificateExpiry {
    let keys: KeyService
    private var cached: (at: Date, certificates: [(label: String, notAfter: Date)])?

    init(keys: KeyService) { self.keys = keys }

    func certificates(now: Date = Date()) async -> [(label: String, notAfter: Date)] {
        if let cached, now.timeIntervalSince(cached.at) < 60 { return cached.certificates }
        var list: [(label: String, notAfter: Date)] = []
        // Expired ones stay listed for 30 days, so the gauge shows they went negative.
        if let tenants = try? await keys.tenants(by: KeyService.serverPrincipal) {
            for tenant in tenants {
                for certificate in (try? await keys.certificates(tenant: tenant.id, alias: nil, by: KeyService.serverPrincipal)) ?? []
                where certificate.revokedAt == nil && certificate.notAfter > now - 30 * 86_400 {
                    list.append(("keystore:\(tenant.id):\(certificate.serialHex)", certificate.notAfter))
                }
            }
        }
        cached = (now, list)
        return list
    }
}
