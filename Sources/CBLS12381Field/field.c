#include "cbls12381_field.h"

typedef unsigned __int128 u128;

// Hides a mask's value from the optimiser: knowing it is 0 or all-ones, clang -O3 turned the
// masked selects below into a conditional jump (valgrind's memcheck showed it, scripts/ct-valgrind.sh).
static inline __attribute__((always_inline)) uint64_t value_barrier(uint64_t x) {
    __asm__("" : "+r"(x));
    return x;
}

static const uint64_t P0 = 0xb9feffffffffaaabULL, P1 = 0x1eabfffeb153ffffULL, P2 = 0x6730d2a0f6b0f624ULL,
                      P3 = 0x64774b84f38512bfULL, P4 = 0x4b1ba7b6434bacd7ULL, P5 = 0x1a0111ea397fe69aULL;
static const uint64_t PINV = 0x89f3fffcfffcfffdULL; // -p^-1 mod 2^64

// r = t - p if t >= p else t, for t < 2p, with a mask instead of a branch.
static inline __attribute__((always_inline)) void reduce_once(uint64_t r[6], const uint64_t t[6]) {
    static const uint64_t P[6] = {0xb9feffffffffaaabULL, 0x1eabfffeb153ffffULL, 0x6730d2a0f6b0f624ULL,
                                  0x64774b84f38512bfULL, 0x4b1ba7b6434bacd7ULL, 0x1a0111ea397fe69aULL};
    uint64_t d[6];
    uint64_t borrow = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)t[j] - P[j] - borrow;
        d[j] = (uint64_t)s;
        borrow = (uint64_t)(s >> 64) & 1;
    }
    // borrow = 1: t < p, keep t.
    uint64_t keep = value_barrier(0 - borrow);
    for (int j = 0; j < 6; j++) r[j] = (t[j] & keep) | (d[j] & ~keep);
}

// Montgomery product, CIOS without the extra carry word: valid because the top limb of p is below
// 2^63 - 1, so every intermediate stays below 2p < 2^384.
static inline __attribute__((always_inline)) void mont_mul_portable(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    const uint64_t P[6] = {P0, P1, P2, P3, P4, P5};
    uint64_t t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) {
        uint64_t bi = b[i];
        u128 s = (u128)a[0] * bi + t[0];
        uint64_t A = (uint64_t)(s >> 64);
        uint64_t t0 = (uint64_t)s;
        uint64_t m = t0 * PINV;
        s = (u128)m * P[0] + t0;
        uint64_t C = (uint64_t)(s >> 64);
        for (int j = 1; j < 6; j++) {
            s = (u128)a[j] * bi + t[j] + A;
            A = (uint64_t)(s >> 64);
            uint64_t tj = (uint64_t)s;
            s = (u128)m * P[j] + tj + C;
            C = (uint64_t)(s >> 64);
            t[j - 1] = (uint64_t)s;
        }
        t[5] = C + A;
    }
    reduce_once(r, t);
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#define CBLS_HAVE_ADX_PATH 1

// p in limbs, then -p^-1 mod 2^64, for the assembly below.
static const uint64_t P_AND_INV[7] = {0xb9feffffffffaaabULL, 0x1eabfffeb153ffffULL, 0x6730d2a0f6b0f624ULL,
                                      0x64774b84f38512bfULL, 0x4b1ba7b6434bacd7ULL, 0x1a0111ea397fe69aULL,
                                      0x89f3fffcfffcfffdULL};

