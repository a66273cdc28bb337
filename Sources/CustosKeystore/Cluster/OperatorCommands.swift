import CustosCluster
import CustosCrypto
import CustosStore
import Foundation

/// What the operator asks for. Most map one to one onto a command action; replace-replica and
/// rotate-operator-key also make keys on the operator's side.
public enum OperatorCommandRequest: Sendable {
    case rotateReplicaKeys(targets: [ReplicaID]?, kinds: ReplicaKeyKinds)
    case rotateClientKeys(targets: [ClientID]?, kinds: ClientKeyKinds)
    case addClient(ClientDescriptor)
    case removeClient(ClientID)
    /// New bootstrap keys for `replica`'s generation `generation` (default: one past the newest
    /// this directory issued, 1 at first), sealed into a bundle written to `bundlePath`.
    case replaceReplica(ReplicaID, address: String?, generation: UInt64?, recipient: ReplacementRecipient, bundlePath: String)
    /// A new operator key in `scheme`, kept pending until promoted.
    case rotateOperatorKey(scheme: SignatureScheme)
}

/// Who a replacement bundle is sealed for: the new machine's enrolment key, or a passphrase.
public enum ReplacementRecipient: Sendable {
    case enrolmentKey(KeyAgreementPublicKey)
    case passphrase(SecretBytes, PassphraseRoot.Cost)
}

public struct SignedOperatorCommand: Sendable {
    public let command: OperatorCommand
    public let configuration: ClusterConfiguration
    /// The replacement bundle written (replace-replica) and its generation.
    public let bundlePath: String?
    public let generation: UInt64?
}

/// The keys of a replace-replica command on their way into its bundle.
struct Replacement: Sendable {
    let replica: ReplicaID
    let generation: UInt64
    let keys: BootstrapKeySet
    let recipient: ReplacementRecipient
    let path: String
}

extension KeyService {
    /// The state of the cluster this operator directory made (`clusterID`, or the newest when
    /// nil), with its configuration; refuses a directory that made none.
    public func clusterOperatorState(clusterID: [UInt8]? = nil) async throws -> (ClusterOperatorRecord, ClusterConfiguration) {
        let states = try await mappingErrors { try await store.clusterOperatorStates() }
        guard let state = clusterID.map({ id in states.first { $0.clusterID == id } }) ?? states.first else {
            throw KeystoreError.invalidArgument(clusterID.map { "this data directory holds no operator state for cluster \(Hex.encode($0))" }
                ?? "this data directory holds no cluster configuration: operator commands are signed where `custos cluster genesis` ran")
        }
        do {
            return (state, try ClusterConfiguration(signedBytes: state.configuration))
        } catch {
            throw KeystoreError.corruptRecord("the stored configuration of cluster \(Hex.encode(state.clusterID)) is refused: \(error)")
        }
    }

