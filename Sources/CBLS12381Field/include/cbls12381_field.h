#ifndef CBLS12381_FIELD_H
#define CBLS12381_FIELD_H
#include <stddef.h>
#include <stdint.h>

// Montgomery arithmetic modulo the BLS12-381 base field prime p (R = 2^384), six 64-bit limbs,
// least significant first, inputs and outputs fully reduced (< p). Every function runs the same
// instruction sequence whatever the values: no branches and no memory indices depend on them.
// Output pointers may alias inputs.

/// r = a*b/R mod p.
void cbls_fp_mul(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]);
/// r = a^2/R mod p.
void cbls_fp_sqr(uint64_t r[6], const uint64_t a[6]);
/// Fp2 = Fp[u]/(u^2+1), elements as (c0, c1) = 12 limbs: r = a*b.
void cbls_fp2_mul(uint64_t r[12], const uint64_t a[12], const uint64_t b[12]);
/// r = a^2 in Fp2.
void cbls_fp2_sqr(uint64_t r[12], const uint64_t a[12]);
/// 1 when the CPU has BMI2 and ADX (by CPUID at start-up; valgrind hides them).
int cbls_fp_cpu_has_adx(void);
/// 1 when the products use the MULX/ADCX/ADOX code, 0 for portable C. The default is the CPUID result.
int cbls_fp_uses_adx(void);
/// For tests and the constant-time check: selects the MULX/ADCX/ADOX code (enable = 1; only on a CPU
/// that has BMI2 and ADX, or under valgrind, which runs them but hides them from CPUID) or the
/// portable code (0). Both give identical results.
void cbls_fp_select_adx(int enable);

// Constant-time checking with valgrind memcheck (ctgrind): memory marked undefined ("poisoned")
// makes memcheck report any branch or address computed from it. Without valgrind these are no-ops.

/// Marks n bytes at p as secret (undefined for memcheck).
void cbls_ct_poison(const void *p, size_t n);
/// Marks n bytes at p as public again (defined for memcheck): for values that are public by design.
void cbls_ct_declassify(const void *p, size_t n);
/// 1 when the valgrind client requests were compiled in, else 0.
int cbls_ct_checks_compiled(void);
/// Non-zero when running under valgrind.
int cbls_ct_running_on_valgrind(void);

#endif