// The same CIOS product with MULX and two independent carry chains (ADCX on CF for the low halves,
// ADOX on OF for the high halves), as in blst and gnark. Needs BMI2 and ADX (checked at start-up).
// Straight-line code: the running value rotates through seven registers instead of moving.
static inline __attribute__((always_inline)) void mont_mul_adx(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5 = 0, t6 = 0, lo, hi;
    __asm__(
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t6]\n\t"
        "movq 0(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "movq %[t0], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t0]\n\t"
        "movq 8(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "movq %[t1], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t1]\n\t"
        "movq 16(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "movq %[t2], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t2]\n\t"
        "movq 24(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "movq %[t3], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t3]\n\t"
        "movq 32(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "movq %[t4], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t4]\n\t"
        "movq 40(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "movq %[t5], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        : [t0] "+&r"(t0), [t1] "+&r"(t1), [t2] "+&r"(t2), [t3] "+&r"(t3), [t4] "+&r"(t4), [t5] "+&r"(t5),
          [t6] "+&r"(t6), [lo] "=&r"(lo), [hi] "=&r"(hi)
        : [a] "r"(a), [b] "r"(b), [p] "r"(P_AND_INV)
        : "rdx", "cc", "memory");
    const uint64_t t[6] = {t6, t0, t1, t2, t3, t4};
    reduce_once(r, t);
}

// 768-bit product a*b (no reduction), for the lazily reduced Fp2 product.
static inline __attribute__((always_inline)) void mul_wide_adx(uint64_t out[12], const uint64_t a[6], const uint64_t b[6]) {
    uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5 = 0, t6 = 0, lo, hi;
    __asm__(
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t6]\n\t"
        "movq 0(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "movq %[t0], 0(%[out])\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t0]\n\t"
        "movq 8(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "movq %[t1], 8(%[out])\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t1]\n\t"
        "movq 16(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "movq %[t2], 16(%[out])\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t2]\n\t"
        "movq 24(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "movq %[t3], 24(%[out])\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t3]\n\t"
        "movq 32(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "movq %[t4], 32(%[out])\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t4]\n\t"
        "movq 40(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 32(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 40(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "movq %[t5], 40(%[out])\n\t"
        "movq %[t6], 48(%[out])\n\t"
        "movq %[t0], 56(%[out])\n\t"
        "movq %[t1], 64(%[out])\n\t"
        "movq %[t2], 72(%[out])\n\t"
        "movq %[t3], 80(%[out])\n\t"
        "movq %[t4], 88(%[out])\n\t"
        : [t0] "+&r"(t0), [t1] "+&r"(t1), [t2] "+&r"(t2), [t3] "+&r"(t3), [t4] "+&r"(t4), [t5] "+&r"(t5),
          [t6] "+&r"(t6), [lo] "=&r"(lo), [hi] "=&r"(hi)
        : [a] "r"(a), [b] "r"(b), [out] "r"(out)
        : "rdx", "cc", "memory");
}

// Montgomery reduction w/R mod p of w < p*R: six rounds on the low half L give (L + M p)/R <= p,
// then the high half H < p is added: the sum is below 2p, one masked subtraction finishes.
static inline __attribute__((always_inline)) void redc_adx(uint64_t r[6], const uint64_t w[12]) {
    uint64_t t0 = w[0], t1 = w[1], t2 = w[2], t3 = w[3], t4 = w[4], t5 = w[5], t6 = 0, lo, hi;
    __asm__(
        "movq %[t0], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t6]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "movq %[t1], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t0]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "movq %[t2], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t1]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "movq %[t3], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t2]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "movq %[t4], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t3]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        "adoxq %[hi], %[t5]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "movq %[t5], %%rdx\n\t"
        "imulq 48(%[p]), %%rdx\n\t"
        "xorl %k[lo], %k[lo]\n\t"
        "movq %[lo], %[t4]\n\t"
        "mulxq 0(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t5]\n\t"
        "adoxq %[hi], %[t6]\n\t"
        "mulxq 8(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t6]\n\t"
        "adoxq %[hi], %[t0]\n\t"
        "mulxq 16(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t0]\n\t"
        "adoxq %[hi], %[t1]\n\t"
        "mulxq 24(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t1]\n\t"
        "adoxq %[hi], %[t2]\n\t"
        "mulxq 32(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t2]\n\t"
        "adoxq %[hi], %[t3]\n\t"
        "mulxq 40(%[p]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[t3]\n\t"
        "adoxq %[hi], %[t4]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[t4]\n\t"
        : [t0] "+&r"(t0), [t1] "+&r"(t1), [t2] "+&r"(t2), [t3] "+&r"(t3), [t4] "+&r"(t4), [t5] "+&r"(t5),
          [t6] "+&r"(t6), [lo] "=&r"(lo), [hi] "=&r"(hi)
        : [p] "r"(P_AND_INV)
        : "rdx", "cc", "memory");
    const uint64_t low[6] = {t6, t0, t1, t2, t3, t4};
    uint64_t sum[6];
    uint64_t c = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)low[j] + w[6 + j] + c;
        sum[j] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
    }
    reduce_once(r, sum);
}

