/* CPU conv kernels: im2col + GEMM, split over chunks of images on the medfm
 * pool with single-threaded OpenBLAS inside (core/backend/cpu/blas.h).
 * Where an image has few output positions, a chunk of images is packed side
 * by side into one GEMM operand so the products stay wide; a 1x1 stride-1
 * unpadded conv on a single image is a plain GEMM on the tensor itself. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cpu/blas.h"
#include "core/backend/cpu/conv_im2col.h"
#include "medfm/parallel.h"

/* Columns a GEMM operand should reach before packing images stops paying. */
#define MF_CONV_TARGET_COLS 512

typedef struct {
    const mf_conv_geom *g;
    mf_dtype dt;
    size_t es;
    int64_t cg, og, kc, P, I, nb, nchunks;
    bool direct; /* 1x1, stride 1, no padding */
    const char *x, *w, *bias, *gy;
    char *y, *gx, *gw;
    pthread_mutex_t lock;
    bool failed;
} plan;

static void plan_init(plan *p, const mf_conv_geom *g, mf_dtype dt) {
    memset(p, 0, sizeof *p);
    p->g = g;
    p->dt = dt;
    p->es = mf_dtype_size(dt);
    p->cg = g->cin / g->groups;
    p->og = g->cout / g->groups;
    int64_t kk = g->k[0] * g->k[1] * g->k[2];
    p->kc = p->cg * kk;
    p->P = g->out[0] * g->out[1] * g->out[2];
    p->I = g->in[0] * g->in[1] * g->in[2];
    p->direct = kk == 1;
    for (int d = 0; d < 3; d++)
        if (g->stride[d] != 1 || g->pad[d] != 0)
            p->direct = false;
    int64_t T = mf_num_threads();
    int64_t want = (MF_CONV_TARGET_COLS + p->P - 1) / (p->P > 0 ? p->P : 1);
    int64_t fair = (g->n + T - 1) / T;
    p->nb = want < fair ? want : fair;
    if (p->nb < 1)
        p->nb = 1;
    p->nchunks = (g->n + p->nb - 1) / p->nb;
    pthread_mutex_init(&p->lock, NULL);
}

/* Runs fn over all chunks: on the pool with single-threaded BLAS when there
 * are enough chunks to fill it, else serially with BLAS's own threads. */
static mf_status plan_run(plan *p, mf_range_fn fn) {
    if (p->nchunks > 1 && mf_num_threads() > 1) {
        int prev = mf__blas_single();
        mf_parallel_for(p->nchunks, 1, fn, p);
        mf__blas_restore(prev);
    } else {
        fn(p, 0, p->nchunks);
    }
    pthread_mutex_destroy(&p->lock);
    return p->failed ? MF_ERR(MF_ERR_NOMEM, "conv: out of memory for the im2col buffers") : MF_OK;
}

#define AT(base, elems) ((base) + (int64_t)(elems) * (int64_t)p->es)

static void fail(plan *p) {
    pthread_mutex_lock(&p->lock);
    p->failed = true;
    pthread_mutex_unlock(&p->lock);
}

/* Adds bias[c] to every position of channel c of images [n0, n1). */
static void add_bias(const plan *p, char *t, int64_t n0, int64_t n1, int64_t channels, int64_t positions) {
    for (int64_t n = n0; n < n1; n++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t base = (n * channels + c) * positions;
            if (p->dt == MF_F32) {
                float b = ((const float *)p->bias)[c], *q = (float *)t + base;
                for (int64_t i = 0; i < positions; i++)
                    q[i] += b;
            } else {
                double b = ((const double *)p->bias)[c], *q = (double *)t + base;
                for (int64_t i = 0; i < positions; i++)
                    q[i] += b;
            }
        }
}

/* Copies rows [c0, c0+rows) of images [n0, n0+nb) of t (channels x len per
 * image) into a (rows x nb*len) matrix, or back when `to_images`. */
static void pack_images(const plan *p, char *t, int64_t channels, int64_t len, int64_t n0, int64_t nb, int64_t c0,
                        int64_t rows, char *m, bool to_images) {
    size_t bytes = (size_t)len * p->es;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t r = 0; r < rows; r++) {
            char *img = AT(t, ((n0 + i) * channels + c0 + r) * len);
            char *mat = AT(m, r * nb * len + i * len);
            if (to_images)
                memcpy(img, mat, bytes);
            else
                memcpy(mat, img, bytes);
        }
}

/* ---------------------------------------------------------------- forward */

