/* CPU kernels of the norm family: batch norm (parallel over channels) and
 * the row norm behind layer and group norm (parallel over rows). Each
 * forward is one statistics pass (shifted sums in double over 8 lanes, so
 * f32 input vectorises and stays accurate) and one fused affine pass;
 * each backward is one reduction pass and one fused pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cpu/lowp.h"
#include "core/backend/kern_norm.h"
#include "medfm/parallel.h"

static mf_status need_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "%s: the CPU kernel needs f32 or f64, got %s", op, mf_dtype_name(t->dtype));
    return MF_OK;
}

/* Reads element i of a 1-D (possibly strided) tensor, or `dflt` for NULL. */
static inline double vec_get(const mf_tensor *t, int64_t i, double dflt) {
    if (!t)
        return dflt;
    if (t->dtype == MF_F64)
        return ((const double *)mf_tensor_data(t))[i * t->stride[0]];
    return ((const float *)mf_tensor_data(t))[i * t->stride[0]];
}

static inline void vec_set(mf_tensor *t, int64_t i, double v) {
    if (t->dtype == MF_F64)
        ((double *)mf_tensor_data(t))[i * t->stride[0]] = v;
    else
        ((float *)mf_tensor_data(t))[i * t->stride[0]] = (float)v;
}

/* Typed helpers: s1 += sum(x - k), s2 += sum((x - k)^2);
 * sg += sum(g), sd += sum(g * (x - m)). */
#define DEF_HELPERS(T, SUF)                                                                                   \
    static void moments_##SUF(const T *x, int64_t n, double k, double *s1, double *s2) {                      \
        double a[8] = {0}, b[8] = {0};                                                                        \
        int64_t i = 0;                                                                                        \
        for (; i + 8 <= n; i += 8)                                                                            \
            for (int l = 0; l < 8; l++) {                                                                     \
                double v = (double)x[i + l] - k;                                                              \
                a[l] += v;                                                                                    \
                b[l] += v * v;                                                                                \
            }                                                                                                 \
        double sa = 0, sb = 0;                                                                                \
        for (; i < n; i++) {                                                                                  \
            double v = (double)x[i] - k;                                                                      \
            sa += v;                                                                                          \
            sb += v * v;                                                                                      \
        }                                                                                                     \
        for (int l = 0; l < 8; l++) {                                                                         \
            sa += a[l];                                                                                       \
            sb += b[l];                                                                                       \
        }                                                                                                     \
        *s1 += sa;                                                                                            \
        *s2 += sb;                                                                                            \
    }                                                                                                         \
    static void gdot_##SUF(const T *g, const T *x, int64_t n, double m, double *sg, double *sd) {             \
        double a[8] = {0}, b[8] = {0};                                                                        \
        int64_t i = 0;                                                                                        \
        for (; i + 8 <= n; i += 8)                                                                            \
            for (int l = 0; l < 8; l++) {                                                                     \
                double gv = (double)g[i + l];                                                                 \
                a[l] += gv;                                                                                   \
                b[l] += gv * ((double)x[i + l] - m);                                                          \
            }                                                                                                 \
        double sa = 0, sb = 0;                                                                                \
        for (; i < n; i++) {                                                                                  \
            sa += (double)g[i];                                                                               \
            sb += (double)g[i] * ((double)x[i] - m);                                                          \
        }                                                                                                     \
        for (int l = 0; l < 8; l++) {                                                                         \
            sa += a[l];                                                                                       \
            sb += b[l];                                                                                       \
        }                                                                                                     \
        *sg += sa;                                                                                            \
        *sd += sb;                                                                                            \
    }                                                                                                         \
    /* y = (x - mh - ml) * a + b: the mean split in two T parts keeps     \
     * x - mean accurate when the data sit far from zero */                                                   \
    static void axpb_##SUF(T *y, const T *x, int64_t n, T mh, T ml, T a, T b) {                               \
        for (int64_t i = 0; i < n; i++)                                                                       \
            y[i] = ((x[i] - mh) - ml) * a + b;                                                                \
    }                                                                                                         \
    /* gx = g * a + (x - mh - ml) * b + c */                                                                  \
    static void gxpb_##SUF(T *gx, const T *g, const T *x, int64_t n, T mh, T ml, T a, T b, T c) {             \
        for (int64_t i = 0; i < n; i++)                                                                       \
            gx[i] = g[i] * a + ((x[i] - mh) - ml) * b + c;                                                    \
    }

