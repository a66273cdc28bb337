#ifndef CBLS12381_FIELD_INTERNAL_H
#define CBLS12381_FIELD_INTERNAL_H
// What the field's .c files share; private to this target (include/ holds the interface).
// Every function here is static inline and always_inline, so each exported one still compiles to
// one straight-line body, the same code as when the field was a single file:
//   mont_mul.h    the Montgomery product, portable or MULX/ADCX/ADOX, and its dispatch
//   fp2_adx.h     the lazily reduced Fp2 product with MULX/ADCX/ADOX
//   field.c       the exported Fp and Fp2 functions
//   adx_select.c  which product runs (CPUID at start-up, or chosen by a test)

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
#define CBLS_HAVE_ADX_PATH 1

// p in limbs, then -p^-1 mod 2^64, for the assembly (mont_mul.h, fp2_adx.h).
static const uint64_t P_AND_INV[7] = {0xb9feffffffffaaabULL, 0x1eabfffeb153ffffULL, 0x6730d2a0f6b0f624ULL,
                                      0x64774b84f38512bfULL, 0x4b1ba7b6434bacd7ULL, 0x1a0111ea397fe69aULL,
                                      0x89f3fffcfffcfffdULL};

// 1 when the products use the MULX/ADCX/ADOX code (adx_select.c); read by every file's dispatch.
// Hidden, and under a prefixed symbol name so that nothing else in a link can clash with it.
extern int use_adx __asm__("cbls_fp_use_adx") __attribute__((visibility("hidden")));
#endif

#endif
