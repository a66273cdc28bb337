import CustosCrypto
import CustosStore
import Foundation

extension KeyService {
    // MARK: Root of trust status (readiness, kill switch)

    /// Where the root of trust stands; readiness is `rootStatus.isReady`.
    public var rootStatus: RootStatus { root.status }

    /// Asks the provider whether access still holds. When it refuses, every unlocked
    /// key and wrapping key is dropped from memory, so nothing more is decrypted or
    /// signed until access returns; then keys are unwrapped again on demand.
    @discardableResult
    public func refreshRoot() async -> RootStatus {
        let before = root.status
        let status = await root.refresh()
        if !status.isReady {
            cache.removeAll()
            keyring.removeAll()
        }
        if status != before {
            // The audit keys stay in memory, so the refusal itself is recorded.
            let system = Principal(id: "keystore", tenant: nil, role: .admin)
            var record: AuditEvent?
            switch status {
            case .refused(let provider, let reason):
                logger.error("root of trust refused: private keys dropped", metadata: ["provider": "\(provider)", "reason": "\(reason)"])
                record = event(.unseal, by: system, tenant: nil, outcome: .failure,
                               details: ["provider": provider, "reason": String(reason.prefix(300))])
            case .unsealed(let provider, let id):
                logger.notice("root of trust unsealed again", metadata: ["provider": "\(provider)", "root_key_id": "\(id)"])
                record = event(.unseal, by: system, tenant: nil, details: ["provider": provider, "root_key_id": id, "recovered": "true"])
            case .sealed: break
            }
            if let record {
                do {
                    try await audit.recordNow([record])
                } catch {
                    logger.error("audit record of a root status change could not be written", metadata: ["error": "\(error)"])
                }
            }
        }
        return status
    }

    /// Every change of the root's status, starting with the current one (for the
    /// readiness endpoint and the audit log).
    public func rootStatusChanges() -> AsyncStream<RootStatus> {
        if let sealed = root as? SealedRoot { return sealed.statusChanges() }
        let (stream, continuation) = AsyncStream<RootStatus>.makeStream()
        continuation.yield(root.status)
        continuation.finish()
        return stream
    }

    /// Checks the provider every `interval` until the task is cancelled.
    public func monitorRoot(every interval: Duration) -> Task<Void, Never> {
        Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                await self.refreshRoot()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func requireUnsealed() throws {
        switch root.status {
        case .unsealed: return
        case .refused(let provider, let reason):
            cache.removeAll()
            keyring.removeAll()
            throw KeystoreError.unsealFailed("\(provider) refuses access (\(reason)); no key can be decrypted")
        case .sealed(let provider):
            throw KeystoreError.unsealFailed("\(provider): the root of trust is sealed")
        }
    }

    public var cacheStatistics: (hits: Int, misses: Int) { cache.statistics }
}
