/* CPU kernels of the loss family: the fused cross-entropy (log-softmax
 * over C, target gather, label smoothing and class weights in one pass per
 * position, and its backward softmax - onehot), and the table mf_cpu_loss,
 * which also carries the softmax kernels of softmax.c. Logits are seen as
 * (N, C, S): one position is (n, s), its classes are S apart. */
#include <stdlib.h>

#include "core/backend/cpu/softmax.h"
#include "core/backend/kern_loss.h"
#include "medfm/parallel.h"

typedef struct {
    int64_t N, C, S;
    char *loss, *wt, *logp, *gx;
    const char *x, *g, *w;
    const int64_t *t;
    int64_t gs0, gs1; /* gscale strides over (N, S) */
    int64_t ignore;
    double eps, wsum;
    int bad;          /* set when a target is out of range */
    int64_t bad_value;
} ce_job;

static inline double exp_f64(double v) { return exp(v); }

static void flag_bad(ce_job *j, int64_t t) {
    if (!__atomic_exchange_n(&j->bad, 1, __ATOMIC_RELAXED))
        j->bad_value = t;
}

#define CE_FORWARD(T, EXP, LOG, NAME)                                                                        \
    static void NAME(void *ctx, int64_t p0, int64_t p1) {                                                    \
        ce_job *j = ctx;                                                                                     \
        int64_t C = j->C, S = j->S;                                                                          \
        const T *w = (const T *)j->w;                                                                        \
        for (int64_t p = p0; p < p1; p++) {                                                                  \
            int64_t n = p / S, s = p % S;                                                                    \
            const T *x = (const T *)j->x + n * C * S + s;                                                    \
            T *lp = (T *)j->logp + n * C * S + s;                                                            \
            T mx = -INFINITY, sum = 0;                                                                       \
            for (int64_t c = 0; c < C; c++)                                                                  \
                mx = x[c * S] > mx ? x[c * S] : mx;                                                          \
            if (mx == -INFINITY)                                                                             \
                mx = 0;                                                                                      \
            for (int64_t c = 0; c < C; c++)                                                                  \
                sum += EXP(x[c * S] - mx);                                                                   \
            T ls = LOG(sum);                                                                                 \
            for (int64_t c = 0; c < C; c++)                                                                  \
                lp[c * S] = (x[c * S] - mx) - ls;                                                            \
            int64_t t = j->t[p];                                                                             \
            T l = 0, wt = 0;                                                                                 \
            if (t != j->ignore) {                                                                            \
                if (t < 0 || t >= C) {                                                                       \
                    flag_bad(j, t);                                                                          \
                    t = 0;                                                                                   \
                }                                                                                            \
                wt = w ? w[t] : (T)1;                                                                        \
                l = -(T)(1.0 - j->eps) * wt * lp[t * S];                                                     \
                if (j->eps > 0) {                                                                            \
                    T sm = 0;                                                                                \
                    for (int64_t c = 0; c < C; c++)                                                          \
                        sm += (w ? w[c] : (T)1) * lp[c * S];                                                 \
                    l -= (T)(j->eps / (double)C) * sm;                                                       \
                }                                                                                            \
            }                                                                                                \
            ((T *)j->loss)[p] = l;                                                                           \
            ((T *)j->wt)[p] = wt;                                                                            \
        }                                                                                                    \
    }

CE_FORWARD(float, mf_expf_fast, logf, ce_fwd_f32_scalar)
CE_FORWARD(double, exp_f64, log, ce_fwd_f64)

#define CE_BACKWARD(T, EXP, NAME)                                                                            \
    static void NAME(void *ctx, int64_t p0, int64_t p1) {                                                    \
        ce_job *j = ctx;                                                                                     \
        int64_t C = j->C, S = j->S;                                                                          \
        const T *w = (const T *)j->w;                                                                        \
        T a = (T)(j->eps / (double)C), W = (T)j->wsum;                                                       \
        for (int64_t p = p0; p < p1; p++) {                                                                  \
            int64_t n = p / S, s = p % S;                                                                    \
            const T *lp = (const T *)j->logp + n * C * S + s;                                                \
            T *gx = (T *)j->gx + n * C * S + s;                                                              \
            int64_t t = j->t[p];                                                                             \
            if (t == j->ignore || t < 0 || t >= C) {                                                         \
                for (int64_t c = 0; c < C; c++)                                                              \
                    gx[c * S] = 0;                                                                           \
                continue;                                                                                    \
            }                                                                                                \
            T gs = ((const T *)j->g)[n * j->gs0 + s * j->gs1];                                               \
            T b = (T)(1.0 - j->eps) * (w ? w[t] : (T)1);                                                     \
            for (int64_t c = 0; c < C; c++) {                                                                \
                T pc = EXP(lp[c * S]);                                                                       \
                gx[c * S] = gs * (b * pc + a * (W * pc - (w ? w[c] : (T)1)));                                \
            }                                                                                                \
            gx[t * S] -= gs * b;                                                                             \
        }                                                                                                    \
    }

