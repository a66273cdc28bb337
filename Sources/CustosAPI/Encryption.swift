import Foundation

// Encryption and MACs.

public struct EncryptRequest: Codable, Sendable {
    public var plaintext: String
    public var associatedData: String?
    public init(plaintext: String, associatedData: String? = nil) {
        self.plaintext = plaintext
        self.associatedData = associatedData
    }
    enum CodingKeys: String, CodingKey {
        case plaintext
        case associatedData = "associated_data"
    }
}

public struct EncryptResponse: Codable, Sendable {
    public var ciphertext: String
    public init(ciphertext: String) { self.ciphertext = ciphertext }
}

public struct DecryptRequest: Codable, Sendable {
    public var ciphertext: String
    public var associatedData: String?
    public init(ciphertext: String, associatedData: String? = nil) {
        self.ciphertext = ciphertext
        self.associatedData = associatedData
    }
    enum CodingKeys: String, CodingKey {
        case ciphertext
        case associatedData = "associated_data"
    }
}

public struct DecryptResponse: Codable, Sendable {
    public var plaintext: String
    public init(plaintext: String) { self.plaintext = plaintext }
}

public struct HMACRequest: Codable, Sendable {
    public var message: String
    /// When present, the response says whether it matches instead of computing one.
    public var mac: String?
    public init(message: String, mac: String? = nil) {
        self.message = message
        self.mac = mac
    }
}

public struct HMACResponse: Codable, Sendable {
    public var mac: String?
    public var version: Int?
    public var valid: Bool?
    public init(mac: String?, version: Int?, valid: Bool?) {
        self.mac = mac
        self.version = version
        self.valid = valid
    }
}
