/* CPU window pooling (max, average, adaptive average) over contiguous
 * (planes, D, H, W) data, and the pool family's CPU table. Each spatial dim
 * gets a table of window bounds up front, so the inner loops only walk
 * valid taps; work is split over planes (backward: planes only, since
 * windows overlap inside a plane). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cpu/lowp.h"
#include "core/backend/cpu/pool.h"
#include "medfm/parallel.h"

/* Valid taps of output o along one dim: first input index, count, step,
 * and (avg) the divisor contribution of this dim. */
typedef struct {
    int64_t *first[3], *count[3], *size[3];
    int64_t step[3];
    int64_t *buf;
} win_tab;

static mf_status win_build(const mf_pool_geom *g, bool is_max, win_tab *w) {
    int64_t total = g->out[0] + g->out[1] + g->out[2];
    w->buf = malloc(sizeof(int64_t) * (size_t)(3 * total + 1));
    if (!w->buf)
        return MF_ERR(MF_ERR_NOMEM, "pool: out of memory for window tables");
    int64_t *p = w->buf;
    for (int d = 0; d < 3; d++) {
        int64_t n = g->out[d], in = g->in[d], k = g->kernel[d], s = g->stride[d], pad = g->pad[d];
        int64_t dil = is_max ? g->dilation[d] : 1;
        w->first[d] = p;
        w->count[d] = p + n;
        w->size[d] = p + 2 * n;
        p += 3 * n;
        w->step[d] = dil;
        for (int64_t o = 0; o < n; o++) {
            int64_t lo, hi, size;
            if (g->adaptive) {
                lo = o * in / n;
                hi = ((o + 1) * in + n - 1) / n;
                size = hi - lo;
            } else if (is_max) {
                int64_t start = o * s - pad;
                lo = start;
                while (lo < 0)
                    lo += dil;
                hi = start + (k - 1) * dil + 1;
                if (hi > in)
                    hi = in;
                size = 1;
            } else {
                int64_t start = o * s - pad;
                int64_t end_pad = start + k < in + pad ? start + k : in + pad;
                lo = start > 0 ? start : 0;
                hi = start + k < in ? start + k : in;
                size = g->count_include_pad ? end_pad - start : hi - lo;
            }
            w->first[d][o] = lo;
            w->count[d][o] = hi > lo ? (hi - lo + dil - 1) / dil : 0;
            w->size[d][o] = size;
        }
    }
    return MF_OK;
}

typedef struct {
    const mf_pool_geom *g;
    win_tab w;
    char *y;
    int64_t *idx;
    const char *x;
    bool f64;
} win_job;

/* One work item = one (plane, output depth) pair. */
#define MAX_FWD(T)                                                                                            \
    for (int64_t it = r0; it < r1; it++) {                                                                    \
        int64_t p = it / g->out[0], od = it % g->out[0];                                                      \
        const T *xp = (const T *)j->x + p * in_plane;                                                         \
        T *yp = (T *)j->y + p * out_plane + od * g->out[1] * g->out[2];                                       \
        int64_t *ip = j->idx + p * out_plane + od * g->out[1] * g->out[2];                                    \
        int64_t d0 = w->first[0][od], nd = w->count[0][od], sd = w->step[0];                                  \
        for (int64_t oh = 0; oh < g->out[1]; oh++) {                                                          \
            int64_t h0 = w->first[1][oh], nh = w->count[1][oh], sh = w->step[1];                              \
            for (int64_t ow = 0; ow < g->out[2]; ow++) {                                                      \
                int64_t w0 = w->first[2][ow], nw = w->count[2][ow], sw = w->step[2];                          \
                int64_t best = (d0 * g->in[1] + h0) * g->in[2] + w0;                                          \
                T bv = -INFINITY;                                                                             \
                for (int64_t a = 0; a < nd; a++) {                                                            \
                    for (int64_t b = 0; b < nh; b++) {                                                        \
                        int64_t row = ((d0 + a * sd) * g->in[1] + h0 + b * sh) * g->in[2] + w0;               \
                        for (int64_t c = 0; c < nw; c++) {                                                    \
                            T v = xp[row + c * sw];                                                           \
                            if (v > bv || isnan(v)) {                                                         \
                                bv = v;                                                                       \
                                best = row + c * sw;                                                          \
                            }                                                                                 \
                        }                                                                                     \
                    }                                                                                         \
                }                                                                                             \
                yp[oh * g->out[2] + ow] = bv;                                                                 \
                ip[oh * g->out[2] + ow] = best;                                                               \
            }                                                                                                 \
        }                                                                                                     \
    }