CE_BACKWARD(float, mf_expf_fast, ce_bwd_f32_scalar)
CE_BACKWARD(double, exp_f64, ce_bwd_f64)

/* f32 with spatial positions (segmentation logits (N, C, H, W)): eight
 * adjacent positions of one image at a time, their classes loaded as
 * contiguous 8-lane vectors; the rest goes through the scalar kernels. */
static bool ce_group8(const ce_job *j, int64_t p, int64_t p1) {
    int64_t s = p % j->S;
    return j->S >= 8 && p + 8 <= p1 && s + 8 <= j->S;
}

static void ce_fwd_f32(void *ctx, int64_t p0, int64_t p1) {
    ce_job *j = ctx;
    int64_t C = j->C, S = j->S;
    const float *w = (const float *)j->w;
    const mf_v8f zero = {0};
    int64_t p = p0;
    while (p < p1) {
        if (!ce_group8(j, p, p1)) {
            ce_fwd_f32_scalar(ctx, p, p + 1);
            p++;
            continue;
        }
        int64_t n = p / S, s = p % S;
        const float *x = (const float *)j->x + n * C * S + s;
        float *lp = (float *)j->logp + n * C * S + s;
        mf_v8f mx = zero - INFINITY, sum = zero;
        for (int64_t c = 0; c < C; c++) {
            mf_v8f v = mf_v8f_load(x + c * S);
            mx = mf_v8f_select(v > mx, v, mx);
        }
        mx = mf_v8f_select(mx == zero - INFINITY, zero, mx);
        for (int64_t c = 0; c < C; c++)
            sum += mf_exp8(mf_v8f_load(x + c * S) - mx);
        mf_v8f ls;
        for (int l = 0; l < 8; l++)
            ls[l] = logf(sum[l]);
        mf_v8f sm = zero;
        for (int64_t c = 0; c < C; c++) {
            mf_v8f v = (mf_v8f_load(x + c * S) - mx) - ls;
            mf_v8f_store(lp + c * S, v);
            sm += (w ? w[c] : 1.0f) * v;
        }
        for (int l = 0; l < 8; l++) {
            int64_t t = j->t[p + l];
            float lo = 0, wt = 0;
            if (t != j->ignore) {
                if (t < 0 || t >= C) {
                    flag_bad(j, t);
                    t = 0;
                }
                wt = w ? w[t] : 1.0f;
                lo = -(float)(1.0 - j->eps) * wt * lp[t * S + l];
                if (j->eps > 0)
                    lo -= (float)(j->eps / (double)C) * sm[l];
            }
            ((float *)j->loss)[p + l] = lo;
            ((float *)j->wt)[p + l] = wt;
        }
        p += 8;
    }
}

static void ce_bwd_f32(void *ctx, int64_t p0, int64_t p1) {
    ce_job *j = ctx;
    int64_t C = j->C, S = j->S;
    const float *w = (const float *)j->w;
    float a = (float)(j->eps / (double)C), W = (float)j->wsum;
    int64_t p = p0;
    while (p < p1) {
        if (!ce_group8(j, p, p1)) {
            ce_bwd_f32_scalar(ctx, p, p + 1);
            p++;
            continue;
        }
        int64_t n = p / S, s = p % S;
        const float *lp = (const float *)j->logp + n * C * S + s;
        float *gx = (float *)j->gx + n * C * S + s;
        mf_v8f gs, b;
        int64_t t8[8];
        for (int l = 0; l < 8; l++) {
            int64_t t = j->t[p + l];
            bool skip = t == j->ignore || t < 0 || t >= C;
            t8[l] = skip ? -1 : t;
            gs[l] = skip ? 0.0f : ((const float *)j->g)[n * j->gs0 + (s + l) * j->gs1];
            b[l] = skip ? 0.0f : (float)(1.0 - j->eps) * (w ? w[t] : 1.0f);
        }
        for (int64_t c = 0; c < C; c++) {
            mf_v8f pc = mf_exp8(mf_v8f_load(lp + c * S));
            mf_v8f g = gs * (b * pc + a * (W * pc - (w ? w[c] : 1.0f)));
            mf_v8f_store(gx + c * S, g);
        }
        for (int l = 0; l < 8; l++)
            if (t8[l] >= 0)
                gx[t8[l] * S + l] -= gs[l] * b[l];
        p += 8;
    }
}