DEF_HELPERS(float, f32)
DEF_HELPERS(double, f64)

/* Layer norm rows (S == 1): every element has its own affine entry, so
 * these run over the whole row in single vectorisable loops. */
#define DEF_LN(T, SUF)                                                                                        \
    static void ln_fwd_##SUF(T *y, const T *x, int64_t K, double mean, double rstd, const T *w, const T *b) {  \
        T mh = (T)mean, ml = (T)(mean - (double)mh), rs = (T)rstd;                                            \
        if (w && b)                                                                                           \
            for (int64_t i = 0; i < K; i++)                                                                   \
                y[i] = ((x[i] - mh) - ml) * rs * w[i] + b[i];                                                 \
        else if (w)                                                                                           \
            for (int64_t i = 0; i < K; i++)                                                                   \
                y[i] = ((x[i] - mh) - ml) * rs * w[i];                                                        \
        else if (b)                                                                                           \
            for (int64_t i = 0; i < K; i++)                                                                   \
                y[i] = ((x[i] - mh) - ml) * rs + b[i];                                                        \
        else                                                                                                  \
            for (int64_t i = 0; i < K; i++)                                                                   \
                y[i] = ((x[i] - mh) - ml) * rs;                                                               \
    }                                                                                                         \
    static void ln_bwd_##SUF(T *gx, const T *g, const T *x, int64_t K, double mean, double rstd, const T *w,  \
                             double *pw, double *pb) {                                                        \
        double a[8] = {0}, c[8] = {0}, s1 = 0, s2 = 0;                                                        \
        int64_t i = 0;                                                                                        \
        for (; i + 8 <= K; i += 8)                                                                            \
            for (int l = 0; l < 8; l++) {                                                                     \
                double gw = (double)g[i + l] * (w ? (double)w[i + l] : 1.0);                                  \
                a[l] += gw;                                                                                   \
                c[l] += gw * ((double)x[i + l] - mean);                                                       \
            }                                                                                                 \
        for (; i < K; i++) {                                                                                  \
            double gw = (double)g[i] * (w ? (double)w[i] : 1.0);                                              \
            s1 += gw;                                                                                         \
            s2 += gw * ((double)x[i] - mean);                                                                 \
        }                                                                                                     \
        for (int l = 0; l < 8; l++) {                                                                         \
            s1 += a[l];                                                                                       \
            s2 += c[l];                                                                                       \
        }                                                                                                     \
        if (pw)                                                                                               \
            for (i = 0; i < K; i++) {                                                                         \
                pw[i] += (double)g[i] * ((double)x[i] - mean) * rstd;                                         \
                pb[i] += (double)g[i];                                                                        \
            }                                                                                                 \
        if (!gx)                                                                                              \
            return;                                                                                           \
        T mh = (T)mean, ml = (T)(mean - (double)mh), rs = (T)rstd;                                            \
        T B = (T)(-rstd * rstd * rstd * s2 / (double)K), C = (T)(-rstd * s1 / (double)K);                     \
        if (w)                                                                                                \
            for (i = 0; i < K; i++)                                                                           \
                gx[i] = g[i] * w[i] * rs + ((x[i] - mh) - ml) * B + C;                                        \
        else                                                                                                  \
            for (i = 0; i < K; i++)                                                                           \
                gx[i] = g[i] * rs + ((x[i] - mh) - ml) * B + C;                                               \
    }

DEF_LN(float, f32)
DEF_LN(double, f64)

/* Dtype dispatch on element pointers with an element offset. */
#define ELT(t, off) ((char *)mf_tensor_data(t) + (off) * (int64_t)mf_dtype_size((t)->dtype))

