import Hummingbird
import CustosKeystore

/// Per-request state: the authenticated principal, set by `AuthenticationMiddleware`.
public struct CustosRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.principal = nil
    }

    /// The caller; routes behind the authentication middleware always have one.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw Problem.unauthenticated }
        return principal
    }
}
