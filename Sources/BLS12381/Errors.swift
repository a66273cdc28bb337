/// Every failure of the BLS12-381 module, named by its cause. Never carries secret material.
public enum BLS12381Error: Error, Equatable, Sendable {
    case invalidLength(expected: Int, actual: Int)
    /// Compression/infinity/sign flag bits inconsistent (e.g. uncompressed form, infinity with sign or non-zero x).
    case invalidFlags
    /// A coordinate is >= p.
    case coordinateNotInField
    case pointNotOnCurve
    case pointNotInSubgroup
    case identityPublicKey
    /// Secret scalar is zero or >= r.
    case invalidPrivateKey
    case inputKeyMaterialTooShort(minimum: Int, actual: Int)
    case emptyAggregate
    case lengthMismatch(publicKeys: Int, messages: Int)
    /// A key appears twice in a signer set (index of the second occurrence).
    case duplicateSigner(index: Int)
    /// A signer was offered without a valid proof of possession.
    case missingProofOfPossession(index: Int)
    /// A signature share failed verification against its signer's key.
    case badShare(index: Int)
    /// The same signer contributed twice to a certificate builder.
    case duplicateShare(index: Int)
    case belowThreshold(required: Int, actual: Int)
    case invalidThreshold(threshold: Int, signers: Int)
    case signerIndexOutOfRange(index: Int, signers: Int)
    /// A set bit past the signer-set size (including padding bits of the last byte).
    case signerBitOutOfRange(bit: Int)
    case unknownSigner
    case unsupportedVersion(UInt8)
    case signerSetMismatch
    case invalidAggregateSignature
    /// A domain separation tag must be 1 to 255 bytes.
    case invalidDomainSeparationTag(length: Int)
}