// Fp2 product with two reductions instead of three (Karatsuba on 768-bit products):
// c0 = a0 b0 - a1 b1 (plus p*R when negative), c1 = (a0 + a1)(b0 + b1) - a0 b0 - a1 b1, with the
// sums a0 + a1, b0 + b1 < 2p left unreduced; every value stays below p*R as REDC needs.
static inline __attribute__((always_inline)) void fp2_mul_lazy_adx(uint64_t r[12], const uint64_t a[12], const uint64_t b[12]) {
    uint64_t w0[12], w1[12], w2[12], sa[6], sb[6];
    uint64_t c = 0, d = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)a[j] + a[6 + j] + c;
        sa[j] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
        u128 t = (u128)b[j] + b[6 + j] + d;
        sb[j] = (uint64_t)t;
        d = (uint64_t)(t >> 64);
    }
    mul_wide_adx(w0, a, b);
    mul_wide_adx(w1, a + 6, b + 6);
    mul_wide_adx(w2, sa, sb);
    // w2 -= w0 + w1 (never negative)
    uint64_t borrow = 0;
    for (int j = 0; j < 12; j++) {
        u128 s = (u128)w2[j] - w0[j] - borrow;
        w2[j] = (uint64_t)s;
        borrow = (uint64_t)(s >> 64) & 1;
    }
    borrow = 0;
    for (int j = 0; j < 12; j++) {
        u128 s = (u128)w2[j] - w1[j] - borrow;
        w2[j] = (uint64_t)s;
        borrow = (uint64_t)(s >> 64) & 1;
    }
    // w0 -= w1, adding p*R back when it went negative
    borrow = 0;
    for (int j = 0; j < 12; j++) {
        u128 s = (u128)w0[j] - w1[j] - borrow;
        w0[j] = (uint64_t)s;
        borrow = (uint64_t)(s >> 64) & 1;
    }
    const uint64_t mask = value_barrier(0 - borrow);
    c = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)w0[6 + j] + (P_AND_INV[j] & mask) + c;
        w0[6 + j] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
    }
    redc_adx(r, w0);
    redc_adx(r + 6, w2);
}

static int cpu_has_adx = 0;
static int use_adx = 0;

__attribute__((constructor)) static void detect_adx(void) {
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, 0) >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        // CPUID.(EAX=7,ECX=0):EBX bit 8 = BMI2 (MULX), bit 19 = ADX.
        cpu_has_adx = ((ebx >> 8) & 1) && ((ebx >> 19) & 1);
    }
    (void)eax; (void)ecx; (void)edx;
    __atomic_store_n(&use_adx, cpu_has_adx, __ATOMIC_RELAXED);
}

int cbls_fp_cpu_has_adx(void) { return cpu_has_adx; }
int cbls_fp_uses_adx(void) { return __atomic_load_n(&use_adx, __ATOMIC_RELAXED); }
void cbls_fp_select_adx(int enable) { __atomic_store_n(&use_adx, enable ? 1 : 0, __ATOMIC_RELAXED); }