static void moments(mf_dtype dt, const void *x, int64_t n, double k, double *s1, double *s2) {
    if (dt == MF_F64)
        moments_f64(x, n, k, s1, s2);
    else
        moments_f32(x, n, k, s1, s2);
}
static void gdot(mf_dtype dt, const void *g, const void *x, int64_t n, double m, double *sg, double *sd) {
    if (dt == MF_F64)
        gdot_f64(g, x, n, m, sg, sd);
    else
        gdot_f32(g, x, n, m, sg, sd);
}
static void axpb(mf_dtype dt, void *y, const void *x, int64_t n, double m, double a, double b) {
    if (dt == MF_F64) {
        axpb_f64(y, x, n, m, 0.0, a, b);
    } else {
        float mh = (float)m;
        axpb_f32(y, x, n, mh, (float)(m - mh), (float)a, (float)b);
    }
}
static void gxpb(mf_dtype dt, void *gx, const void *g, const void *x, int64_t n, double m, double a, double b,
                 double c) {
    if (dt == MF_F64) {
        gxpb_f64(gx, g, x, n, m, 0.0, a, b, c);
    } else {
        float mh = (float)m;
        gxpb_f32(gx, g, x, n, mh, (float)(m - mh), (float)a, (float)b, (float)c);
    }
}
static double load(mf_dtype dt, const void *p) {
    return dt == MF_F64 ? *(const double *)p : (double)*(const float *)p;
}

/* ------------------------------------------------------------ batch norm */

typedef struct {
    mf_tensor *y, *mean, *invstd, *rm, *rv;
    mf_tensor *gx, *gw, *gb;
    const mf_tensor *x, *g, *w, *b;
    bool training, relu;
    double momentum, eps;
} bn_job;

/* relu in place over n values (its formula: NaN stays NaN). */
static void relu_inplace(mf_dtype dt, void *p, int64_t n) {
    if (dt == MF_F64) {
        double *v = p;
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] <= 0 ? 0 : v[i];
    } else {
        float *v = p;
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] <= 0 ? 0 : v[i];
    }
}

static void bn_fwd_range(void *ctx, int64_t c0, int64_t c1) {
    bn_job *j = ctx;
    const mf_tensor *x = j->x;
    mf_dtype dt = x->dtype;
    int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
    for (int64_t c = c0; c < c1; c++) {
        double mean, invstd;
        if (j->training) {
            double k = load(dt, ELT(x, c * S)), s1 = 0, s2 = 0;
            for (int64_t n = 0; n < N; n++)
                moments(dt, ELT(x, (n * C + c) * S), S, k, &s1, &s2);
            double d = s1 / (double)M, var = s2 / (double)M - d * d;
            if (var < 0)
                var = 0;
            mean = k + d;
            invstd = 1.0 / sqrt(var + j->eps);
            if (j->rm)
                vec_set(j->rm, c, (1.0 - j->momentum) * vec_get(j->rm, c, 0) + j->momentum * mean);
            if (j->rv)
                vec_set(j->rv, c,
                        (1.0 - j->momentum) * vec_get(j->rv, c, 0) + j->momentum * var * (double)M / (double)(M - 1));
        } else {
            mean = vec_get(j->rm, c, 0);
            invstd = 1.0 / sqrt(vec_get(j->rv, c, 1) + j->eps);
        }
        vec_set(j->mean, c, mean);
        vec_set(j->invstd, c, invstd);
        double a = invstd * vec_get(j->w, c, 1.0), b = vec_get(j->b, c, 0.0);
        for (int64_t n = 0; n < N; n++) {
            axpb(dt, ELT(j->y, (n * C + c) * S), ELT(x, (n * C + c) * S), S, mean, a, b);
            if (j->relu)
                relu_inplace(dt, ELT(j->y, (n * C + c) * S), S);
        }
    }
}

static int64_t channel_grain(int64_t per_channel) {
    int64_t g = 32768 / (per_channel > 0 ? per_channel : 1);
    return g < 1 ? 1 : g;
}

