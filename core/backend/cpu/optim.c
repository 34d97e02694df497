/* CPU kernels of the optim family: fused SGD and Adam updates over
 * contiguous f32/f64 tensors (one pass over memory per step), plus the
 * sum of squares and in-place scaling used by gradient-norm clipping. */
#include <math.h>
#include <stdlib.h>

#include "core/backend/kern_optim.h"
#include "medfm/parallel.h"

#define OPTIM_GRAIN 16384
/* Fixed block size of the sum of squares: partial sums per block, added in
 * block order, so the result is the same for every thread count. */
#define SUMSQ_BLOCK 8192

/* ------------------------------------------------------------------ SGD */

typedef struct {
    void *p, *buf;
    const void *g;
    const mf_sgd_hparams *h;
} sgd_job;

#define SGD_BODY(T)                                                                                  \
    do {                                                                                             \
        T *p = j->p, *buf = j->buf;                                                                  \
        const T *g = j->g;                                                                           \
        const T lr = (T)h->lr, wd = (T)h->weight_decay, mom = (T)h->momentum;                        \
        const T damp1 = (T)(1.0 - h->dampening);                                                     \
        for (int64_t i = b; i < e; i++) {                                                            \
            T d = g[i];                                                                              \
            if (h->weight_decay != 0)                                                                \
                d = d + wd * p[i];                                                                   \
            if (buf) {                                                                               \
                T bi = h->first ? d : mom * buf[i] + damp1 * d;                                      \
                buf[i] = bi;                                                                         \
                d = h->nesterov ? d + mom * bi : bi;                                                 \
            }                                                                                        \
            p[i] = p[i] - lr * d;                                                                    \
        }                                                                                            \
    } while (0)

static void sgd_f32(void *ctx, int64_t b, int64_t e) {
    sgd_job *j = ctx;
    const mf_sgd_hparams *h = j->h;
    SGD_BODY(float);
}

static void sgd_f64(void *ctx, int64_t b, int64_t e) {
    sgd_job *j = ctx;
    const mf_sgd_hparams *h = j->h;
    SGD_BODY(double);
}

static mf_status cpu_sgd(mf_tensor *param, const mf_tensor *grad, mf_tensor *buf, const mf_sgd_hparams *h) {
    sgd_job j = {mf_tensor_data(param), buf ? mf_tensor_data(buf) : NULL, mf_tensor_data(grad), h};
    mf_parallel_for(mf_tensor_numel(param), OPTIM_GRAIN, param->dtype == MF_F32 ? sgd_f32 : sgd_f64, &j);
    return MF_OK;
}

/* ----------------------------------------------------------------- Adam */

typedef struct {
    void *p, *m, *v, *vmax;
    const void *g;
    const mf_adam_hparams *h;
    double step_size, bc2_sqrt;
} adam_job;

/* Same operation order as torch's single-tensor Adam, so f64 trajectories
 * agree to the last bits. */
#define ADAM_BODY(T, SQRT)                                                                           \
    do {                                                                                             \
        T *p = j->p, *m = j->m, *v = j->v, *vmax = j->vmax;                                          \
        const T *g = j->g;                                                                           \
        const T b1 = (T)h->beta1, b2 = (T)h->beta2, eps = (T)h->eps, wd = (T)h->weight_decay;        \
        const T omb1 = (T)(1.0 - h->beta1), omb2 = (T)(1.0 - h->beta2);                              \
        const T decay = (T)(1.0 - h->lr * h->weight_decay);                                          \
        const T step_size = (T)j->step_size, bc2s = (T)j->bc2_sqrt;                                  \
        for (int64_t i = b; i < e; i++) {                                                            \
            T gi = g[i], pi = p[i];                                                                  \
            if (h->weight_decay != 0) {                                                              \
                if (h->decoupled)                                                                    \
                    pi = pi * decay;                                                                 \
                else                                                                                 \
                    gi = gi + wd * pi;                                                               \
            }                                                                                        \
            T mi = m[i] * b1 + omb1 * gi;                                                            \
            T vi = v[i] * b2 + omb2 * gi * gi;                                                     \
            m[i] = mi;                                                                               \
            v[i] = vi;                                                                               \
            if (vmax) {                                                                              \
                vi = vmax[i] > vi || isnan(vmax[i]) ? vmax[i] : vi;                                  \
                vmax[i] = vi;                                                                        \
            }                                                                                        \
            T denom = SQRT(vi) / bc2s + eps;                                                         \
            p[i] = pi + (-step_size) * mi / denom;                                                 \
        }                                                                                            \
    } while (0)

