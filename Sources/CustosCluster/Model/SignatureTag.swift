import BLS12381

/// The use a signature is made for (docs/cluster.md, "Signed messages and domain separation").
/// Every signature covers M(tag, cluster, body) = CBOR([tag, cluster id, body]); BLS uses also
/// get a hash-to-curve tag of their own, so a share made for one use never verifies for another.
public enum SignatureTag: String, CaseIterable, Sendable {
    case configuration = "custos/cluster/v1/configuration"
    case recordAuthority = "custos/cluster/v1/record-authority"
    case keyBinding = "custos/cluster/v1/key-binding"
    case keyLogApproval = "custos/cluster/v1/key-log-approval"
    case commandApproval = "custos/cluster/v1/command-approval"
    case consensusShare = "custos/cluster/v1/consensus-share"
    case checkpoint = "custos/cluster/v1/checkpoint"
    case command = "custos/cluster/v1/command"
    case operatorKeyBinding = "custos/cluster/v1/operator-key-binding"
    case clientKeyBinding = "custos/cluster/v1/client-key-binding"
    case clientRecordAuthority = "custos/cluster/v1/client-record-authority"
    case clientKeyApproval = "custos/cluster/v1/client-key-approval"

    public var text: String { rawValue }

    /// The BLS domain separation tag, for the uses BLS signs.
    public var dst: BLS12381.DomainSeparationTag? {
        switch self {
        case .keyBinding: SignatureTag.keyBindingDST
        case .keyLogApproval: SignatureTag.keyLogApprovalDST
        case .commandApproval: SignatureTag.commandApprovalDST
        case .consensusShare: SignatureTag.consensusShareDST
        case .clientKeyApproval: SignatureTag.clientKeyApprovalDST
        case .configuration, .recordAuthority, .checkpoint, .command, .operatorKeyBinding, .clientKeyBinding, .clientRecordAuthority: nil
        }
    }

    /// M(tag, cluster, body).
    public func message(cluster: [UInt8], body: CBORValue) -> [UInt8] {
        CBORValue.array([.text(rawValue), .bytes(cluster), body]).encoded
    }

    // The tags are constants of 40 to 60 ASCII bytes: within 1…255, so construction cannot fail.
    private static func blsTag(_ text: String) -> BLS12381.DomainSeparationTag {
        try! BLS12381.DomainSeparationTag(text + "_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")
    }

    public static let keyBindingDST = blsTag("CUSTOS-CLUSTER-V1-KEY-BINDING")
    public static let keyLogApprovalDST = blsTag("CUSTOS-CLUSTER-V1-KEY-LOG-APPROVAL")
    public static let commandApprovalDST = blsTag("CUSTOS-CLUSTER-V1-COMMAND-APPROVAL")
    public static let consensusShareDST = blsTag("CUSTOS-CLUSTER-V1-CONSENSUS-SHARE")
    public static let clientKeyApprovalDST = blsTag("CUSTOS-CLUSTER-V1-CLIENT-KEY-APPROVAL")
}
