// ctgrind-style constant-time check, run by scripts/ct-valgrind.sh under valgrind's memcheck.
//
// The secret scalar's bytes are marked undefined ("poisoned") before they enter BLS12381, then the
// key is created (SkToPk), used to sign (Sign) and to prove possession (PopProve). Memcheck reports
// any conditional jump, conditional move or memory address computed from poisoned bytes, so a clean
// run shows these operations do not branch on or index memory by the secret. Results that are public
// by design (key validity, the public key, signatures) are declassified inside BLS12381.
//
//   bls-ct-check            the check: memcheck must report no error
//   bls-ct-check --adx      the same with the MULX/ADCX/ADOX field multiplication (valgrind runs those
//                           instructions but hides them from CPUID, so the portable code is the default)
//   bls-ct-check --control  also runs a variable-time double-and-add on the poisoned scalar, which
//                           memcheck must report (shows the poisoning reaches our code)
import BLS12381
import CBLS12381Field

#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    print("bls-ct-check: \(message)")
    exit(2)
}

guard cbls_ct_checks_compiled() == 1 else { fail("built without <valgrind/memcheck.h>: install valgrind") }
guard cbls_ct_running_on_valgrind() != 0 else { fail("run me under valgrind (scripts/ct-valgrind.sh)") }
let control = CommandLine.arguments.contains("--control")
cbls_fp_select_adx(CommandLine.arguments.contains("--adx") ? 1 : 0)
let fieldCode = cbls_fp_uses_adx() == 1 ? "MULX/ADCX/ADOX" : "portable C"

// Two fixed scalars of different shapes (high bits set; many zero bits), well below r.
let scalars: [[UInt8]] = [
    [0x2a, 0x9c, 0x11, 0x03] + [UInt8](repeating: 0x5e, count: 27) + [0x07],
    [0x00, 0x01] + [UInt8](repeating: 0x00, count: 28) + [0x80, 0x01],
]
let message = Array("ctgrind message".utf8)

for bytes in scalars {
    // Reference results from the same bytes, not poisoned.
    let reference = try BLS12381.PrivateKey(rawRepresentation: bytes)
    let referenceSignature = reference.signature(for: message)
    let referenceProof = reference.proofOfPossession()

    let secret = bytes
    secret.withUnsafeBytes { cbls_ct_poison($0.baseAddress, $0.count) }
    let key = try BLS12381.PrivateKey(rawRepresentation: secret)   // SkToPk
    let signature = key.signature(for: message)                    // Sign
    let proof = key.proofOfPossession()                            // PopProve
    guard key.publicKey == reference.publicKey, signature == referenceSignature, proof == referenceProof else {
        fail("results on poisoned bytes differ from the reference")
    }
    guard key.publicKey.isValidSignature(signature, for: message), key.publicKey.isValidProofOfPossession(proof) else {
        fail("signature or proof does not verify")
    }

    if control {
        // Deliberately secret-dependent: branches on every bit of the poisoned scalar.
        var words: [UInt64] = [0, 0, 0, 0]
        for i in 0..<32 { words[3 - i / 8] = (words[3 - i / 8] << 8) | UInt64(secret[i]) }
        var leaked = G1Projective.generator.multipliedVartime(by: words).toAffine()
        withUnsafeMutableBytes(of: &leaked) { cbls_ct_declassify($0.baseAddress, $0.count) }
        guard leaked.compressed == reference.publicKey.compressedRepresentation else {
            fail("control multiplication disagrees")
        }
    }
}
print("bls-ct-check: SkToPk, Sign and PopProve ran on poisoned scalars (\(scalars.count) keys, \(fieldCode) field multiplication)\(control ? ", plus the variable-time control" : "")")
