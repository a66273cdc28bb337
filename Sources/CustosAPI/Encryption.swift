import CustosMacros
import Foundation

// Encryption and MACs.

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct EncryptRequest: Codable, Sendable {
    public var plaintext: String
    public var associatedData: String? = nil
}

@PublicMemberwiseInit
public struct EncryptResponse: Codable, Sendable {
    public var ciphertext: String
}

@PublicMemberwiseInit
@SnakeCaseCodingKeys
public struct DecryptRequest: Codable, Sendable {
    public var ciphertext: String
    public var associatedData: String? = nil
}

@PublicMemberwiseInit
public struct DecryptResponse: Codable, Sendable {
    public var plaintext: String
}

@PublicMemberwiseInit
public struct HMACRequest: Codable, Sendable {
    public var message: String
    /// When present, the response says whether it matches instead of computing one.
    public var mac: String? = nil
}

@PublicMemberwiseInit
public struct HMACResponse: Codable, Sendable {
    public var mac: String?
    public var version: Int?
    public var valid: Bool?
}
