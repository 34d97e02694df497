/* CPU pairwise distances (torch.cdist for p = 1, 2) and their backward:
 * one task per output row, so the backward needs no atomics and sums in a
 * fixed order. Registered in mf_cpu_index (core/backend/cpu/index.c). */
#include <math.h>

#include "core/backend/kern_index.h"
#include "medfm/parallel.h"

mf_status mf_cpu_cdist(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double p);
mf_status mf_cpu_cdist_backward(mf_tensor *ga, mf_tensor *gb, const mf_tensor *g, const mf_tensor *a,
                                const mf_tensor *b, const mf_tensor *d, double p);

/* Element offset of batch `bi` (row-major over the nb leading dims of shape). */
static inline int64_t batch_off(int nb, const int64_t *shape, const int64_t *stride, int64_t bi) {
    int64_t off = 0;
    for (int k = nb - 1; k >= 0; k--) {
        off += (bi % shape[k]) * stride[k];
        bi /= shape[k];
    }
    return off;
}

typedef struct {
    const mf_tensor *out, *a, *b, *g, *d;
    mf_tensor *ga, *gb;
    int nb, l1;
    int64_t N, M, D;
} cd_job;

#define A_AT(T, base, n, k) (((const T *)mf_tensor_data(j->a))[(base) + (n) * sa0 + (k) * sa1])
#define B_AT(T, base, m, k) (((const T *)mf_tensor_data(j->b))[(base) + (m) * sb0 + (k) * sb1])

#define CDIST_FWD(T)                                                                                         \
    for (int64_t row = r0; row < r1; row++) {                                                                \
        int64_t bi = row / j->N, n = row % j->N;                                                             \
        int64_t ao = batch_off(j->nb, j->out->shape, j->a->stride, bi);                   \
        int64_t bo = batch_off(j->nb, j->out->shape, j->b->stride, bi);                                      \
        int64_t oo = batch_off(j->nb, j->out->shape, j->out->stride, bi);                                    \
        T *o = (T *)mf_tensor_data(j->out) + oo + n * so0;                                                   \
        for (int64_t m = 0; m < j->M; m++) {                                                                 \
            double s = 0;                                                                                    \
            for (int64_t k = 0; k < j->D; k++) {                                                             \
                double t = (double)A_AT(T, ao, n, k) - (double)B_AT(T, bo, m, k);                            \
                s += j->l1 ? fabs(t) : t * t;                                                                \
            }                                                                                                \
            o[m * so1] = (T)(j->l1 ? s : sqrt(s));                                                           \
        }                                                                                                    \
    }

static void cdist_range(void *ctx, int64_t r0, int64_t r1) {
    const cd_job *j = ctx;
    int nb = j->nb;
    int64_t sa0 = j->a->stride[nb], sa1 = j->a->stride[nb + 1], sb0 = j->b->stride[nb], sb1 = j->b->stride[nb + 1],
            so0 = j->out->stride[nb], so1 = j->out->stride[nb + 1];
    if (j->out->dtype == MF_F32) {
        CDIST_FWD(float)
    } else {
        CDIST_FWD(double)
    }
}

mf_status mf_cpu_cdist(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double p) {
    if (out->dtype != MF_F32 && out->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "cdist: CPU supports f32 and f64, got %s", mf_dtype_name(out->dtype));
    int nb = out->ndim - 2;
    cd_job j = {.out = out, .a = a, .b = b, .nb = nb, .l1 = p == 1.0, .N = out->shape[nb], .M = out->shape[nb + 1],
                .D = a->shape[nb + 1]};
    int64_t rows = mf_tensor_numel(out) / (j.M > 0 ? j.M : 1);
    if (j.M == 0 || rows == 0)
        return MF_OK;
    int64_t work = j.M * (j.D > 0 ? j.D : 1);
    int64_t grain = 65536 / work;
    mf_parallel_for(rows, grain < 1 ? 1 : grain, cdist_range, &j);
    return MF_OK;
}

/* One row of a gradient: for ga, row n of batch bi sums over m (pair = b
 * rows, sign +1); for gb, row m sums over n (pair = a rows, sign -1). */
#define ACC_CHUNK 256