static mf_status cpu_batch_forward(mf_tensor *y, mf_tensor *mean, mf_tensor *invstd, const mf_tensor *x,
                                   const mf_tensor *w, const mf_tensor *b, mf_tensor *running_mean,
                                   mf_tensor *running_var, bool training, double momentum, double eps, bool relu) {
    if (mf__lowp(x->dtype)) { /* bf16/f16 data, f32 parameters: the f32 kernel on twins of x and y */
        mf_lowp_frame f;
        const mf_tensor *i[1];
        mf_tensor *o[1];
        mf_status st = mf__lowp_begin(&f, 1, (const mf_tensor *const[]){x}, i, 1, (mf_tensor *const[]){y}, o, false);
        return st != MF_OK ? st
                           : mf__lowp_end(&f, cpu_batch_forward(o[0], mean, invstd, i[0], w, b, running_mean,
                                                                running_var, training, momentum, eps, relu));
    }
    MF_TRY(need_float("batch_norm", x));
    bn_job j = {.y = y, .mean = mean, .invstd = invstd, .rm = running_mean, .rv = running_var, .x = x, .w = w,
                .b = b, .training = training, .relu = relu, .momentum = momentum, .eps = eps};
    mf_parallel_for(x->shape[1], channel_grain(x->shape[0] * x->shape[2]), bn_fwd_range, &j);
    return MF_OK;
}

static void bn_bwd_range(void *ctx, int64_t c0, int64_t c1) {
    bn_job *j = ctx;
    const mf_tensor *x = j->x, *g = j->g;
    mf_dtype dt = x->dtype;
    int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
    for (int64_t c = c0; c < c1; c++) {
        double mean = vec_get(j->mean, c, 0), invstd = vec_get(j->invstd, c, 1);
        double sg = 0, sd = 0;
        if (j->gw || j->gb || (j->gx && j->training))
            for (int64_t n = 0; n < N; n++)
                gdot(dt, ELT(g, (n * C + c) * S), ELT(x, (n * C + c) * S), S, mean, &sg, &sd);
        if (j->gw)
            vec_set(j->gw, c, sd * invstd);
        if (j->gb)
            vec_set(j->gb, c, sg);
        if (!j->gx)
            continue;
        double A = vec_get(j->w, c, 1.0) * invstd, B = 0, Cc = 0;
        if (j->training) {
            B = -A * invstd * invstd * sd / (double)M;
            Cc = -A * sg / (double)M;
        }
        for (int64_t n = 0; n < N; n++)
            gxpb(dt, ELT(j->gx, (n * C + c) * S), ELT(g, (n * C + c) * S), ELT(x, (n * C + c) * S), S, mean, A, B,
                 Cc);
    }
}

/* gy * [ry > 0] (relu's gradient, the same products as its backward), as
 * a new tensor; f32 or f64, contiguous. */
static mf_status relu_masked(const mf_tensor *gy, const mf_tensor *ry, mf_tensor **out) {
    MF_TRY(mf_tensor_empty(gy->ndim, gy->shape, gy->dtype, gy->storage->device, out));
    int64_t n = mf_tensor_numel(gy);
    if (gy->dtype == MF_F64) {
        const double *g = mf_tensor_data(gy), *y = mf_tensor_data(ry);
        double *m = mf_tensor_data(*out);
        for (int64_t i = 0; i < n; i++)
            m[i] = g[i] * (y[i] > 0 ? 1.0 : 0.0);
    } else {
        const float *g = mf_tensor_data(gy), *y = mf_tensor_data(ry);
        float *m = mf_tensor_data(*out);
        for (int64_t i = 0; i < n; i++)
            m[i] = (float)((double)g[i] * (y[i] > 0 ? 1.0 : 0.0));
    }
    return MF_OK;
}