static void fwd_range(void *vp, int64_t begin, int64_t end) {
    plan *p = vp;
    const mf_conv_geom *g = p->g;
    int64_t cols = p->nb * p->P;
    char *col = malloc((size_t)(p->kc * cols) * p->es);
    char *tmp = p->nb > 1 ? malloc((size_t)(p->og * cols) * p->es) : NULL;
    if (!col || (p->nb > 1 && !tmp)) {
        fail(p);
        goto done;
    }
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t n0 = ch * p->nb, nb = g->n - n0 < p->nb ? g->n - n0 : p->nb, ld = nb * p->P;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const char *B;
            if (p->direct && nb == 1) {
                B = AT(p->x, (n0 * g->cin + gi * p->cg) * p->I);
            } else {
                for (int64_t i = 0; i < nb; i++)
                    mf__im2col(p->dt, AT(p->x, ((n0 + i) * g->cin + gi * p->cg) * p->I), g, p->cg,
                               AT(col, i * p->P), ld);
                B = col;
            }
            const char *A = AT(p->w, gi * p->og * p->kc);
            if (nb == 1) {
                mf__gemm(p->dt, false, false, p->og, p->P, p->kc, 1.0, A, p->kc, B, ld, 0.0,
                         AT(p->y, (n0 * g->cout + gi * p->og) * p->P), p->P);
            } else {
                mf__gemm(p->dt, false, false, p->og, ld, p->kc, 1.0, A, p->kc, B, ld, 0.0, tmp, ld);
                pack_images(p, p->y, g->cout, p->P, n0, nb, gi * p->og, p->og, tmp, true);
            }
        }
        if (p->bias)
            add_bias(p, p->y, n0, n0 + nb, g->cout, p->P);
    }
done:
    free(col);
    free(tmp);
}

static mf_status cpu_forward(mf_tensor *y, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias,
                             const mf_conv_geom *g) {
    plan p;
    plan_init(&p, g, y->dtype);
    p.x = mf_tensor_data(x), p.w = mf_tensor_data(w), p.bias = bias ? mf_tensor_data(bias) : NULL;
    p.y = mf_tensor_data(y);
    return plan_run(&p, fwd_range);
}

/* ---------------------------------------------------------- backward data */

static void bwd_data_range(void *vp, int64_t begin, int64_t end) {
    plan *p = vp;
    const mf_conv_geom *g = p->g;
    int64_t cols = p->nb * p->P;
    char *col = malloc((size_t)(p->kc * cols) * p->es);
    char *tmp = p->nb > 1 ? malloc((size_t)(p->og * cols) * p->es) : NULL;
    if (!col || (p->nb > 1 && !tmp)) {
        fail(p);
        goto done;
    }
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t n0 = ch * p->nb, nb = g->n - n0 < p->nb ? g->n - n0 : p->nb, ld = nb * p->P;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const char *B;
            if (nb == 1) {
                B = AT(p->gy, (n0 * g->cout + gi * p->og) * p->P);
            } else {
                pack_images(p, (char *)p->gy, g->cout, p->P, n0, nb, gi * p->og, p->og, tmp, false);
                B = tmp;
            }
            const char *A = AT(p->w, gi * p->og * p->kc); /* (og x kc), used transposed */
            if (p->direct && nb == 1) {
                mf__gemm(p->dt, true, false, p->kc, p->P, p->og, 1.0, A, p->kc, B, ld, 0.0,
                         AT(p->gx, (n0 * g->cin + gi * p->cg) * p->I), p->I);
                continue;
            }
            mf__gemm(p->dt, true, false, p->kc, ld, p->og, 1.0, A, p->kc, B, ld, 0.0, col, ld);
            for (int64_t i = 0; i < nb; i++) {
                char *img = AT(p->gx, ((n0 + i) * g->cin + gi * p->cg) * p->I);
                memset(img, 0, (size_t)(p->cg * p->I) * p->es);
                mf__col2im(p->dt, AT(col, i * p->P), ld, g, p->cg, img);
            }
        }
        if (p->bias)
            add_bias(p, p->gx, n0, n0 + nb, g->cin, p->I);
    }
done:
    free(col);
    free(tmp);
}

static mf_status cpu_backward_data(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *w, const mf_tensor *bias,
                                   const mf_conv_geom *g) {
    plan p;
    plan_init(&p, g, gx->dtype);
    p.gy = mf_tensor_data(gy), p.w = mf_tensor_data(w), p.bias = bias ? mf_tensor_data(bias) : NULL;
    p.gx = mf_tensor_data(gx);
    return plan_run(&p, bwd_data_range);
}

/* -------------------------------------------------------- backward weight */

