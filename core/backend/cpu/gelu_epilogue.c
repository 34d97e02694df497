/* CPU kernels of linear_gelu's fused epilogue (kern_linalg.h: bias_gelu,
 * bias_gelu_backward): bias add and exact GELU in one pass over the GEMM
 * output, and the GELU derivative together with the bias gradient's row sum.
 * f32 computes in float (as torch's CPU kernel does), f64 in double; bf16
 * and f16 run the f32 kernel on f32 twins, rounded once (lowp.h).
 * GELU is written x/2 erfc(-x/sqrt 2) rather than x/2 (1 + erf(x/sqrt 2)):
 * the same function, without the cancellation that leaves 1 + erf with
 * few correct bits in float for x below about -3. */
#include <math.h>
#include <stdlib.h>

/* On glibc >= 2.35 (x86-64) libmvec, which libm's linker script links as
 * needed, has SIMD variants of erfcf and expf. Declaring them lets gcc
 * vectorise the f32 loops below (forward and backward epilogue about 2-3x
 * faster here); errno is never read, hence no-math-errno for this file and
 * both declared const (the pragma alone leaves their errno writes, which
 * block the vectoriser). Accuracy is the scalar calls' (a few ulp);
 * without libmvec, or unoptimised, the loops stay scalar. */
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#if __GLIBC_PREREQ(2, 35)
#pragma GCC optimize("no-math-errno")
__attribute__((simd("notinbranch"), const)) float erfcf(float);
__attribute__((simd("notinbranch"), const)) float expf(float);
#endif
#endif

#include "core/backend/cpu/gelu_epilogue.h"
#include "core/backend/cpu/lowp.h"
#include "medfm/parallel.h"

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

static inline float gelu_f(float p) { return 0.5f * p * erfcf(-p * (float)INV_SQRT2); }
static inline double gelu_d(double p) { return 0.5 * p * erfc(-p * INV_SQRT2); }
static inline float dgelu_f(float p) {
    return 0.5f * erfcf(-p * (float)INV_SQRT2) + p * (float)INV_SQRT_2PI * expf(-0.5f * p * p);
}
static inline double dgelu_d(double p) {
    return 0.5 * erfc(-p * INV_SQRT2) + p * INV_SQRT_2PI * exp(-0.5 * p * p);
}

/* Rows of one bias-gradient partial sum: a function of the shape only, so
 * the summation order (rows within a chunk, then chunks in order) never
 * depends on the thread count. At most 1024 partials per column. */
static int64_t chunk_rows(int64_t rows) {
    int64_t c = (rows + 1023) / 1024;
    return c < 64 ? 64 : c;
}

/* ---------------------------------------------------------------- forward */

typedef struct {
    int64_t n;
    void *y, *pre;
    const void *in, *bias;
    bool f64;
} fwd_job;

static void fwd_range(void *ctx, int64_t r0, int64_t r1) {
    const fwd_job *j = ctx;
    int64_t n = j->n;
    if (j->f64) {
        const double *b = j->bias;
        for (int64_t r = r0; r < r1; r++) {
            const double *in = (const double *)j->in + r * n;
            double *pre = (double *)j->pre + r * n, *y = (double *)j->y + r * n;
            for (int64_t c = 0; c < n; c++) {
                double p = b ? in[c] + b[c] : in[c];
                pre[c] = p;
                y[c] = gelu_d(p);
            }
        }
    } else {
        const float *b = j->bias;
        for (int64_t r = r0; r < r1; r++) {
            const float *in = (const float *)j->in + r * n;
            float *pre = (float *)j->pre + r * n, *y = (float *)j->y + r * n;
            for (int64_t c = 0; c < n; c++) {
                float p = b ? in[c] + b[c] : in[c];
                pre[c] = p;
                y[c] = gelu_f(p);
            }
        }
    }
}

/* f32/f64: in is the GEMM output, pre where pre + bias goes (may be in). */
static mf_status bias_gelu_typed(mf_tensor *y, mf_tensor *pre, const mf_tensor *in, const mf_tensor *bias) {
    int64_t numel = mf_tensor_numel(y), n = y->ndim ? y->shape[y->ndim - 1] : 1;
    if (numel == 0 || n == 0)
        return MF_OK;
    fwd_job j = {n, mf_tensor_data(y), mf_tensor_data(pre), mf_tensor_data(in), bias ? mf_tensor_data(bias) : NULL,
                 y->dtype == MF_F64};
    mf_parallel_for(numel / n, 16384 / n + 1, fwd_range, &j);
    return MF_OK;
}

