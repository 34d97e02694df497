/* CPU linear / bilinear / trilinear resampling over contiguous (planes,
 * D, H, W) data. Source indices and weights follow torch's
 * area_pixel_compute_source_index (clamped at 0 without align_corners)
 * and are tabulated once per dim; dims of size 1 get one tap of weight 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cpu/pool.h"
#include "medfm/parallel.h"

typedef struct {
    int64_t *i0[3], *i1[3];
    double *l0[3], *l1[3];
    void *buf;
} lin_tab;

static mf_status lin_build(const mf_pool_geom *g, bool align, lin_tab *t) {
    int64_t total = g->out[0] + g->out[1] + g->out[2];
    t->buf = malloc((sizeof(int64_t) + sizeof(double)) * 2 * (size_t)total + 1);
    if (!t->buf)
        return MF_ERR(MF_ERR_NOMEM, "upsample: out of memory for interpolation tables");
    double *dp = t->buf;
    int64_t *ip = (int64_t *)(dp + 2 * total);
    for (int d = 0; d < 3; d++) {
        int64_t in = g->in[d], out = g->out[d];
        t->l0[d] = dp;
        t->l1[d] = dp + out;
        t->i0[d] = ip;
        t->i1[d] = ip + out;
        dp += 2 * out;
        ip += 2 * out;
        double scale = align ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0.0) : (double)in / (double)out;
        for (int64_t o = 0; o < out; o++) {
            double src = align ? scale * (double)o : scale * ((double)o + 0.5) - 0.5;
            if (src < 0)
                src = 0;
            int64_t i0 = (int64_t)floor(src);
            if (i0 > in - 1)
                i0 = in - 1;
            double l1 = src - (double)i0;
            l1 = l1 < 0 ? 0 : (l1 > 1 ? 1 : l1);
            t->i0[d][o] = i0;
            t->i1[d][o] = i0 + (i0 < in - 1 ? 1 : 0);
            t->l0[d][o] = 1.0 - l1;
            t->l1[d][o] = l1;
        }
    }
    return MF_OK;
}

typedef struct {
    const mf_pool_geom *g;
    lin_tab t;
    char *dst;
    const char *src;
    bool f64;
} lin_job;

/* Corner (a, b, c) of output (od, oh, ow): index in the input plane and weight. */
#define CORNERS                                                                                               \
    int64_t id[2] = {t->i0[0][od], t->i1[0][od]}, ih[2] = {t->i0[1][oh], t->i1[1][oh]},                       \
            iw[2] = {t->i0[2][ow], t->i1[2][ow]};                                                             \
    double wd[2] = {t->l0[0][od], t->l1[0][od]}, wh[2] = {t->l0[1][oh], t->l1[1][oh]},                        \
           ww[2] = {t->l0[2][ow], t->l1[2][ow]};

#define LIN_FWD(T)                                                                                            \
    for (int64_t it = r0; it < r1; it++) {                                                                    \
        int64_t p = it / g->out[0], od = it % g->out[0];                                                      \
        const T *xp = (const T *)j->src + p * in_plane;                                                       \
        T *yp = (T *)j->dst + p * out_plane + od * g->out[1] * g->out[2];                                     \
        for (int64_t oh = 0; oh < g->out[1]; oh++)                                                            \
            for (int64_t ow = 0; ow < g->out[2]; ow++) {                                                      \
                CORNERS                                                                                       \
                double acc = 0;                                                                               \
                for (int a = 0; a < 2; a++)                                                                   \
                    for (int b = 0; b < 2; b++)                                                               \
                        for (int c = 0; c < 2; c++)                                                           \
                            acc += wd[a] * wh[b] * ww[c] * xp[(id[a] * g->in[1] + ih[b]) * g->in[2] + iw[c]]; \
                yp[oh * g->out[2] + ow] = (T)acc;                                                             \
            }                                                                                                 \
    }

static void lin_fwd_range(void *ctx, int64_t r0, int64_t r1) {
    lin_job *j = ctx;
    const mf_pool_geom *g = j->g;
    const lin_tab *t = &j->t;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2], out_plane = g->out[0] * g->out[1] * g->out[2];
    if (j->f64) {
        LIN_FWD(double)
    } else {
        LIN_FWD(float)
    }
}

#define LIN_BWD(T)                                                                                            \
    for (int64_t p = r0; p < r1; p++) {                                                                       \
        T *xp = (T *)j->dst + p * in_plane;                                                                   \
        const T *gp = (const T *)j->src + p * out_plane;                                                      \
        memset(xp, 0, sizeof(T) * (size_t)in_plane);                                                          \
        for (int64_t od = 0; od < g->out[0]; od++)                                                            \
            for (int64_t oh = 0; oh < g->out[1]; oh++)                                                        \
                for (int64_t ow = 0; ow < g->out[2]; ow++) {                                                  \
                    CORNERS                                                                                   \
                    double v = gp[(od * g->out[1] + oh) * g->out[2] + ow];                                    \
                    for (int a = 0; a < 2; a++)                                                               \
                        for (int b = 0; b < 2; b++)                                                           \
                            for (int c = 0; c < 2; c++)                                                       \
                                xp[(id[a] * g->in[1] + ih[b]) * g->in[2] + iw[c]] +=                          \
                                    (T)(wd[a] * wh[b] * ww[c] * v);                                           \
                }                                                                                             \
    }

static void lin_bwd_range(void *ctx, int64_t r0, int64_t r1) {
    lin_job *j = ctx;
    const mf_pool_geom *g = j->g;
    const lin_tab *t = &j->t;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2], out_plane = g->out[0] * g->out[1] * g->out[2];
    if (j->f64) {
        LIN_BWD(double)
    } else {
        LIN_BWD(float)
    }
}

mf_status mf_cpu_pool_linear_forward(const mf_pool_geom *g, bool align_corners, mf_tensor *y, const mf_tensor *x) {
    MF_TRY(mf_cpu_pool_float("upsample", x));
    lin_job j = {.g = g, .dst = mf_tensor_data(y), .src = mf_tensor_data(x), .f64 = x->dtype == MF_F64};
    MF_TRY(lin_build(g, align_corners, &j.t));
    int64_t work = g->out[1] * g->out[2] * 8;
    int64_t grain = 32768 / (work > 0 ? work : 1);
    mf_parallel_for(g->planes * g->out[0], grain < 1 ? 1 : grain, lin_fwd_range, &j);
    free(j.t.buf);
    return MF_OK;
}

mf_status mf_cpu_pool_linear_backward(const mf_pool_geom *g, bool align_corners, mf_tensor *gx,
                                      const mf_tensor *gy) {
    MF_TRY(mf_cpu_pool_float("upsample backward", gx));
    lin_job j = {.g = g, .dst = mf_tensor_data(gx), .src = mf_tensor_data(gy), .f64 = gx->dtype == MF_F64};
    MF_TRY(lin_build(g, align_corners, &j.t));
    int64_t work = g->out[0] * g->out[1] * g->out[2] * 8;
    int64_t grain = 32768 / (work > 0 ? work : 1);
    mf_parallel_for(g->planes, grain < 1 ? 1 : grain, lin_bwd_range, &j);
    free(j.t.buf);
    return MF_OK;
}
