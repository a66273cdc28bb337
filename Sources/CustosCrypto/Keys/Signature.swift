/// A signature together with the scheme and layout that produced it.
public struct Signature: Sendable, Hashable {
    public let scheme: SignatureScheme
    /// The ECDSA layout; `nil` for schemes with a single encoding.
    public let format: SignatureFormat?
    public let bytes: [UInt8]

    public init(scheme: SignatureScheme, format: SignatureFormat?, bytes: [UInt8]) {
        self.scheme = scheme
        self.format = format
        self.bytes = bytes
    }
}

extension SignatureScheme {
    /// The layout a signature takes when the caller names none, after checking that a
    /// named layout makes sense for this scheme.
    func resolvedFormat(_ requested: SignatureFormat?) throws -> SignatureFormat? {
        switch self {
        case .ecdsaP256SHA256, .ecdsaP384SHA384, .ecdsaSecp256k1SHA256:
            return requested ?? .der
        case .ecdsaSecp256k1Keccak256:
            // Ethereum signatures are always r‖s‖v; "raw" is accepted as a synonym.
            guard requested == nil || requested == .raw else {
                throw CustosCryptoError.malformedSignature("Ethereum signatures are 65-byte r‖s‖v, not DER")
            }
            return nil
        default:
            guard requested == nil else { throw CustosCryptoError.signatureFormatNotApplicable(self) }
            return nil
        }
    }
}