static void max_fwd_range(void *ctx, int64_t r0, int64_t r1) {
    win_job *j = ctx;
    const mf_pool_geom *g = j->g;
    const win_tab *w = &j->w;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2], out_plane = g->out[0] * g->out[1] * g->out[2];
    if (j->f64) {
        MAX_FWD(double)
    } else {
        MAX_FWD(float)
    }
}

static mf_status cpu_max_forward(const mf_pool_geom *g, mf_tensor *y, mf_tensor *idx, const mf_tensor *x) {
    MF_TRY(mf_cpu_pool_float("max_pool", x));
    win_job j = {.g = g, .y = mf_tensor_data(y), .idx = mf_tensor_data(idx), .x = mf_tensor_data(x),
                 .f64 = x->dtype == MF_F64};
    MF_TRY(win_build(g, true, &j.w));
    int64_t work = g->out[1] * g->out[2] * g->kernel[0] * g->kernel[1] * g->kernel[2];
    int64_t grain = 16384 / (work > 0 ? work : 1);
    mf_parallel_for(g->planes * g->out[0], grain < 1 ? 1 : grain, max_fwd_range, &j);
    free(j.w.buf);
    return MF_OK;
}

typedef struct {
    const mf_pool_geom *g;
    char *gx;
    const char *gy;
    const int64_t *idx;
    bool f64;
} max_bwd_job;

static void max_bwd_range(void *ctx, int64_t p0, int64_t p1) {
    max_bwd_job *j = ctx;
    const mf_pool_geom *g = j->g;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2], out_plane = g->out[0] * g->out[1] * g->out[2];
    for (int64_t p = p0; p < p1; p++) {
        const int64_t *ip = j->idx + p * out_plane;
        if (j->f64) {
            double *gx = (double *)j->gx + p * in_plane;
            const double *gy = (const double *)j->gy + p * out_plane;
            memset(gx, 0, sizeof(double) * (size_t)in_plane);
            for (int64_t o = 0; o < out_plane; o++)
                gx[ip[o]] += gy[o];
        } else {
            float *gx = (float *)j->gx + p * in_plane;
            const float *gy = (const float *)j->gy + p * out_plane;
            memset(gx, 0, sizeof(float) * (size_t)in_plane);
            for (int64_t o = 0; o < out_plane; o++)
                gx[ip[o]] += gy[o];
        }
    }
}

static mf_status cpu_max_backward(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy, const mf_tensor *idx) {
    MF_TRY(mf_cpu_pool_float("max_pool backward", gx));
    max_bwd_job j = {.g = g, .gx = mf_tensor_data(gx), .gy = mf_tensor_data(gy), .idx = mf_tensor_data(idx),
                     .f64 = gx->dtype == MF_F64};
    int64_t plane = g->in[0] * g->in[1] * g->in[2];
    int64_t grain = 16384 / (plane > 0 ? plane : 1);
    mf_parallel_for(g->planes, grain < 1 ? 1 : grain, max_bwd_range, &j);
    return MF_OK;
}

/* Average: forward sums valid taps in double and divides by the product of
 * the per-dim sizes; backward spreads gy / size over the same taps. */
