/* CPU softmax and log-softmax along one dim, forward and backward. The
 * tensor is seen as outer x n x inner (contiguous). With inner == 1 each
 * row is contiguous and handled in three vectorised passes; otherwise a
 * block of up to SM_COLS adjacent columns is reduced together so that
 * every pass reads memory in order. f32 uses mf_expf_fast. */
#include <stdlib.h>

#include "core/backend/cpu/softmax.h"
#include "medfm/parallel.h"

#define SM_COLS 256

typedef struct {
    char *y;
    const char *x, *g;
    int64_t outer, n, inner, nblk;
    bool log;
} sm_job;

static inline double exp_f64(double v) { return exp(v); }

/* One contiguous f32 row, 8 lanes at a time (mf_exp8). */
static void row_softmax_f32(const float *x, float *y, int64_t n, bool log) {
    const mf_v8f zero = {0};
    mf_v8f m8 = zero - INFINITY, s8 = zero;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        mf_v8f v = mf_v8f_load(x + i);
        m8 = mf_v8f_select(v > m8, v, m8);
    }
    float mx = -INFINITY;
    for (int l = 0; l < 8; l++)
        mx = m8[l] > mx ? m8[l] : mx;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY)
        mx = 0; /* all -inf: the result is NaN, as torch */
    for (i = 0; i + 8 <= n; i += 8) {
        mf_v8f e = mf_exp8(mf_v8f_load(x + i) - mx);
        if (!log)
            mf_v8f_store(y + i, e);
        s8 += e;
    }
    float sum = 0;
    for (int l = 0; l < 8; l++)
        sum += s8[l];
    for (; i < n; i++) {
        float e = mf_expf_fast(x[i] - mx);
        if (!log)
            y[i] = e;
        sum += e;
    }
    if (log) {
        float ls = logf(sum);
        for (i = 0; i < n; i++)
            y[i] = (x[i] - mx) - ls;
    } else {
        float inv = 1.0f / sum;
        for (i = 0; i < n; i++)
            y[i] *= inv;
    }
}

/* A block of nc adjacent f32 columns (stride `inner` between the n
 * entries of one column): 8 columns per vector, the rest one by one. */
static void cols_softmax_f32(const float *x, float *y, int64_t n, int64_t inner, int64_t nc, bool log) {
    const mf_v8f zero = {0};
    int64_t c = 0;
    for (; c + 8 <= nc; c += 8) {
        mf_v8f mx = zero - INFINITY, sum = zero;
        for (int64_t i = 0; i < n; i++) {
            mf_v8f v = mf_v8f_load(x + i * inner + c);
            mx = mf_v8f_select(v > mx, v, mx);
        }
        mx = mf_v8f_select(mx == zero - INFINITY, zero, mx);
        for (int64_t i = 0; i < n; i++) {
            mf_v8f e = mf_exp8(mf_v8f_load(x + i * inner + c) - mx);
            if (!log)
                mf_v8f_store(y + i * inner + c, e);
            sum += e;
        }
        if (log) {
            mf_v8f ls;
            for (int l = 0; l < 8; l++)
                ls[l] = logf(sum[l]);
            for (int64_t i = 0; i < n; i++)
                mf_v8f_store(y + i * inner + c, (mf_v8f_load(x + i * inner + c) - mx) - ls);
        } else {
            mf_v8f inv = 1.0f / sum;
            for (int64_t i = 0; i < n; i++)
                mf_v8f_store(y + i * inner + c, mf_v8f_load(y + i * inner + c) * inv);
        }
    }
    for (; c < nc; c++) {
        float mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < n; i++)
            mx = x[i * inner + c] > mx ? x[i * inner + c] : mx;
        if (mx == -INFINITY)
            mx = 0;
        for (int64_t i = 0; i < n; i++) {
            float e = mf_expf_fast(x[i * inner + c] - mx);
            if (!log)
                y[i * inner + c] = e;
            sum += e;
        }
        float k = log ? logf(sum) : 1.0f / sum;
        for (int64_t i = 0; i < n; i++)
            y[i * inner + c] = log ? (x[i * inner + c] - mx) - k : y[i * inner + c] * k;
    }
}

