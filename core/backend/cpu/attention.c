/* CPU scaled dot-product attention with an additive bias. One task per
 * (batch, head), spread over the thread pool (or run in turn when BLAS
 * threads each product itself, see run()); inside a task the products
 * are OpenBLAS GEMMs and the softmax / its backward are fused row loops.
 * The probabilities P are kept for the backward:
 *   dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)),
 *   dQ = scale dS K, dK = scale dS^T Q, dBias = dS.
 * A row whose scores are all -inf gets P = 0, so its output and all its
 * gradients are 0 rather than NaN. */
#include <cblas.h>
#include <stdlib.h>

#include "core/backend/cpu/lowp.h"
#include "core/backend/cpu/softmax.h"
#include "core/backend/kern_attention.h"
#include "medfm/parallel.h"

typedef struct {
    int64_t H, Lq, Lk, D, Dv;
    double scale;
    char *out, *p, *gq, *gk, *gv, *gs;
    const char *q, *k, *v, *bias, *go, *pc;
    int64_t bst[4];
    int failed;
} attn_job;

static inline double exp_f64(double v) { return exp(v); }

#define ATTN_FORWARD(T, GEMM, EXP, NAME)                                                                     \
    static void NAME(void *ctx, int64_t t0, int64_t t1) {                                                    \
        attn_job *j = ctx;                                                                                   \
        int64_t Lq = j->Lq, Lk = j->Lk, D = j->D, Dv = j->Dv;                                                \
        for (int64_t t = t0; t < t1; t++) {                                                                  \
            const T *q = (const T *)j->q + t * Lq * D, *k = (const T *)j->k + t * Lk * D;                   \
            const T *v = (const T *)j->v + t * Lk * Dv;                                                      \
            T *p = (T *)j->p + t * Lq * Lk, *o = (T *)j->out + t * Lq * Dv;                                  \
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Lq, (int)Lk, (int)D, (T)j->scale, q, (int)D, \
                 k, (int)D, (T)0, p, (int)Lk);                                                               \
            int64_t b = t / j->H, h = t % j->H;                                                              \
            for (int64_t i = 0; i < Lq; i++) {                                                               \
                T *row = p + i * Lk;                                                                         \
                if (j->bias) {                                                                               \
                    const T *br = (const T *)j->bias + b * j->bst[0] + h * j->bst[1] + i * j->bst[2];        \
                    int64_t s3 = j->bst[3];                                                                  \
                    for (int64_t c = 0; c < Lk; c++)                                                         \
                        row[c] += br[c * s3];                                                                \
                }                                                                                            \
                T mx = -INFINITY, sum = 0;                                                                   \
                for (int64_t c = 0; c < Lk; c++)                                                             \
                    mx = row[c] > mx ? row[c] : mx;                                                          \
                if (mx == -INFINITY) { /* fully masked row */                                                \
                    for (int64_t c = 0; c < Lk; c++)                                                         \
                        row[c] = 0;                                                                          \
                    continue;                                                                                \
                }                                                                                            \
                for (int64_t c = 0; c < Lk; c++) {                                                           \
                    T e = EXP(row[c] - mx);                                                                  \
                    row[c] = e;                                                                              \
                    sum += e;                                                                                \
                }                                                                                            \
                T inv = (T)1 / sum;                                                                          \
                for (int64_t c = 0; c < Lk; c++)                                                             \
                    row[c] *= inv;                                                                           \
            }                                                                                                \
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Lq, (int)Dv, (int)Lk, (T)1, p, (int)Lk, v,  \
                 (int)Dv, (T)0, o, (int)Dv);                                                                 \
        }                                                                                                    \
    }

ATTN_FORWARD(float, cblas_sgemm, mf_expf_fast, attn_fwd_f32)
ATTN_FORWARD(double, cblas_dgemm, exp_f64, attn_fwd_f64)