#define AVG_FWD(T)                                                                                            \
    for (int64_t it = r0; it < r1; it++) {                                                                    \
        int64_t p = it / g->out[0], od = it % g->out[0];                                                      \
        const T *xp = (const T *)j->x + p * in_plane;                                                         \
        T *yp = (T *)j->y + p * out_plane + od * g->out[1] * g->out[2];                                       \
        int64_t d0 = w->first[0][od], nd = w->count[0][od];                                                   \
        for (int64_t oh = 0; oh < g->out[1]; oh++) {                                                          \
            int64_t h0 = w->first[1][oh], nh = w->count[1][oh];                                               \
            for (int64_t ow = 0; ow < g->out[2]; ow++) {                                                      \
                int64_t w0 = w->first[2][ow], nw = w->count[2][ow];                                           \
                double acc = 0;                                                                               \
                for (int64_t a = 0; a < nd; a++)                                                              \
                    for (int64_t b = 0; b < nh; b++) {                                                        \
                        const T *row = xp + ((d0 + a) * g->in[1] + h0 + b) * g->in[2] + w0;                   \
                        double l0 = 0, l1 = 0, l2 = 0, l3 = 0; /* independent lanes for long rows */          \
                        int64_t c = 0;                                                                        \
                        for (; c + 4 <= nw; c += 4) {                                                         \
                            l0 += row[c];                                                                     \
                            l1 += row[c + 1];                                                                 \
                            l2 += row[c + 2];                                                                 \
                            l3 += row[c + 3];                                                                 \
                        }                                                                                     \
                        for (; c < nw; c++)                                                                   \
                            l0 += row[c];                                                                     \
                        acc += (l0 + l1) + (l2 + l3);                                                         \
                    }                                                                                         \
                double size = (double)(w->size[0][od] * w->size[1][oh] * w->size[2][ow]);                     \
                yp[oh * g->out[2] + ow] = (T)(acc / size);                                                    \
            }                                                                                                 \
        }                                                                                                     \
    }

static void avg_fwd_range(void *ctx, int64_t r0, int64_t r1) {
    win_job *j = ctx;
    const mf_pool_geom *g = j->g;
    const win_tab *w = &j->w;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2], out_plane = g->out[0] * g->out[1] * g->out[2];
    if (j->f64) {
        AVG_FWD(double)
    } else {
        AVG_FWD(float)
    }
}

static mf_status cpu_avg_forward(const mf_pool_geom *g, mf_tensor *y, const mf_tensor *x) {
    MF_TRY(mf_cpu_pool_float("avg_pool", x));
    win_job j = {.g = g, .y = mf_tensor_data(y), .x = mf_tensor_data(x), .f64 = x->dtype == MF_F64};
    MF_TRY(win_build(g, false, &j.w));
    int64_t work = g->out[1] * g->out[2] * g->kernel[0] * g->kernel[1] * g->kernel[2];
    int64_t grain = 16384 / (work > 0 ? work : 1);
    mf_parallel_for(g->planes * g->out[0], grain < 1 ? 1 : grain, avg_fwd_range, &j);
    free(j.w.buf);
    return MF_OK;
}

