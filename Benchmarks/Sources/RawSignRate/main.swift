import Crypto
import Foundation

// The raw one-core Ed25519 signing rate of the library (swift-crypto), the baseline
// the server's load benchmark is compared with. One thread, 32-byte messages (the
// size the load scripts sign), a fixed duration; prints signatures per second.
let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 5 : 5
let key = Curve25519.Signing.PrivateKey()
let message = Data((0..<32).map { UInt8($0) })
var count = 0
var sink = 0
let clock = ContinuousClock()
let start = clock.now
let deadline = start + .milliseconds(Int(seconds * 1000))
while clock.now < deadline {
    for _ in 0..<100 {
        let signature = try key.signature(for: message)
        sink &+= Int(signature.first ?? 0)
    }
    count += 100
}
let elapsed = clock.now - start
let rate = Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
print(String(format: "%.0f", rate))
if sink == -1 { print(sink) }