    /// `custos cluster command …`: signs one operator command with the operator key of the
    /// cluster, numbered `number` (default: the next unused one), valid for `validity` seconds,
    /// and records it with the operator's next number in one audited transaction
    /// (`cluster.command-sign`). A refused request changes nothing (a replacement bundle written
    /// before a failure is removed).
    public func signClusterCommand(_ request: OperatorCommandRequest, number requested: UInt64? = nil, validity: UInt64 = 3600,
                                   clusterID: [UInt8]? = nil, by principal: Principal) async throws -> SignedOperatorCommand {
        try await audited(.clusterCommandSign, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageTenants, tenant: nil)
            let (state, configuration) = try await clusterOperatorState(clusterID: clusterID)
            let cluster = configuration.clusterID
            let number = requested ?? state.nextCommand
            guard number >= 1, number <= UInt64(Int64.max) else { throw KeystoreError.invalidArgument("a command number is 1 to 2^63 − 1") }
            guard (1...OperatorCommand.maximumValidity).contains(validity) else {
                throw KeystoreError.invalidArgument("a command is valid for 1 second to 31 days, not \(validity) seconds")
            }
            let now = UInt64(max(0, clock().timeIntervalSince1970))
            let signer = try await operatorSigner(alias: state.keyAlias)
            let sign: @Sendable ([UInt8]) async throws -> [UInt8] = { message in
                try await signer.sign(message, format: signer.scheme == .ecdsaP384SHA384 ? .raw : nil).bytes
            }

            var newState = state
            newState.nextCommand = max(state.nextCommand, number + 1)
            var replacement: Replacement?
            let action: OperatorCommand.Action
            switch request {
            case .rotateReplicaKeys(let targets, let kinds):
                if let targets { try Self.checkTargets(targets.map(\.index), bound: configuration.n, what: "replica") }
                action = .rotateReplicaKeys(targets: targets, kinds: kinds)
            case .rotateClientKeys(let targets, let kinds):
                if let targets { try Self.checkTargets(targets.map { Int($0.rawValue) }, bound: nil, what: "client") }
                action = .rotateClientKeys(targets: targets, kinds: kinds)
            case .addClient(let descriptor):
                do {
                    try descriptor.verify(cluster: cluster)
                } catch {
                    throw KeystoreError.invalidArgument("the client descriptor's binding does not verify for this cluster: it was made for another cluster or altered")
                }
                action = .addClient(descriptor)
            case .removeClient(let client):
                action = .removeClient(client)
            case .replaceReplica(let replica, let address, let generation, let recipient, let path):
                guard let current = configuration.replica(replica) else {
                    throw KeystoreError.invalidArgument("replica \(replica.rawValue) is not in the configuration (0…\(configuration.n - 1))")
                }
                guard !FileManager.default.fileExists(atPath: path) else { throw KeystoreError.invalidArgument("\(path) exists already") }
                let issued = try await mappingErrors { try await store.clusterOperatorCommands(clusterID: cluster) }
                    .filter { $0.action == "replace-replica" && $0.replica == replica.index }
                let newest = issued.compactMap(\.generation).max() ?? 0
                let g = generation ?? newest + 1
                guard g >= 1 else { throw KeystoreError.invalidArgument("a replacement generation is at least 1") }
                let newAddress = address ?? issued.last.flatMap { record in
                    (try? OperatorCommand(bytes: record.command)).flatMap { command -> String? in
                        if case .replaceReplica(let d) = command.action { d.address } else { nil }
                    }
                } ?? current.address
                if case .enrolmentKey(let key) = recipient, key.algorithm != .x25519 {
                    throw KeystoreError.invalidArgument("the enrolment key is not X25519")
                }
                if case .passphrase(let passphrase, _) = recipient, passphrase.count < 8 {
                    throw KeystoreError.invalidArgument("the bundle passphrase must be at least 8 bytes long")
                }
                let keys = try BootstrapKeySet.generate()
                action = .replaceReplica(try keys.descriptor(id: replica, address: newAddress))
                replacement = Replacement(replica: replica, generation: g, keys: keys, recipient: recipient, path: path)
            case .rotateOperatorKey(let scheme):
                guard [.ed25519, .ecdsaP384SHA384].contains(scheme) else {
                    throw KeystoreError.invalidArgument("the operator key must be ed25519 or ecdsa-p384-sha384")
                }
                if let pending = state.pendingKeyAlias {
                    throw KeystoreError.invalidArgument(
                        "operator key \(pending) of command \(state.pendingCommand.map(String.init) ?? "?") is pending: promote it (custos cluster operator-key promote) or discard it first")
                }
                let alias = KeyAlias(stringLiteral: "\(ClusterKeys.operatorAlias.rawValue)/\(Hex.encode(cluster))/c\(number)")
                _ = try await generateKey(KeySpec(tenant: ClusterKeys.tenant, alias: alias, algorithm: .signing(scheme), category: .operator), by: principal)
                let newSigner = try await operatorSigner(alias: alias.rawValue)
                guard let raw = newSigner.publicKey.rawRepresentation, let newKey = try? OperatorKey(scheme: scheme, rawRepresentation: raw) else {
                    throw KeystoreError.invalidArgument("the new operator key is not a valid \(scheme.rawValue) key")
                }
                let proof = try await newSigner.sign(OperatorCommand.operatorKeyBindingMessage(cluster: cluster, number: number, key: newKey),
                                                     format: scheme == .ecdsaP384SHA384 ? .raw : nil).bytes
                action = .rotateOperatorKey(newKey, proof: proof)
                newState.pendingKeyAlias = alias.rawValue
                newState.pendingCommand = number
            }

            do {
                return try await finishCommand(cluster: cluster, configuration: configuration, number: number, expiresAt: now + validity, action: action,
                                               sign: sign, replacement: replacement, state: newState, by: principal)
            } catch {
                // A new operator key made for a command that was not recorded must not linger.
                if let pending = newState.pendingKeyAlias, pending != state.pendingKeyAlias {
                    try? await shredOperatorKeyIfUnused(pending, by: principal, reason: "its rotate-operator-key command was not recorded")
                }
                throw error
            }
        }
    }

    private func finishCommand(cluster: [UInt8], configuration: ClusterConfiguration, number: UInt64, expiresAt: UInt64, action: OperatorCommand.Action,
                               sign: @Sendable ([UInt8]) async throws -> [UInt8],
                               replacement: Replacement?,
                               state newState: ClusterOperatorRecord, by principal: Principal) async throws -> SignedOperatorCommand {
        let command: OperatorCommand
        do {
            command = try await OperatorCommand.sign(cluster: cluster, number: number, expiresAt: expiresAt, action: action, signer: sign)
        } catch let error as ClusterError {
            throw KeystoreError.invalidArgument("the command is refused: \(error)")
        }

        var written: String?
        if let replacement {
            let recipient: BundleRecipient = switch replacement.recipient {
            case .enrolmentKey(let key): .enrolmentKey(key)
            case .passphrase(let passphrase, let cost): .passphrase(passphrase, cost)
            }
            let bundle = try ClusterBundle.seal(replacement.keys, configuration: configuration, replica: replacement.replica,
                                                generation: replacement.generation, command: command, to: recipient)
            try AtomicFile.write(bundle.encoded, to: replacement.path)
            written = replacement.path
        }
        var details = ["cluster_id": Hex.encode(cluster), "number": String(number), "action": action.name,
                       "digest": Hex.encode(command.digest), "expires_at": String(command.expiresAt)]
        details["targets"] = Self.targetsDescription(action)
        if let replacement { details["generation"] = String(replacement.generation) }
        let record = ClusterOperatorCommandRecord(clusterID: cluster, number: number, action: action.name, command: command.bytes,
                                                  replica: replacement.map { $0.replica.index }, generation: replacement?.generation, signedAt: clock())
        do {
            try await store.recordClusterOperatorCommand(record, state: newState, audit: [
                event(.clusterCommandSign, by: principal, tenant: ClusterKeys.tenant, details: details),
            ])
        } catch {
            if let written { try? AtomicFile.remove(written) }
            throw error
        }
        logger.info("cluster command signed", metadata: ["cluster": "\(Hex.encode(cluster))", "number": "\(number)", "action": "\(action.name)"])
        return SignedOperatorCommand(command: command, configuration: configuration, bundlePath: written, generation: replacement?.generation)
    }

    /// `custos cluster operator-key promote`: once the rotate-operator-key command executed,
    /// the pending key signs from now on and the old one is crypto-shredded (unless another
    /// cluster of this directory still signs with it).
    public func promoteOperatorKey(clusterID: [UInt8]? = nil, by principal: Principal) async throws -> ClusterOperatorRecord {
        try await audited(.clusterOperatorPromote, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageTenants, tenant: nil)
            let (state, _) = try await clusterOperatorState(clusterID: clusterID)
            guard let pending = state.pendingKeyAlias else {
                throw KeystoreError.invalidArgument("no operator key is pending (sign a rotate-operator-key command first)")
            }
            _ = try await operatorSigner(alias: pending)
            var promoted = state
            promoted.keyAlias = pending
            promoted.pendingKeyAlias = nil
            promoted.pendingCommand = nil
            try await mappingErrors {
                try await store.saveClusterOperatorState(promoted, audit: [
                    event(.clusterOperatorPromote, by: principal, tenant: ClusterKeys.tenant, details: [
                        "cluster_id": Hex.encode(state.clusterID), "key_alias": pending, "previous_alias": state.keyAlias,
                        "command": state.pendingCommand.map(String.init) ?? "",
                    ]),
                ])
            }
            try await shredOperatorKeyIfUnused(state.keyAlias, by: principal, reason: "replaced by \(pending)")
            return promoted
        }
    }

    /// `custos cluster operator-key discard`: forgets a pending operator key whose command was
    /// refused or contested, crypto-shredding it.
    public func discardPendingOperatorKey(clusterID: [UInt8]? = nil, by principal: Principal) async throws -> ClusterOperatorRecord {
        try await audited(.clusterOperatorDiscard, by: principal, tenant: ClusterKeys.tenant) {
            try principal.authorize(.manageTenants, tenant: nil)
            let (state, _) = try await clusterOperatorState(clusterID: clusterID)
            guard let pending = state.pendingKeyAlias else { throw KeystoreError.invalidArgument("no operator key is pending") }
            var cleared = state
            cleared.pendingKeyAlias = nil
            cleared.pendingCommand = nil
            try await mappingErrors {
                try await store.saveClusterOperatorState(cleared, audit: [
                    event(.clusterOperatorDiscard, by: principal, tenant: ClusterKeys.tenant, details: [
                        "cluster_id": Hex.encode(state.clusterID), "discarded_alias": pending,
                        "command": state.pendingCommand.map(String.init) ?? "",
                    ]),
                ])
            }
            try await shredOperatorKeyIfUnused(pending, by: principal, reason: "pending operator key discarded")
            return cleared
        }
    }

    /// The commands this directory signed for a cluster, in the order signed.
    public func signedOperatorCommands(clusterID: [UInt8]) async throws -> [OperatorCommand] {
        try await mappingErrors { try await store.clusterOperatorCommands(clusterID: clusterID) }.compactMap { try? OperatorCommand(bytes: $0.command) }
    }

    /// Which operator key this directory holds signed `command`: the configuration's, the
    /// current (promoted) one or the pending one; refuses a command none of them signed.
    public func operatorKeyThatSigned(_ command: OperatorCommand) async throws -> String {
        let (state, configuration) = try await clusterOperatorState(clusterID: command.clusterID)
        var candidates: [(String, OperatorKey)] = [("the configuration's operator key", configuration.operatorKey)]
        for (label, alias) in [("the current operator key", Optional(state.keyAlias)), ("the pending operator key", state.pendingKeyAlias)] {
            guard let alias, let signer = try? await operatorSigner(alias: alias), let raw = signer.publicKey.rawRepresentation,
                  let key = try? OperatorKey(scheme: signer.scheme, rawRepresentation: raw) else { continue }
            candidates.append((label, key))
        }
        for (label, key) in candidates where (try? command.verify(operatorKey: key)) != nil {
            return label
        }
        throw KeystoreError.invalidArgument(
            "command \(command.number) is not signed by any operator key of cluster \(Hex.encode(command.clusterID)) here: it was altered or signed elsewhere")
    }

    private func shredOperatorKeyIfUnused(_ alias: String, by principal: Principal, reason: String) async throws {
        let states = try await mappingErrors { try await store.clusterOperatorStates() }
        guard !states.contains(where: { $0.keyAlias == alias || $0.pendingKeyAlias == alias }),
              let row = try await mappingErrors({ try await store.key(tenantID: ClusterKeys.tenant.rawValue, alias: alias) }),
              row.status != .destroyed else { return }
        let key = try StoredKey(row)
        try await shred([key]) { plan in
            [event(.destroy, by: principal, tenant: ClusterKeys.tenant, keyID: key.id, version: 1,
                   details: ["alias": alias, "reason": reason, "wrapping_generation": String(plan.newWrappingKey.generation)])]
        }
    }

    private func operatorSigner(alias: String) async throws -> any KeySigner {
        do {
            return try await primarySigner(tenant: ClusterKeys.tenant, alias: try KeyAlias(validating: alias)).signer
        } catch KeystoreError.keyNotFound, KeystoreError.keyDestroyed, KeystoreError.store(.tenantNotFound) {
            throw KeystoreError.invalidArgument("the operator key \(alias) is not in this data directory (destroyed, or this is not the operator's directory)")
        }
    }

    /// Ascending, distinct, 1 to 256, each below `bound` when known.
    static func checkTargets(_ ids: [Int], bound: Int?, what: String) throws {
        guard (1...OperatorCommand.maximumTargets).contains(ids.count) else {
            throw KeystoreError.invalidArgument("a command names 1 to \(OperatorCommand.maximumTargets) \(what)s, not \(ids.count)")
        }
        guard zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw KeystoreError.invalidArgument("the \(what)s must be listed in ascending order, each once")
        }
        if let bound, let outside = ids.first(where: { $0 >= bound }) {
            throw KeystoreError.invalidArgument("\(what) \(outside) is not in the configuration (0…\(bound - 1))")
        }
    }

    static func targetsDescription(_ action: OperatorCommand.Action) -> String? {
        switch action {
        case .rotateReplicaKeys(let targets, let kinds):
            (targets.map { $0.map { String($0.rawValue) }.joined(separator: ",") } ?? "all") + " kinds " + kinds.names.joined(separator: ",")
        case .rotateClientKeys(let targets, let kinds):
            (targets.map { $0.map { String($0.rawValue) }.joined(separator: ",") } ?? "all") + " kinds " + kinds.names.joined(separator: ",")
        case .addClient(let descriptor): String(descriptor.client.rawValue)
        case .removeClient(let client): String(client.rawValue)
        case .replaceReplica(let descriptor): String(descriptor.id.rawValue)
        case .rotateOperatorKey: nil
        }
    }
}