#define ATTN_BACKWARD(T, GEMM, NAME)                                                                         \
    static void NAME(void *ctx, int64_t t0, int64_t t1) {                                                    \
        attn_job *j = ctx;                                                                                   \
        int64_t Lq = j->Lq, Lk = j->Lk, D = j->D, Dv = j->Dv;                                                \
        T *tmp = NULL;                                                                                       \
        if (!j->gs && !(tmp = malloc(sizeof(T) * (size_t)(Lq * Lk)))) {                                      \
            __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);                                               \
            return;                                                                                          \
        }                                                                                                    \
        T sc = (T)j->scale;                                                                                  \
        for (int64_t t = t0; t < t1; t++) {                                                                  \
            const T *q = (const T *)j->q + t * Lq * D, *k = (const T *)j->k + t * Lk * D;                   \
            const T *v = (const T *)j->v + t * Lk * Dv, *go = (const T *)j->go + t * Lq * Dv;               \
            const T *p = (const T *)j->pc + t * Lq * Lk;                                                     \
            T *ds = j->gs ? (T *)j->gs + t * Lq * Lk : tmp;                                                  \
            if (j->gv)                                                                                       \
                GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Lk, (int)Dv, (int)Lq, (T)1, p, (int)Lk,   \
                     go, (int)Dv, (T)0, (T *)j->gv + t * Lk * Dv, (int)Dv);                                  \
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Lq, (int)Lk, (int)Dv, (T)1, go, (int)Dv, v,  \
                 (int)Dv, (T)0, ds, (int)Lk);                                                                \
            for (int64_t i = 0; i < Lq; i++) {                                                               \
                T *dr = ds + i * Lk;                                                                         \
                const T *pr = p + i * Lk;                                                                    \
                T r = 0;                                                                                     \
                for (int64_t c = 0; c < Lk; c++)                                                             \
                    r += dr[c] * pr[c];                                                                      \
                for (int64_t c = 0; c < Lk; c++)                                                             \
                    dr[c] = pr[c] * (dr[c] - r);                                                             \
            }                                                                                                \
            if (j->gq)                                                                                       \
                GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Lq, (int)D, (int)Lk, sc, ds, (int)Lk, k, \
                     (int)D, (T)0, (T *)j->gq + t * Lq * D, (int)D);                                         \
            if (j->gk)                                                                                       \
                GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Lk, (int)D, (int)Lq, sc, ds, (int)Lk, q,  \
                     (int)D, (T)0, (T *)j->gk + t * Lk * D, (int)D);                                         \
        }                                                                                                    \
        free(tmp);                                                                                           \
    }

ATTN_BACKWARD(float, cblas_sgemm, attn_bwd_f32)
ATTN_BACKWARD(double, cblas_dgemm, attn_bwd_f64)

static void *data_or_null(const mf_tensor *t) { return t ? mf_tensor_data(t) : NULL; }

static void dims(attn_job *j, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v) {
    j->H = q->shape[1];
    j->Lq = q->shape[2];
    j->D = q->shape[3];
    j->Lk = k->shape[2];
    j->Dv = v->shape[3];
}

static int64_t grain(const attn_job *j) {
    int64_t work = j->Lq * j->Lk * (j->D + j->Dv);
    int64_t g = 65536 / (work > 0 ? work : 1);
    return g < 1 ? 1 : g;
}

/* OpenBLAS threads a GEMM once M*N*K exceeds 65536 * GEMM_MULTITHREAD_THRESHOLD
 * (4 by default). Calling such GEMMs from several pool workers at once
 * nests two thread pools: measured ~10x slower at ViT-B sizes on 2 cores.
 * So: large per-head products run head after head on the calling thread
 * and BLAS parallelises each one; small ones (BLAS stays single-threaded)
 * are spread over heads on the pool. No global BLAS setting is touched. */
#define BLAS_THREADED_MNK (65536 * 4)

static void run(attn_job *j, int64_t tasks, mf_range_fn fn) {
    int64_t d = j->D > j->Dv ? j->D : j->Dv;
    if (j->Lq * j->Lk * d > BLAS_THREADED_MNK)
        fn(j, 0, tasks);
    else
        mf_parallel_for(tasks, grain(j), fn, j);
}

