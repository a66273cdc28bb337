import CustosCluster
import CustosCrypto
import CustosStore
import Foundation

/// Where the replica network's keys live in the keystore: tenant `cluster`, one alias per
/// key kind and key name, so every key is wrapped, MAC'd, audited and shredded like any other.
public enum ClusterKeys {
    public static let tenant: TenantID = "cluster"
    /// The operator's configuration-signing key (on the operator's data directory).
    public static let operatorAlias: KeyAlias = "cluster-operator"
    /// This data directory's X25519 enrolment key (bundles are sealed to it).
    public static let enrolmentAlias: KeyAlias = "cluster-enrolment"
    /// The audit actor of the replica engine's own decisions.
    static let actor = "cluster"

    public enum Kind: String, CaseIterable, Sendable {
        case consensus, main, tls

        public var scheme: SignatureScheme {
            switch self {
            case .consensus: .bls12381Pop
            case .main: .ed25519
            case .tls: .ecdsaP384SHA384
            }
        }

        var category: KeyCategory {
            switch self {
            case .consensus: .consensus
            case .main: .ledger
            case .tls: .tls
            }
        }

        var replicaKind: ReplicaKeyKinds {
            switch self {
            case .consensus: .consensus
            case .main: .main
            case .tls: .tls
            }
        }
    }

    /// The kinds of a client node's key set: its signing key (transactions, the scheme chosen at
    /// `custos cluster client init`), its TLS key towards the replicas and its API TLS key.
    public enum ClientKind: String, CaseIterable, Sendable {
        case signing, tls
        case apiTLS = "api-tls"

        var category: KeyCategory {
            switch self {
            case .signing: .ledger
            case .tls, .apiTLS: .tls
            }
        }

        var clientKind: ClientKeyKinds {
            switch self {
            case .signing: .signing
            case .tls: .tls
            case .apiTLS: .apiTLS
            }
        }
    }

    /// The alias of one key of a client's key set, e.g. `client-3/e1/api-tls`.
    public static func alias(_ name: ClientKeyName, _ kind: ClientKind) -> KeyAlias {
        KeyAlias(stringLiteral: "client-\(name.client.rawValue)/e\(name.epoch)/\(kind.rawValue)")
    }

    static func ref(_ name: ClientKeyName) -> ClusterClientKeyRef {
        ClusterClientKeyRef(client: name.client.rawValue, epoch: name.epoch)
    }

    /// The alias of one key of a replica's key set, e.g. `replica-2/g0/e1/tls`.
    public static func alias(_ name: KeyName, _ kind: Kind) -> KeyAlias {
        KeyAlias(stringLiteral: "replica-\(name.replica.rawValue)/g\(name.generation)/e\(name.epoch)/\(kind.rawValue)")
    }

    /// The alias of a bootstrap key the operator generates at genesis (destroyed once the
    /// bundles are written), e.g. `genesis/<cluster id hex>/replica-2/main`.
    static func genesisAlias(cluster: [UInt8], replica: Int, _ kind: Kind) -> KeyAlias {
        KeyAlias(stringLiteral: "genesis/\(Hex.encode(cluster))/replica-\(replica)/\(kind.rawValue)")
    }

    static func ref(_ name: KeyName) -> ClusterKeyRef {
        ClusterKeyRef(replica: name.replica.index, generation: name.generation, epoch: name.epoch)
    }
}

extension AuditEvent {
    /// The keystore's audit record of one replica-engine decision. An unknown `cluster.*`
    /// name is kept in the details under `event`.
    init(_ event: ClusterAuditEvent, time: Date, refusal: String? = nil) {
        let operation = AuditOperation(rawValue: event.operation) ?? .clusterEvent
        var details = ["subject": event.subject, "detail": event.detail]
        if operation == .clusterEvent { details["event"] = event.operation }
        if let refusal { details["refused"] = refusal }
        let outcome: AuditOutcome = refusal == nil && event.outcome == "ok" ? .success : .failure
        self.init(time: time, actor: ClusterKeys.actor, tenantID: ClusterKeys.tenant.rawValue, operation: operation,
                  outcome: outcome, details: details)
    }
}

/// The engine's audit sink over the keystore's audit log (group-committed, durable when
/// `record` returns; a record that cannot be written is logged, never dropped silently).
public struct KeystoreClusterAuditSink: ClusterAuditSink {
    let keys: KeyService

    public init(keys: KeyService) { self.keys = keys }

    public func record(_ event: ClusterAuditEvent) async {
        do {
            try await keys.audit.record(AuditEvent(event, time: keys.clock()))
        } catch {
            keys.logger.error("cluster audit record could not be written", metadata: ["operation": "\(event.operation)", "error": "\(error)"])
        }
    }
}