static void ce_dims(ce_job *j, const mf_tensor *logp) {
    j->N = logp->shape[0];
    j->C = logp->shape[1];
    j->S = logp->shape[2];
}

static int64_t ce_grain(const ce_job *j) {
    int64_t g = 8192 / (j->C > 0 ? j->C : 1);
    return g < 1 ? 1 : g;
}

static mf_status cpu_ce_forward(mf_tensor *loss, mf_tensor *wt, mf_tensor *logp, const mf_tensor *logits,
                                const mf_tensor *target, const mf_tensor *weight, int64_t ignore_index,
                                double smoothing) {
    ce_job j = {.loss = mf_tensor_data(loss), .wt = mf_tensor_data(wt), .logp = mf_tensor_data(logp),
                .x = mf_tensor_data(logits), .t = mf_tensor_data(target),
                .w = weight ? mf_tensor_data(weight) : NULL, .ignore = ignore_index, .eps = smoothing};
    ce_dims(&j, logp);
    int64_t npos = j.N * j.S;
    if (npos == 0)
        return MF_OK;
    if (logits->dtype == MF_F32)
        mf_parallel_for(npos, ce_grain(&j), ce_fwd_f32, &j);
    else if (logits->dtype == MF_F64)
        mf_parallel_for(npos, ce_grain(&j), ce_fwd_f64, &j);
    else
        return MF_ERR(MF_ERR_UNSUPPORTED, "cross_entropy: dtype %s not supported on the cpu backend",
                      mf_dtype_name(logits->dtype));
    if (j.bad)
        return MF_ERR(MF_ERR_INVALID, "cross_entropy: target %lld is out of range for %lld classes [0, %lld)",
                      (long long)j.bad_value, (long long)j.C, (long long)j.C);
    return MF_OK;
}

static mf_status cpu_ce_backward(mf_tensor *gx, const mf_tensor *gscale, const mf_tensor *logp,
                                 const mf_tensor *target, const mf_tensor *weight, int64_t ignore_index,
                                 double smoothing) {
    ce_job j = {.gx = mf_tensor_data(gx), .g = mf_tensor_data(gscale), .logp = mf_tensor_data(logp),
                .t = mf_tensor_data(target), .w = weight ? mf_tensor_data(weight) : NULL,
                .gs0 = gscale->stride[0], .gs1 = gscale->stride[1], .ignore = ignore_index, .eps = smoothing};
    ce_dims(&j, logp);
    j.wsum = (double)j.C;
    if (weight) {
        j.wsum = 0;
        for (int64_t c = 0; c < j.C; c++)
            j.wsum += logp->dtype == MF_F32 ? ((const float *)j.w)[c] : ((const double *)j.w)[c];
    }
    int64_t npos = j.N * j.S;
    if (npos == 0)
        return MF_OK;
    if (logp->dtype == MF_F32)
        mf_parallel_for(npos, ce_grain(&j), ce_bwd_f32, &j);
    else if (logp->dtype == MF_F64)
        mf_parallel_for(npos, ce_grain(&j), ce_bwd_f64, &j);
    else
        return MF_ERR(MF_ERR_UNSUPPORTED, "cross_entropy: dtype %s not supported on the cpu backend",
                      mf_dtype_name(logp->dtype));
    return MF_OK;
}

const struct mf_kern_loss mf_cpu_loss = {
    .softmax_forward = mf__cpu_softmax_forward,
    .softmax_backward = mf__cpu_softmax_backward,
    .ce_forward = cpu_ce_forward,
    .ce_backward = cpu_ce_backward,
};
