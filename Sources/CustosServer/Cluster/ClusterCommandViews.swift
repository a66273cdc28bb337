import CustosAPI
import CustosCluster
import CustosCrypto
import Foundation

/// Operator commands and client nodes in the API's terms.
enum ClusterCommandViews {
    static func command(_ status: CommandStatus, quorum: Int) -> ClusterCommandStatus {
        let (approvals, reason): (Int, String?) = switch status.state {
        case .relaying(let approvals, _): (approvals, nil)
        case .contested: (0, nil)
        case .void(let reason): (0, reason)
        case .certified, .executed, .complete: (quorum, nil)
        }
        return ClusterCommandStatus(number: status.number, action: status.action, digest: Hex.encode(status.digest), state: status.state.name,
                                    reason: reason, approvals: approvals, quorum: quorum,
                                    targetsRemaining: status.targetsRemaining.map(\.description), sequence: status.sequence)
    }

    /// Each client with the keys the log holds for its newest and active names.
    static func clients(_ statuses: [ClientKeyStatus], log: KeyLog) -> [ClusterClientStatus] {
        statuses.compactMap { status in
            guard let newest = log.clientKey(status.newest) else { return nil }
            let names = [status.active, status.newest].compactMap { $0 }
            let keys = names.compactMap { log.clientKey($0) }
            func pins(_ pin: (ClientKeys) -> [UInt8]) -> [String] {
                var seen: [String] = []
                for key in keys where !seen.contains(Hex.encode(pin(key))) { seen.append(Hex.encode(pin(key))) }
                return seen
            }
            return ClusterClientStatus(id: status.client.rawValue, removed: status.removed, newestEpoch: status.newest.epoch,
                                       activeEpoch: status.active?.epoch, signingScheme: newest.signingKey.scheme.rawValue,
                                       signingKey: Hex.encode(newest.signingKey.rawRepresentation),
                                       tlsPins: pins(\.tlsPin), apiTlsPins: pins(\.apiTLSPin),
                                       pendingCommands: status.pendingCommands, lastRotatedSequence: status.lastRotatedAt)
        }
    }
}