/* Each worker accumulates its chunks into a private gradient, then adds it
 * to the shared one under the lock. */
static void bwd_weight_range(void *vp, int64_t begin, int64_t end) {
    plan *p = vp;
    const mf_conv_geom *g = p->g;
    int64_t cols = p->nb * p->P, wsize = g->cout * p->kc;
    char *col = malloc((size_t)(p->kc * cols) * p->es);
    char *tmp = p->nb > 1 ? malloc((size_t)(p->og * cols) * p->es) : NULL;
    char *part = calloc((size_t)wsize, p->es);
    if (!col || !part || (p->nb > 1 && !tmp)) {
        fail(p);
        goto done;
    }
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t n0 = ch * p->nb, nb = g->n - n0 < p->nb ? g->n - n0 : p->nb, ld = nb * p->P;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const char *A, *B;
            if (nb == 1) {
                A = AT(p->gy, (n0 * g->cout + gi * p->og) * p->P);
            } else {
                pack_images(p, (char *)p->gy, g->cout, p->P, n0, nb, gi * p->og, p->og, tmp, false);
                A = tmp;
            }
            if (p->direct && nb == 1) {
                B = AT(p->x, (n0 * g->cin + gi * p->cg) * p->I);
            } else {
                for (int64_t i = 0; i < nb; i++)
                    mf__im2col(p->dt, AT(p->x, ((n0 + i) * g->cin + gi * p->cg) * p->I), g, p->cg,
                               AT(col, i * p->P), ld);
                B = col;
            }
            /* part_g (og x kc) += gy (og x cols) @ col^T (cols x kc) */
            mf__gemm(p->dt, false, true, p->og, p->kc, ld, 1.0, A, ld, B, ld, 1.0, AT(part, gi * p->og * p->kc),
                     p->kc);
        }
    }
    pthread_mutex_lock(&p->lock);
    if (p->dt == MF_F32) {
        float *d = (float *)p->gw;
        const float *s = (const float *)part;
        for (int64_t i = 0; i < wsize; i++)
            d[i] += s[i];
    } else {
        double *d = (double *)p->gw;
        const double *s = (const double *)part;
        for (int64_t i = 0; i < wsize; i++)
            d[i] += s[i];
    }
    pthread_mutex_unlock(&p->lock);
done:
    free(col);
    free(tmp);
    free(part);
}

static mf_status cpu_backward_weight(mf_tensor *gw, const mf_tensor *x, const mf_tensor *gy,
                                     const mf_conv_geom *g) {
    plan p;
    plan_init(&p, g, gw->dtype);
    p.x = mf_tensor_data(x), p.gy = mf_tensor_data(gy), p.gw = mf_tensor_data(gw);
    memset(p.gw, 0, (size_t)mf_tensor_numel(gw) * p.es);
    return plan_run(&p, bwd_weight_range);
}

/* ---------------------------------------------------------- backward bias */

typedef struct {
    const mf_tensor *gb, *gy;
} bias_ctx;

static void bias_range(void *vc, int64_t begin, int64_t end) {
    const bias_ctx *c = vc;
    const mf_tensor *gy = c->gy;
    int64_t n = gy->shape[0], ch = gy->shape[1], len = mf_tensor_numel(gy) / (n * ch > 0 ? n * ch : 1);
    for (int64_t k = begin; k < end; k++) {
        double acc = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t base = (i * ch + k) * len;
            if (gy->dtype == MF_F32) {
                const float *s = (const float *)mf_tensor_data(gy) + base;
                float a = 0;
                for (int64_t j = 0; j < len; j++)
                    a += s[j];
                acc += a;
            } else {
                const double *s = (const double *)mf_tensor_data(gy) + base;
                for (int64_t j = 0; j < len; j++)
                    acc += s[j];
            }
        }
        if (gy->dtype == MF_F32)
            ((float *)mf_tensor_data(c->gb))[k] = (float)acc;
        else
            ((double *)mf_tensor_data(c->gb))[k] = acc;
    }
}

static mf_status cpu_backward_bias(mf_tensor *gb, const mf_tensor *gy) {
    bias_ctx c = {gb, gy};
    int64_t per = mf_tensor_numel(gy) / (gy->shape[1] > 0 ? gy->shape[1] : 1);
    mf_parallel_for(gy->shape[1], 1 + 32768 / (per + 1), bias_range, &c);
    return MF_OK;
}

const struct mf_kern_conv mf_cpu_conv = {
    .forward = cpu_forward,
    .backward_data = cpu_backward_data,
    .backward_weight = cpu_backward_weight,
    .backward_bias = cpu_backward_bias,
};