#define CDIST_BWD(T)                                                                                         \
    for (int64_t row = r0; row < r1; row++) {                                                                \
        int64_t bi = row / nself, i = row % nself;                                                           \
        int64_t so = batch_off(j->nb, j->g->shape, self->stride, bi);                                        \
        int64_t po = batch_off(j->nb, j->g->shape, other->stride, bi);                                       \
        int64_t go = batch_off(j->nb, j->g->shape, j->g->stride, bi);                                        \
        int64_t dofs = batch_off(j->nb, j->g->shape, j->d->stride, bi);                                      \
        int64_t oo = row * j->D; /* gradient outputs are contiguous */                                       \
        const T *S = (const T *)mf_tensor_data(self), *P = (const T *)mf_tensor_data(other);                \
        const T *G = (const T *)mf_tensor_data(j->g), *Dd = (const T *)mf_tensor_data(j->d);                \
        T *O = (T *)mf_tensor_data(grad);                                                                    \
        for (int64_t k0 = 0; k0 < j->D; k0 += ACC_CHUNK) {                                                   \
            int64_t k1 = k0 + ACC_CHUNK < j->D ? k0 + ACC_CHUNK : j->D;                                      \
            for (int64_t k = k0; k < k1; k++)                                                                \
                acc[k - k0] = 0;                                                                             \
            for (int64_t q = 0; q < nother; q++) {                                                           \
                int64_t gi = go + (is_a ? i * sg0 + q * sg1 : q * sg0 + i * sg1);                            \
                int64_t di = dofs + (is_a ? i * sd0 + q * sd1 : q * sd0 + i * sd1);                          \
                double gv = G[gi], dv = Dd[di];                                                              \
                if (gv == 0 || (!j->l1 && dv == 0))                                                          \
                    continue;                                                                                \
                double w = j->l1 ? gv : gv / dv;                                                             \
                for (int64_t k = k0; k < k1; k++) {                                                          \
                    double t = (double)S[so + i * ss0 + k * ss1] - (double)P[po + q * ps0 + k * ps1];        \
                    acc[k - k0] += j->l1 ? w * (double)((t > 0) - (t < 0)) : w * t;                          \
                }                                                                                            \
            }                                                                                                \
            for (int64_t k = k0; k < k1; k++)                                                                \
                O[oo + k] = (T)acc[k - k0];                                                                  \
        }                                                                                                    \
    }

static void cdist_bwd_rows(const cd_job *j, int is_a, int64_t r0, int64_t r1) {
    int nb = j->nb;
    const mf_tensor *self = is_a ? j->a : j->b, *other = is_a ? j->b : j->a;
    mf_tensor *grad = is_a ? j->ga : j->gb;
    int64_t nself = is_a ? j->N : j->M, nother = is_a ? j->M : j->N;
    int64_t ss0 = self->stride[nb], ss1 = self->stride[nb + 1], ps0 = other->stride[nb], ps1 = other->stride[nb + 1],
            sg0 = j->g->stride[nb], sg1 = j->g->stride[nb + 1], sd0 = j->d->stride[nb], sd1 = j->d->stride[nb + 1];
    double acc[ACC_CHUNK]; /* D is walked in chunks: no allocation inside a task */
    if (grad->dtype == MF_F32) {
        CDIST_BWD(float)
    } else {
        CDIST_BWD(double)
    }
}

static void cdist_bwd_a(void *ctx, int64_t r0, int64_t r1) { cdist_bwd_rows(ctx, 1, r0, r1); }
static void cdist_bwd_b(void *ctx, int64_t r0, int64_t r1) { cdist_bwd_rows(ctx, 0, r0, r1); }

mf_status mf_cpu_cdist_backward(mf_tensor *ga, mf_tensor *gb, const mf_tensor *g, const mf_tensor *a,
                                const mf_tensor *b, const mf_tensor *d, double p) {
    if (g->dtype != MF_F32 && g->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "cdist backward: CPU supports f32 and f64, got %s", mf_dtype_name(g->dtype));
    int nb = g->ndim - 2;
    cd_job j = {.g = g, .d = d, .a = a, .b = b, .ga = ga, .gb = gb, .nb = nb, .l1 = p == 1.0, .N = g->shape[nb],
                .M = g->shape[nb + 1], .D = a->shape[nb + 1]};
    int64_t batch = 1;
    for (int k = 0; k < nb; k++)
        batch *= g->shape[k];
    int64_t work = (j.M + j.N) * (j.D > 0 ? j.D : 1);
    int64_t grain = 65536 / (work > 0 ? work : 1);
    if (ga)
        mf_parallel_for(batch * j.N, grain < 1 ? 1 : grain, cdist_bwd_a, &j);
    if (gb)
        mf_parallel_for(batch * j.M, grain < 1 ? 1 : grain, cdist_bwd_b, &j);
    return MF_OK;
}
