import CustosPKI
import Foundation
import X509

/// Expiry of the certificates the server uses, for the gauge and the readiness check.
enum TLSExpiry {
    static func daysLeft(_ notAfter: Date, now: Date) -> Double {
        notAfter.timeIntervalSince(now) / 86_400
    }

    /// The readiness value of the server certificate: `ok`, `expires-soon (N days)`
    /// (still ready) or `expired` (not ready).
    static func status(notAfter: Date, now: Date = Date(), warningDays: Int) -> String {
        guard now <= notAfter else { return "expired" }
        let days = Int(daysLeft(notAfter, now: now).rounded(.down))
        return days < warningDays ? "expires-soon (\(days) days)" : "ok"
    }

    static func isReady(_ status: String) -> Bool { status == "ok" || status.hasPrefix("expires-soon") }

    /// Every certificate of the material with a gauge label: `server`, and
    /// `client-ca:<pin prefix>` for each trusted client CA.
    static func certificates(of material: TLSMaterial) -> [(label: String, notAfter: Date)] {
        var list: [(label: String, notAfter: Date)] = [("server", material.leaf.notValidAfter)]
        for ca in material.trust.caCertificates {
            let pin = (try? PublicKeyPin(ca).hex.prefix(16)).map(String.init) ?? "unknown"
            list.append(("client-ca:\(pin)", ca.notValidAfter))
        }
        return list
    }
}
