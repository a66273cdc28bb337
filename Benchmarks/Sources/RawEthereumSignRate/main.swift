import Foundation
import RawSecp256k1

// The raw one-core rate of what an Ethereum signature is: libsecp256k1's recoverable
// ECDSA over a 32-byte digest (secp256k1_ecdsa_sign_recoverable + serialize_compact),
// called directly. The baseline `load/eth-rpc.sh` compares the JSON-RPC signer with.
let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 5 : 5
let raw = RawSecp256k1()
let key = raw.makeSecretKey()
var digest = [UInt8](repeating: 7, count: 32)
var count = 0
var sink: Int32 = 0
let clock = ContinuousClock()
let start = clock.now
let deadline = start + .milliseconds(Int(seconds * 1000))
while clock.now < deadline {
    for index in 0..<100 {
        digest[0] = UInt8(truncatingIfNeeded: index)
        let (signature, recoveryID) = raw.signRecoverable(digest: digest, seckey: key)
        sink &+= recoveryID &+ Int32(signature[0])
    }
    count += 100
}
let elapsed = clock.now - start
let rate = Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
print(String(format: "%.0f", rate))
if sink == -1 { print(sink) }