static mf_status cpu_batch_backward(mf_tensor *gx, mf_tensor *gw, mf_tensor *gb, const mf_tensor *gy,
                                    const mf_tensor *x, const mf_tensor *mean, const mf_tensor *invstd,
                                    const mf_tensor *w, bool training, const mf_tensor *ry) {
    if (mf__lowp(x->dtype)) { /* bf16/f16 data: twins of g, x, ry and gx */
        mf_lowp_frame f;
        const mf_tensor *i[3];
        mf_tensor *o[1];
        mf_status st = mf__lowp_begin(&f, ry ? 3 : 2, (const mf_tensor *const[]){gy, x, ry}, i, 1,
                                      (mf_tensor *const[]){gx}, o, false);
        return st != MF_OK ? st
                           : mf__lowp_end(&f, cpu_batch_backward(o[0], gw, gb, i[0], i[1], mean, invstd, w,
                                                                 training, ry ? i[2] : NULL));
    }
    MF_TRY(need_float("batch_norm backward", x));
    if (ry) {
        mf_tensor *gm;
        MF_TRY(relu_masked(gy, ry, &gm));
        mf_status st = cpu_batch_backward(gx, gw, gb, gm, x, mean, invstd, w, training, NULL);
        mf_tensor_release(gm);
        return st;
    }
    bn_job j = {.gx = gx, .gw = gw, .gb = gb, .g = gy, .x = x, .mean = (mf_tensor *)mean,
                .invstd = (mf_tensor *)invstd, .w = w, .training = training};
    mf_parallel_for(x->shape[1], channel_grain(x->shape[0] * x->shape[2]), bn_bwd_range, &j);
    return MF_OK;
}

/* -------------------------------------------------------------- row norm */

typedef struct {
    const mf_rownorm_geom *geo;
    mf_tensor *y, *mean, *rstd, *gx;
    const mf_tensor *x, *g, *w, *b;
    double eps;
    int64_t chunks;
    double *part; /* per chunk: gw partials then gb partials (2 * G * Cg) */
} row_job;

static void row_fwd_range(void *ctx, int64_t r0, int64_t r1) {
    row_job *j = ctx;
    const mf_rownorm_geom *q = j->geo;
    mf_dtype dt = j->x->dtype;
    int64_t K = q->cg * q->s;
    for (int64_t r = r0; r < r1; r++) {
        const char *xr = ELT(j->x, r * K);
        double k = load(dt, xr), s1 = 0, s2 = 0;
        moments(dt, xr, K, k, &s1, &s2);
        double d = s1 / (double)K, var = s2 / (double)K - d * d;
        if (var < 0)
            var = 0;
        double mean = k + d, rstd = 1.0 / sqrt(var + j->eps);
        vec_set(j->mean, r, mean);
        vec_set(j->rstd, r, rstd);
        int64_t ch0 = (r % q->groups) * q->cg;
        if (q->s == 1) {
            const void *w = j->w ? ELT(j->w, ch0) : NULL, *b = j->b ? ELT(j->b, ch0) : NULL;
            if (dt == MF_F64)
                ln_fwd_f64((double *)ELT(j->y, r * K), (const double *)xr, K, mean, rstd, w, b);
            else
                ln_fwd_f32((float *)ELT(j->y, r * K), (const float *)xr, K, mean, rstd, w, b);
            continue;
        }
        for (int64_t c = 0; c < q->cg; c++) {
            double a = rstd * vec_get(j->w, ch0 + c, 1.0), b = vec_get(j->b, ch0 + c, 0.0);
            axpb(dt, ELT(j->y, r * K + c * q->s), ELT(j->x, r * K + c * q->s), q->s, mean, a, b);
        }
    }
}

static mf_status cpu_row_forward(const mf_rownorm_geom *g, mf_tensor *y, mf_tensor *mean, mf_tensor *rstd,
                                 const mf_tensor *x, const mf_tensor *w, const mf_tensor *b, double eps) {
    MF_TRY(need_float("norm", x));
    row_job j = {.geo = g, .y = y, .mean = mean, .rstd = rstd, .x = x, .w = w, .b = b, .eps = eps};
    mf_parallel_for(g->rows, channel_grain(g->cg * g->s), row_fwd_range, &j);
    return MF_OK;
}