// Dispatch on a CPU feature flag (public; the same branch every call).
static inline __attribute__((always_inline)) void mont_mul(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    if (__atomic_load_n(&use_adx, __ATOMIC_RELAXED)) mont_mul_adx(r, a, b);
    else mont_mul_portable(r, a, b);
}
#else
int cbls_fp_cpu_has_adx(void) { return 0; }
int cbls_fp_uses_adx(void) { return 0; }
void cbls_fp_select_adx(int enable) { (void)enable; }

static inline __attribute__((always_inline)) void mont_mul(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    mont_mul_portable(r, a, b);
}
#endif

static inline __attribute__((always_inline)) void mod_add(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    uint64_t t[6];
    uint64_t c = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)a[j] + b[j] + c;
        t[j] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
    }
    reduce_once(r, t); // a + b < 2p < 2^384: no carry out of the top limb
}

static inline __attribute__((always_inline)) void mod_sub(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    const uint64_t P[6] = {P0, P1, P2, P3, P4, P5};
    uint64_t t[6];
    uint64_t borrow = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)a[j] - b[j] - borrow;
        t[j] = (uint64_t)s;
        borrow = (uint64_t)(s >> 64) & 1;
    }
    uint64_t mask = value_barrier(0 - borrow); // add p back when a < b
    uint64_t c = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)t[j] + (P[j] & mask) + c;
        r[j] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
    }
}

void cbls_fp_mul(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) { mont_mul(r, a, b); }

// A dedicated squaring (cross products once, then a separate reduction) measured no faster here.
void cbls_fp_sqr(uint64_t r[6], const uint64_t a[6]) { mont_mul(r, a, a); }

void cbls_fp2_mul(uint64_t r[12], const uint64_t a[12], const uint64_t b[12]) {
#ifdef CBLS_HAVE_ADX_PATH
    if (__atomic_load_n(&use_adx, __ATOMIC_RELAXED)) {
        fp2_mul_lazy_adx(r, a, b);
        return;
    }
#endif
    uint64_t v0[6], v1[6], sa[6], sb[6], v2[6];
    mont_mul(v0, a, b);
    mont_mul(v1, a + 6, b + 6);
    mod_add(sa, a, a + 6);
    mod_add(sb, b, b + 6);
    mont_mul(v2, sa, sb);
    mod_sub(r, v0, v1);
    mod_sub(v2, v2, v0);
    mod_sub(r + 6, v2, v1);
}

// a + b without reduction (< 2p for a, b < p), and a - b + p (in (0, 2p)): Montgomery products
// accept such inputs, since (2p)^2 < p*R keeps their result below 2p before the final subtraction.
static inline __attribute__((always_inline)) void add_unreduced(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    uint64_t c = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)a[j] + b[j] + c;
        r[j] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
    }
}

static inline __attribute__((always_inline)) void sub_plus_p(uint64_t r[6], const uint64_t a[6], const uint64_t b[6]) {
    const uint64_t P[6] = {P0, P1, P2, P3, P4, P5};
    uint64_t c = 0, borrow = 0;
    for (int j = 0; j < 6; j++) {
        u128 s = (u128)a[j] + P[j] + c;
        c = (uint64_t)(s >> 64);
        u128 d = (u128)(uint64_t)s - b[j] - borrow;
        r[j] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
}

void cbls_fp2_sqr(uint64_t r[12], const uint64_t a[12]) {
    // (a0 + a1 u)^2 = (a0 + a1)(a0 - a1) + 2 a0 a1 u, with the factors left unreduced.
    uint64_t s[6], d[6], twice[6], imaginary[6];
    add_unreduced(s, a, a + 6);
    sub_plus_p(d, a, a + 6);
    add_unreduced(twice, a, a);
    mont_mul(imaginary, twice, a + 6);
    mont_mul(r, s, d);
    for (int j = 0; j < 6; j++) r[6 + j] = imaginary[j];
}
