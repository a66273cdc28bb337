import Hummingbird
import CustosKeystore
import NIOCore

/// Per-request state: the authenticated principal, set by `AuthenticationMiddleware`,
/// and the client's address (the peer of the TCP connection: a proxy's, behind one).
public struct CustosRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.principal = nil
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The caller; routes behind the authentication middleware always have one.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw Problem.unauthenticated }
        return principal
    }
}
