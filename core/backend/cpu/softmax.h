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