mf_status mf__cpu_bias_gelu(mf_tensor *y, mf_tensor *pre, const mf_tensor *bias) {
    if (!mf__lowp(y->dtype))
        return bias_gelu_typed(y, pre, pre, bias);
    mf_lowp_frame f;
    const mf_tensor *i[2];
    mf_tensor *o[2];
    MF_TRY(mf__lowp_begin(&f, 2, (const mf_tensor *const[]){pre, bias}, i, 2, (mf_tensor *const[]){y, pre}, o,
                          false));
    return mf__lowp_end(&f, bias_gelu_typed(o[0], o[1], i[0], i[1]));
}

/* --------------------------------------------------------------- backward */

typedef struct {
    int64_t rows, n, chunk;
    void *gpre;
    const void *gy, *pre;
    double *partial; /* chunk k's column sums at k * n; NULL: no bias */
    bool f64;
} bwd_job;

static void bwd_range(void *ctx, int64_t k0, int64_t k1) {
    const bwd_job *j = ctx;
    int64_t n = j->n;
    for (int64_t k = k0; k < k1; k++) {
        int64_t r0 = k * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
        double *acc = j->partial ? j->partial + k * n : NULL;
        if (acc)
            for (int64_t c = 0; c < n; c++)
                acc[c] = 0.0;
        for (int64_t r = r0; r < r1; r++) {
            if (j->f64) {
                const double *gy = (const double *)j->gy + r * n, *p = (const double *)j->pre + r * n;
                double *gp = (double *)j->gpre + r * n;
                for (int64_t c = 0; c < n; c++)
                    gp[c] = gy[c] * dgelu_d(p[c]);
                if (acc)
                    for (int64_t c = 0; c < n; c++)
                        acc[c] += gp[c];
            } else {
                /* gpre is a fresh buffer: restrict lets the loop vectorise */
                const float *restrict gy = (const float *)j->gy + r * n, *restrict p = (const float *)j->pre + r * n;
                float *restrict gp = (float *)j->gpre + r * n;
                for (int64_t c = 0; c < n; c++)
                    gp[c] = gy[c] * dgelu_f(p[c]);
                if (acc)
                    for (int64_t c = 0; c < n; c++)
                        acc[c] += (double)gp[c];
            }
        }
    }
}

static mf_status bias_gelu_backward_typed(mf_tensor *gpre, mf_tensor *gbias, const mf_tensor *gy,
                                          const mf_tensor *pre) {
    int64_t numel = mf_tensor_numel(gpre), n = gpre->ndim ? gpre->shape[gpre->ndim - 1] : 1;
    int64_t rows = n ? numel / n : 0;
    bwd_job j = {rows, n, chunk_rows(rows), mf_tensor_data(gpre), mf_tensor_data(gy), mf_tensor_data(pre), NULL,
                 gpre->dtype == MF_F64};
    int64_t chunks = (rows + j.chunk - 1) / j.chunk;
    if (gbias && chunks > 0 && n > 0) {
        j.partial = malloc((size_t)(chunks * n) * sizeof(double));
        if (!j.partial)
            return MF_ERR(MF_ERR_NOMEM, "linear_gelu backward: no memory for %lld bias partial sums",
                          (long long)(chunks * n));
    }
    if (chunks > 0 && n > 0)
        mf_parallel_for(chunks, 1, bwd_range, &j);
    if (gbias) {
        for (int64_t c = 0; c < n; c++) {
            double s = 0.0;
            for (int64_t k = 0; k < chunks; k++)
                s += j.partial[k * n + c];
            if (j.f64)
                ((double *)mf_tensor_data(gbias))[c] = s;
            else
                ((float *)mf_tensor_data(gbias))[c] = (float)s;
        }
    }
    free(j.partial);
    return MF_OK;
}

mf_status mf__cpu_bias_gelu_backward(mf_tensor *gpre, mf_tensor *gbias, const mf_tensor *gy, const mf_tensor *pre) {
    if (!mf__lowp(gpre->dtype))
        return bias_gelu_backward_typed(gpre, gbias, gy, pre);
    mf_lowp_frame f;
    const mf_tensor *i[2];
    mf_tensor *o[2];
    MF_TRY(mf__lowp_begin(&f, 2, (const mf_tensor *const[]){gy, pre}, i, 2, (mf_tensor *const[]){gpre, gbias}, o,
                          false));
    return mf__lowp_end(&f, bias_gelu_backward_typed(o[0], o[1], i[0], i[1]));
}
