// The exported Fp and Fp2 products and squares, together and in their original order, after
// mont_mul.h: clang then emits the same instructions as for the single file this was split from
// (another order changed the register allocation of cbls_fp2_sqr).
#include "mont_mul.h"
#include "fp2_adx.h"

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