static void adam_f32(void *ctx, int64_t b, int64_t e) {
    adam_job *j = ctx;
    const mf_adam_hparams *h = j->h;
    ADAM_BODY(float, sqrtf);
}

static void adam_f64(void *ctx, int64_t b, int64_t e) {
    adam_job *j = ctx;
    const mf_adam_hparams *h = j->h;
    ADAM_BODY(double, sqrt);
}

static mf_status cpu_adam(mf_tensor *param, const mf_tensor *grad, mf_tensor *exp_avg, mf_tensor *exp_avg_sq,
                          mf_tensor *vmax, const mf_adam_hparams *h) {
    double t = (double)h->step;
    adam_job j = {.p = mf_tensor_data(param),
                  .m = mf_tensor_data(exp_avg),
                  .v = mf_tensor_data(exp_avg_sq),
                  .vmax = vmax ? mf_tensor_data(vmax) : NULL,
                  .g = mf_tensor_data(grad),
                  .h = h,
                  .step_size = h->lr / (1.0 - pow(h->beta1, t)),
                  .bc2_sqrt = sqrt(1.0 - pow(h->beta2, t))};
    mf_parallel_for(mf_tensor_numel(param), OPTIM_GRAIN, param->dtype == MF_F32 ? adam_f32 : adam_f64, &j);
    return MF_OK;
}

/* ------------------------------------------------------- clipping helpers */

typedef struct {
    const void *x;
    mf_dtype dt;
    int64_t n;
    double *partial;
    double s;
} red_job;

static void sumsq_blocks(void *ctx, int64_t b0, int64_t b1) {
    red_job *j = ctx;
    for (int64_t blk = b0; blk < b1; blk++) {
        int64_t b = blk * SUMSQ_BLOCK, e = b + SUMSQ_BLOCK < j->n ? b + SUMSQ_BLOCK : j->n;
        double acc = 0;
        if (j->dt == MF_F32) {
            const float *x = j->x;
            for (int64_t i = b; i < e; i++)
                acc += (double)x[i] * (double)x[i];
        } else {
            const double *x = j->x;
            for (int64_t i = b; i < e; i++)
                acc += x[i] * x[i];
        }
        j->partial[blk] = acc;
    }
}

static mf_status cpu_sum_squares(const mf_tensor *x, double *out) {
    int64_t n = mf_tensor_numel(x), nb = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    double one;
    double *partial = nb > 1 ? malloc((size_t)nb * sizeof *partial) : &one;
    if (!partial)
        return MF_ERR(MF_ERR_NOMEM, "sum_squares: out of memory for %lld partial sums", (long long)nb);
    red_job j = {.x = mf_tensor_data(x), .dt = x->dtype, .n = n, .partial = partial};
    mf_parallel_for(nb, 4, sumsq_blocks, &j);
    double s = 0;
    for (int64_t b = 0; b < nb; b++)
        s += partial[b];
    if (partial != &one)
        free(partial);
    *out = s;
    return MF_OK;
}

static void scale_range(void *ctx, int64_t b, int64_t e) {
    red_job *j = ctx;
    if (j->dt == MF_F32) {
        float *x = (float *)j->x, s = (float)j->s;
        for (int64_t i = b; i < e; i++)
            x[i] *= s;
    } else {
        double *x = (double *)j->x;
        for (int64_t i = b; i < e; i++)
            x[i] *= j->s;
    }
}

static mf_status cpu_scale(mf_tensor *x, double s) {
    red_job j = {.x = mf_tensor_data(x), .dt = x->dtype, .n = mf_tensor_numel(x), .s = s};
    mf_parallel_for(j.n, OPTIM_GRAIN, scale_range, &j);
    return MF_OK;
}

const struct mf_kern_optim mf_cpu_optim = {
    .sgd = cpu_sgd,
    .adam = cpu_adam,
    .sum_squares = cpu_sum_squares,
    .scale = cpu_scale,
};