static mf_status cpu_attn_forward(mf_tensor *out, mf_tensor *p, const mf_tensor *q, const mf_tensor *k,
                                  const mf_tensor *v, const mf_tensor *bias, double scale) {
    attn_job j = {.scale = scale, .out = mf_tensor_data(out), .p = mf_tensor_data(p), .q = mf_tensor_data(q),
                  .k = mf_tensor_data(k), .v = mf_tensor_data(v), .bias = data_or_null(bias)};
    dims(&j, q, k, v);
    if (bias)
        for (int d = 0; d < 4; d++)
            j.bst[d] = bias->stride[d];
    int64_t tasks = q->shape[0] * j.H;
    if (tasks == 0 || j.Lq == 0)
        return MF_OK;
    if (j.Lk == 0 || j.D == 0 || j.Dv == 0) { /* degenerate: BLAS would reject a zero leading dim */
        return MF_ERR(MF_ERR_UNSUPPORTED, "attention: empty key or head dims (Lk %lld, D %lld, Dv %lld)",
                      (long long)j.Lk, (long long)j.D, (long long)j.Dv);
    }
    if (q->dtype == MF_F32)
        run(&j, tasks, attn_fwd_f32);
    else if (q->dtype == MF_F64)
        run(&j, tasks, attn_fwd_f64);
    else
        return MF_ERR(MF_ERR_UNSUPPORTED, "attention: dtype %s not supported on the cpu backend",
                      mf_dtype_name(q->dtype));
    return MF_OK;
}

static mf_status cpu_attn_backward(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gs,
                                   const mf_tensor *gout, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                                   const mf_tensor *p, double scale) {
    attn_job j = {.scale = scale, .gq = data_or_null(gq), .gk = data_or_null(gk), .gv = data_or_null(gv),
                  .gs = data_or_null(gs), .go = mf_tensor_data(gout), .q = mf_tensor_data(q),
                  .k = mf_tensor_data(k), .v = mf_tensor_data(v), .pc = mf_tensor_data(p)};
    dims(&j, q, k, v);
    int64_t tasks = q->shape[0] * j.H;
    if (tasks == 0 || j.Lq == 0)
        return MF_OK;
    if (q->dtype == MF_F32)
        run(&j, tasks, attn_bwd_f32);
    else if (q->dtype == MF_F64)
        run(&j, tasks, attn_bwd_f64);
    else
        return MF_ERR(MF_ERR_UNSUPPORTED, "attention: dtype %s not supported on the cpu backend",
                      mf_dtype_name(q->dtype));
    if (j.failed)
        return MF_ERR(MF_ERR_NOMEM, "attention: out of memory for a %lldx%lld score buffer", (long long)j.Lq,
                      (long long)j.Lk);
    return MF_OK;
}

/* bf16/f16: the f32 kernels on f32 twins (core/backend/cpu/lowp.h). */
static mf_status any_forward(mf_tensor *out, mf_tensor *p, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                             const mf_tensor *bias, double scale) {
    if (!mf__lowp(q->dtype))
        return cpu_attn_forward(out, p, q, k, v, bias, scale);
    mf_lowp_frame f;
    const mf_tensor *i[4];
    mf_tensor *o[2];
    mf_status st = mf__lowp_begin(&f, 4, (const mf_tensor *const[]){q, k, v, bias}, i, 2,
                                  (mf_tensor *const[]){out, p}, o, false);
    return st != MF_OK ? st : mf__lowp_end(&f, cpu_attn_forward(o[0], o[1], i[0], i[1], i[2], i[3], scale));
}

static mf_status any_backward(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gs, const mf_tensor *gout,
                              const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *p,
                              double scale) {
    if (!mf__lowp(q->dtype))
        return cpu_attn_backward(gq, gk, gv, gs, gout, q, k, v, p, scale);
    mf_lowp_frame f;
    const mf_tensor *i[5];
    mf_tensor *o[4];
    mf_status st = mf__lowp_begin(&f, 5, (const mf_tensor *const[]){gout, q, k, v, p}, i, 4,
                                  (mf_tensor *const[]){gq, gk, gv, gs}, o, false);
    return st != MF_OK ? st
                       : mf__lowp_end(&f, cpu_attn_backward(o[0], o[1], o[2], o[3], i[0], i[1], i[2], i[3], i[4],
                                                            scale));
}

const struct mf_kern_attention mf_cpu_attention = {
    .forward = any_forward,
    .backward = any_backward,
};
