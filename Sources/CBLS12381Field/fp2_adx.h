#ifndef CBLS12381_FP2_ADX_H
#define CBLS12381_FP2_ADX_H
#include "field_internal.h"

#ifdef CBLS_HAVE_ADX_PATH
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
#endif

#endif