#define AVG_BWD(T)                                                                                            \
    for (int64_t p = r0; p < r1; p++) {                                                                       \
        T *xp = (T *)j->y + p * in_plane;                                                                     \
        const T *gp = (const T *)j->x + p * out_plane;                                                        \
        memset(xp, 0, sizeof(T) * (size_t)in_plane);                                                          \
        for (int64_t od = 0; od < g->out[0]; od++) {                                                          \
            int64_t d0 = w->first[0][od], nd = w->count[0][od];                                               \
            for (int64_t oh = 0; oh < g->out[1]; oh++) {                                                      \
                int64_t h0 = w->first[1][oh], nh = w->count[1][oh];                                           \
                for (int64_t ow = 0; ow < g->out[2]; ow++) {                                                  \
                    int64_t w0 = w->first[2][ow], nw = w->count[2][ow];                                       \
                    double size = (double)(w->size[0][od] * w->size[1][oh] * w->size[2][ow]);                 \
                    T v = (T)(gp[(od * g->out[1] + oh) * g->out[2] + ow] / size);                             \
                    for (int64_t a = 0; a < nd; a++)                                                          \
                        for (int64_t b = 0; b < nh; b++) {                                                    \
                            T *row = xp + ((d0 + a) * g->in[1] + h0 + b) * g->in[2] + w0;                     \
                            for (int64_t c = 0; c < nw; c++)                                                  \
                                row[c] += v;                                                                  \
                        }                                                                                     \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }

/* Here j->y is gx and j->x is gy. */
static void avg_bwd_range(void *ctx, int64_t r0, int64_t r1) {
    win_job *j = ctx;
    const mf_pool_geom *g = j->g;
    const win_tab *w = &j->w;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2], out_plane = g->out[0] * g->out[1] * g->out[2];
    if (j->f64) {
        AVG_BWD(double)
    } else {
        AVG_BWD(float)
    }
}

static mf_status cpu_avg_backward(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy) {
    MF_TRY(mf_cpu_pool_float("avg_pool backward", gx));
    win_job j = {.g = g, .y = mf_tensor_data(gx), .x = mf_tensor_data(gy), .f64 = gx->dtype == MF_F64};
    MF_TRY(win_build(g, false, &j.w));
    int64_t plane = g->in[0] * g->in[1] * g->in[2];
    int64_t grain = 16384 / (plane > 0 ? plane : 1);
    mf_parallel_for(g->planes, grain < 1 ? 1 : grain, avg_bwd_range, &j);
    free(j.w.buf);
    return MF_OK;
}

/* bf16/f16: the f32 kernels on f32 twins (core/backend/cpu/lowp.h); the
 * gather moves raw elements and needs none. */
#define IN(...) (const mf_tensor *const[]){__VA_ARGS__}
#define OUT(...) (mf_tensor *const[]){__VA_ARGS__}
#define LOWP_RUN(nin, ins, nout, outs, call)                                 \
    do {                                                                     \
        mf_lowp_frame f;                                                     \
        const mf_tensor *i[nin];                                             \
        mf_tensor *o[nout];                                                  \
        mf_status st = mf__lowp_begin(&f, nin, IN ins, i, nout, OUT outs, o, false); \
        return st != MF_OK ? st : mf__lowp_end(&f, call);                    \
    } while (0)

static mf_status any_max_forward(const mf_pool_geom *g, mf_tensor *y, mf_tensor *idx, const mf_tensor *x) {
    if (!mf__lowp(x->dtype))
        return cpu_max_forward(g, y, idx, x);
    LOWP_RUN(1, (x), 1, (y), cpu_max_forward(g, o[0], idx, i[0]));
}

static mf_status any_max_backward(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy, const mf_tensor *idx) {
    if (!mf__lowp(gx->dtype))
        return cpu_max_backward(g, gx, gy, idx);
    LOWP_RUN(1, (gy), 1, (gx), cpu_max_backward(g, o[0], i[0], idx));
}

static mf_status any_avg_forward(const mf_pool_geom *g, mf_tensor *y, const mf_tensor *x) {
    if (!mf__lowp(x->dtype))
        return cpu_avg_forward(g, y, x);
    LOWP_RUN(1, (x), 1, (y), cpu_avg_forward(g, o[0], i[0]));
}

static mf_status any_avg_backward(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy) {
    if (!mf__lowp(gx->dtype))
        return cpu_avg_backward(g, gx, gy);
    LOWP_RUN(1, (gy), 1, (gx), cpu_avg_backward(g, o[0], i[0]));
}

static mf_status any_linear_forward(const mf_pool_geom *g, bool align, mf_tensor *y, const mf_tensor *x) {
    if (!mf__lowp(x->dtype))
        return mf_cpu_pool_linear_forward(g, align, y, x);
    LOWP_RUN(1, (x), 1, (y), mf_cpu_pool_linear_forward(g, align, o[0], i[0]));
}

static mf_status any_linear_backward(const mf_pool_geom *g, bool align, mf_tensor *gx, const mf_tensor *gy) {
    if (!mf__lowp(gx->dtype))
        return mf_cpu_pool_linear_backward(g, align, gx, gy);
    LOWP_RUN(1, (gy), 1, (gx), mf_cpu_pool_linear_backward(g, align, o[0], i[0]));
}

static mf_status any_gather_backward(mf_tensor *gx, const mf_tensor *gy, const int64_t *const *maps) {
    if (!mf__lowp(gx->dtype))
        return mf_cpu_pool_gather_backward(gx, gy, maps);
    LOWP_RUN(1, (gy), 1, (gx), mf_cpu_pool_gather_backward(o[0], i[0], maps));
}

const struct mf_kern_pool mf_cpu_pool = {
    .max_forward = any_max_forward,
    .max_backward = any_max_backward,
    .avg_forward = any_avg_forward,
    .avg_backward = any_avg_backward,
    .linear_forward = any_linear_forward,
    .linear_backward = any_linear_backward,
    .gather = mf_cpu_pool_gather,
    .gather_backward = any_gather_backward,
};
