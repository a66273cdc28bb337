import SwiftASN1

/// Object identifiers for the key algorithms Custos encodes in SPKI and PKCS#8.
enum OID {
    static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]
    static let prime256v1: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
    static let secp384r1: ASN1ObjectIdentifier = [1, 3, 132, 0, 34]
    static let secp256k1: ASN1ObjectIdentifier = [1, 3, 132, 0, 10]
    static let ed25519: ASN1ObjectIdentifier = [1, 3, 101, 112]
    static let x25519: ASN1ObjectIdentifier = [1, 3, 101, 110]
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
    static let mlDSA65: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 3, 18]
}
