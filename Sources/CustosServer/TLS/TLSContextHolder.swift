import Foundation
import NIOCore
import NIOSSL
import Synchronization

/// The TLS context new connections take, swapped whole on reload. A connection keeps
/// the context (and client trust) it started its handshake with.
final class TLSContextHolder: Sendable {
    typealias Verification = @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void

    struct Active: Sendable {
        let context: NIOSSLContext
        /// nil when client certificates are not asked for.
        let verification: Verification?
        let material: TLSMaterial
    }

    private let state = Mutex<Active?>(nil)

    var current: Active? { state.withLock { $0 } }

    func install(_ active: Active) { state.withLock { $0 = active } }
}