/* Forward over tasks [t0, t1): a task is (outer index, column block). */
#define SM_FORWARD(T, EXP, LOG, NAME)                                                                        \
    static void NAME(void *ctx, int64_t t0, int64_t t1) {                                                    \
        sm_job *j = ctx;                                                                                     \
        int64_t n = j->n, inner = j->inner;                                                                  \
        T m[SM_COLS], s[SM_COLS];                                                                            \
        for (int64_t t = t0; t < t1; t++) {                                                                  \
            int64_t o = t / j->nblk, c0 = (t % j->nblk) * SM_COLS;                                           \
            int64_t nc = inner - c0 < SM_COLS ? inner - c0 : SM_COLS;                                        \
            const T *x = (const T *)j->x + o * n * inner + c0;                                               \
            T *y = (T *)j->y + o * n * inner + c0;                                                           \
            if (inner == 1 && sizeof(T) == 4) {                                                              \
                row_softmax_f32((const float *)x, (float *)y, n, j->log);                                    \
                continue;                                                                                    \
            }                                                                                                \
            if (inner == 1) {                                                                                \
                T mx = -INFINITY;                                                                            \
                for (int64_t i = 0; i < n; i++)                                                              \
                    mx = x[i] > mx ? x[i] : mx;                                                              \
                if (mx == -INFINITY)                                                                         \
                    mx = 0; /* all -inf: exp gives 0s and the result NaN, as torch */                        \
                T sum = 0;                                                                                   \
                if (j->log) {                                                                                \
                    for (int64_t i = 0; i < n; i++)                                                          \
                        sum += EXP(x[i] - mx);                                                               \
                    T ls = LOG(sum); /* (x - max) - log(sum): exact digits for large x */                \
                    for (int64_t i = 0; i < n; i++)                                                          \
                        y[i] = (x[i] - mx) - ls;                                                             \
                } else {                                                                                     \
                    for (int64_t i = 0; i < n; i++) {                                                        \
                        T e = EXP(x[i] - mx);                                                                \
                        y[i] = e;                                                                            \
                        sum += e;                                                                            \
                    }                                                                                        \
                    T inv = (T)1 / sum;                                                                      \
                    for (int64_t i = 0; i < n; i++)                                                          \
                        y[i] *= inv;                                                                         \
                }                                                                                            \
                continue;                                                                                    \
            }                                                                                                \
            if (sizeof(T) == 4) {                                                                            \
                cols_softmax_f32((const float *)x, (float *)y, n, inner, nc, j->log);                        \
                continue;                                                                                    \
            }                                                                                                \
            for (int64_t c = 0; c < nc; c++) {                                                               \
                m[c] = -INFINITY;                                                                            \
                s[c] = 0;                                                                                    \
            }                                                                                                \
            for (int64_t i = 0; i < n; i++)                                                                  \
                for (int64_t c = 0; c < nc; c++)                                                             \
                    m[c] = x[i * inner + c] > m[c] ? x[i * inner + c] : m[c];                                \
            for (int64_t c = 0; c < nc; c++)                                                                 \
                m[c] = m[c] == -INFINITY ? 0 : m[c];                                                         \
            for (int64_t i = 0; i < n; i++)                                                                  \
                for (int64_t c = 0; c < nc; c++) {                                                           \
                    T e = EXP(x[i * inner + c] - m[c]);                                                      \
                    s[c] += e;                                                                               \
                    if (!j->log)                                                                             \
                        y[i * inner + c] = e;                                                                \
                }                                                                                            \
            if (j->log) {                                                                                    \
                for (int64_t c = 0; c < nc; c++)                                                             \
                    s[c] = LOG(s[c]);                                                                        \
                for (int64_t i = 0; i < n; i++)                                                              \
                    for (int64_t c = 0; c < nc; c++)                                                         \
                        y[i * inner + c] = (x[i * inner + c] - m[c]) - s[c];                                 \
            } else {                                                                                         \
                for (int64_t c = 0; c < nc; c++)                                                             \
                    s[c] = (T)1 / s[c];                                                                      \
                for (int64_t i = 0; i < n; i++)                                                              \
                    for (int64_t c = 0; c < nc; c++)                                                         \
                        y[i * inner + c] *= s[c];                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

SM_FORWARD(float, mf_expf_fast, logf, sm_fwd_f32)
SM_FORWARD(double, exp_f64, log, sm_fwd_f64)

/* Backward: x holds the saved output y, g the incoming gradient. */
#define SM_BACKWARD(T, EXP, NAME)                                                                            \
    static void NAME(void *ctx, int64_t t0, int64_t t1) {                                                    \
        sm_job *j = ctx;                                                                                     \
        int64_t n = j->n, inner = j->inner;                                                                  \
        T s[SM_COLS];                                                                                        \
        for (int64_t t = t0; t < t1; t++) {                                                                  \
            int64_t o = t / j->nblk, c0 = (t % j->nblk) * SM_COLS;                                           \
            int64_t nc = inner - c0 < SM_COLS ? inner - c0 : SM_COLS;                                        \
            int64_t base = o * n * inner + c0;                                                               \
            const T *y = (const T *)j->x + base, *g = (const T *)j->g + base;                                \
            T *gx = (T *)j->y + base;                                                                        \
            for (int64_t c = 0; c < nc; c++)                                                                 \
                s[c] = 0;                                                                                    \
            if (j->log) {                                                                                    \
                for (int64_t i = 0; i < n; i++)                                                              \
                    for (int64_t c = 0; c < nc; c++)                                                         \
                        s[c] += g[i * inner + c];                                                            \
                for (int64_t i = 0; i < n; i++)                                                              \
                    for (int64_t c = 0; c < nc; c++)                                                         \
                        gx[i * inner + c] = g[i * inner + c] - EXP(y[i * inner + c]) * s[c];                 \
            } else {                                                                                         \
                for (int64_t i = 0; i < n; i++)                                                              \
                    for (int64_t c = 0; c < nc; c++)                                                         \
                        s[c] += g[i * inner + c] * y[i * inner + c];                                         \
                for (int64_t i = 0; i < n; i++)                                                              \
                    for (int64_t c = 0; c < nc; c++)                                                         \
                        gx[i * inner + c] = y[i * inner + c] * (g[i * inner + c] - s[c]);                    \
            }                                                                                                \
        }                                                                                                    \
    }

SM_BACKWARD(float, mf_expf_fast, sm_bwd_f32)
SM_BACKWARD(double, exp_f64, sm_bwd_f64)

static void run(mf_range_fn fn, sm_job *j) {
    j->nblk = (j->inner + SM_COLS - 1) / SM_COLS;
    int64_t tasks = j->outer * j->nblk;
    int64_t per = j->n * (j->inner < SM_COLS ? j->inner : SM_COLS);
    int64_t grain = 32768 / (per > 0 ? per : 1);
    if (tasks > 0 && j->n > 0)
        mf_parallel_for(tasks, grain < 1 ? 1 : grain, fn, j);
}

mf_status mf__cpu_softmax_forward(mf_tensor *y, const mf_tensor *x, int dim, bool log) {
    sm_job j = {.y = mf_tensor_data(y), .x = mf_tensor_data(x), .log = log};
    mf_softmax_split(x, dim, &j.outer, &j.n, &j.inner);
    if (x->dtype == MF_F32)
        run(sm_fwd_f32, &j);
    else if (x->dtype == MF_F64)
        run(sm_fwd_f64, &j);
    else
        return MF_ERR(MF_ERR_UNSUPPORTED, "softmax: dtype %s not supported on the cpu backend",
                      mf_dtype_name(x->dtype));
    return MF_OK;
}

mf_status mf__cpu_softmax_backward(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *y, int dim, bool log) {
    sm_job j = {.y = mf_tensor_data(gx), .x = mf_tensor_data(y), .g = mf_tensor_data(gy), .log = log};
    mf_softmax_split(y, dim, &j.outer, &j.n, &j.inner);
    if (y->dtype == MF_F32)
        run(sm_bwd_f32, &j);
    else if (y->dtype == MF_F64)
        run(sm_bwd_f64, &j);
    else
        return MF_ERR(MF_ERR_UNSUPPORTED, "softmax: dtype %s not supported on the cpu backend",
                      mf_dtype_name(y->dtype));
    return MF_OK;
}