static void row_bwd_chunk(void *ctx, int64_t k0, int64_t k1) {
    row_job *j = ctx;
    const mf_rownorm_geom *q = j->geo;
    mf_dtype dt = j->x->dtype;
    int64_t K = q->cg * q->s, CA = q->groups * q->cg;
    for (int64_t k = k0; k < k1; k++) {
        int64_t r0 = k * q->rows / j->chunks, r1 = (k + 1) * q->rows / j->chunks;
        double *pw = j->part ? j->part + k * 2 * CA : NULL, *pb = pw ? pw + CA : NULL;
        for (int64_t r = r0; r < r1; r++) {
            double mean = vec_get(j->mean, r, 0), rstd = vec_get(j->rstd, r, 1);
            int64_t ch0 = (r % q->groups) * q->cg;
            if (q->s == 1) {
                const void *w = j->w ? ELT(j->w, ch0) : NULL;
                void *gx = j->gx ? ELT(j->gx, r * K) : NULL;
                if (dt == MF_F64)
                    ln_bwd_f64(gx, (const double *)ELT(j->g, r * K), (const double *)ELT(j->x, r * K), K, mean, rstd,
                               w, pw ? pw + ch0 : NULL, pb ? pb + ch0 : NULL);
                else
                    ln_bwd_f32(gx, (const float *)ELT(j->g, r * K), (const float *)ELT(j->x, r * K), K, mean, rstd,
                               w, pw ? pw + ch0 : NULL, pb ? pb + ch0 : NULL);
                continue;
            }
            /* per channel: sum g, sum g (x - mean); row sums weighted by w */
            double rs1 = 0, rs2 = 0;
            for (int64_t c = 0; c < q->cg; c++) {
                double sg = 0, sd = 0;
                gdot(dt, ELT(j->g, r * K + c * q->s), ELT(j->x, r * K + c * q->s), q->s, mean, &sg, &sd);
                double wc = vec_get(j->w, ch0 + c, 1.0);
                rs1 += wc * sg;
                rs2 += wc * sd;
                if (pw) {
                    pw[ch0 + c] += sd * rstd;
                    pb[ch0 + c] += sg;
                }
            }
            if (!j->gx)
                continue;
            /* gx = rstd (g w - mean(g w)) - (x - mean) rstd^3 mean(g w (x - mean)) */
            double B = -rstd * rstd * rstd * rs2 / (double)K, Cc = -rstd * rs1 / (double)K;
            for (int64_t c = 0; c < q->cg; c++) {
                double A = rstd * vec_get(j->w, ch0 + c, 1.0);
                gxpb(dt, ELT(j->gx, r * K + c * q->s), ELT(j->g, r * K + c * q->s), ELT(j->x, r * K + c * q->s),
                     q->s, mean, A, B, Cc);
            }
        }
    }
}

static mf_status cpu_row_backward(const mf_rownorm_geom *g, mf_tensor *gx, mf_tensor *gw, mf_tensor *gb,
                                  const mf_tensor *gy, const mf_tensor *x, const mf_tensor *mean,
                                  const mf_tensor *rstd, const mf_tensor *w) {
    MF_TRY(need_float("norm backward", x));
    int64_t CA = g->groups * g->cg;
    int64_t chunks = 4 * (int64_t)mf_num_threads();
    if (chunks > g->rows)
        chunks = g->rows > 0 ? g->rows : 1;
    row_job j = {.geo = g, .gx = gx, .g = gy, .x = x, .mean = (mf_tensor *)mean, .rstd = (mf_tensor *)rstd,
                 .w = w, .chunks = chunks};
    if (gw || gb) {
        j.part = calloc((size_t)(chunks * 2 * CA), sizeof(double));
        if (!j.part)
            return MF_ERR(MF_ERR_NOMEM, "norm backward: out of memory for %lld partial sums",
                          (long long)(chunks * 2 * CA));
    }
    mf_parallel_for(chunks, 1, row_bwd_chunk, &j);
    if (j.part) {
        for (int64_t c = 0; c < CA; c++) {
            double sw = 0, sb = 0;
            for (int64_t k = 0; k < chunks; k++) {
                sw += j.part[k * 2 * CA + c];
                sb += j.part[k * 2 * CA + CA + c];
            }
            if (gw)
                vec_set(gw, c, sw);
            if (gb)
                vec_set(gb, c, sb);
        }
        free(j.part);
    }
    return MF_OK;
}

const struct mf_kern_norm mf_cpu_norm = {
    .batch_channels_last = false, /* contiguous (N, C, S) data only */
    .batch_forward = cpu_batch_forward,
    .batch_backward = cpu_batch_backward,
    .row_forward = cpu_row_forward,
    .row_backward = cpu_row_backward,
};
