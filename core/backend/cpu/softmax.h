/* CPU softmax kernels (core/backend/cpu/softmax.c), shared with the fused
 * cross-entropy in loss.c, which puts them in the `loss` table. */
#ifndef MF_CPU_SOFTMAX_H
#define MF_CPU_SOFTMAX_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "medfm/tensor.h"

/* exp for f32 that the compiler vectorises: range reduction by ln 2 and a
 * degree-7 Taylor polynomial (relative error ~1e-8 before rounding). Exact
 * 0 below -87 (and for -inf), NaN stays NaN; the caller never passes
 * values above 88. */
static inline float mf_expf_fast(float x) {
    float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    xc = xc == xc ? xc : 0.0f;
    float n = __builtin_rintf(xc * 1.44269504088896341f);
    float r = xc - n * 0.693359375f; /* ln 2 split in two for exact reduction */
    r = r + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    float res = p * scale;
    res = x < -87.0f ? 0.0f : res;
    return x != x ? x : res;
}

/* The same exp on 8 lanes with GCC/Clang vector extensions (AVX2 where
 * the build targets it, generic lowering elsewhere); explicit because the
 * scalar version's selects keep the auto-vectoriser away. */
#if defined(__GNUC__) && !defined(__clang__)
/* Static inline helpers only: the 32-byte vector ABI note for builds
 * without AVX (sanitizer and generic builds) does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float mf_v8f __attribute__((vector_size(32)));
typedef int32_t mf_v8i __attribute__((vector_size(32)));

static inline mf_v8f mf_v8f_load(const float *p) {
    mf_v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void mf_v8f_store(float *p, mf_v8f v) { memcpy(p, &v, sizeof v); }

static inline mf_v8f mf_v8f_select(mf_v8i m, mf_v8f a, mf_v8f b) {
    return (mf_v8f)(((mf_v8i)a & m) | ((mf_v8i)b & ~m));
}

static inline mf_v8f mf_exp8(mf_v8f x) {
    const mf_v8f zero = {0}, lo = zero - 87.0f, hi = zero + 88.0f;
    mf_v8i nan = x != x, under = x < lo;
    mf_v8f xc = mf_v8f_select(under, lo, x);
    xc = mf_v8f_select(xc > hi, hi, xc);
    xc = mf_v8f_select(nan, zero, xc);
    /* round to nearest through the 1.5 * 2^23 magic constant */
    mf_v8f n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    mf_v8f r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    mf_v8f p = zero + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    mf_v8i bits = (__builtin_convertvector(n, mf_v8i) + 127) << 23;
    mf_v8f res = p * (mf_v8f)bits;
    res = mf_v8f_select(under, zero, res);
    return mf_v8f_select(nan, x, res);
}

/* Split of a contiguous tensor around `dim`: outer x n x inner. */
static inline void mf_softmax_split(const mf_tensor *x, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
    int64_t o = 1, in = 1;
    for (int d = 0; d < dim; d++)
        o *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++)
        in *= x->shape[d];
    *outer = o;
    *n = x->ndim ? x->shape[dim] : 1;
    *inner = in;
}

mf_status mf__cpu_softmax_forward(mf_tensor *y, const mf_tensor *x, int dim, bool log);
mf_status mf__cpu_softmax_backward(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *y, int dim, bool log);

#endif
