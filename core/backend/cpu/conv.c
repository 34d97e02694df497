/* CPU conv kernels: im2col + GEMM, split over chunks of images on the medfm
 * pool with single-threaded OpenBLAS inside (policy: core/backend/cpu/blas.h).
 * Where an image has few output positions, a chunk of images is packed side
 * by side into one GEMM operand so the products stay wide; a 1x1 stride-1
 * unpadded conv on a single image is a plain GEMM on the tensor itself. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cpu/blas.h"
#include "core/backend/cpu/conv_im2col.h"
#include "core/backend/cpu/lowp.h"
#include "medfm/parallel.h"

/* Per-thread scratch buffers that only grow: fresh multi-megabyte buffers
 * on every call cost a page fault per 4 KiB, which dominated small convs.
 * Freed when the thread exits (pthread key destructor). */
#define MF_CONV_WS_SLOTS 3
typedef struct {
    void *p[MF_CONV_WS_SLOTS];
    size_t n[MF_CONV_WS_SLOTS];
} workspace;
static _Thread_local workspace *tls_ws;
static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;

static void ws_free(void *v) {
    workspace *w = v;
    for (int i = 0; i < MF_CONV_WS_SLOTS; i++)
        free(w->p[i]);
    free(w);
}

static void ws_key_init(void) { (void)pthread_key_create(&ws_key, ws_free); }

/* Scratch of at least `bytes` in this thread's slot; NULL when out of memory. */
static void *ws_get(int slot, size_t bytes) {
    if (!tls_ws) {
        pthread_once(&ws_once, ws_key_init);
        tls_ws = calloc(1, sizeof *tls_ws);
        if (!tls_ws)
            return NULL;
        (void)pthread_setspecific(ws_key, tls_ws);
    }
    if (tls_ws->n[slot] >= bytes && tls_ws->p[slot])
        return tls_ws->p[slot];
    free(tls_ws->p[slot]);
    size_t n = (bytes + 4095) & ~(size_t)4095;
    tls_ws->p[slot] = aligned_alloc(64, n ? n : 64);
    tls_ws->n[slot] = tls_ws->p[slot] ? n : 0;
    return tls_ws->p[slot];
}

/* Columns a GEMM operand should reach before packing images stops paying. */
#define MF_CONV_TARGET_COLS 512
/* Bytes of im2col columns per cache block, and the fewest columns a block
 * may have before the GEMM gets too narrow. */
#define MF_CONV_BLOCK_BYTES ((size_t)768 << 10)
#define MF_CONV_BLOCK_MIN_COLS 192

typedef void (*gemm_fn)(mf_dtype, bool, bool, int64_t, int64_t, int64_t, double, const void *, int64_t,
                        const void *, int64_t, double, void *, int64_t);

typedef struct {
    const mf_conv_geom *g;
    mf_dtype dt;
    size_t es;
    int64_t cg, og, kc, P, I, nb, nchunks;
    int64_t lines; /* output lines per cache block in the blocked forward; 0: unblocked */
    bool direct;   /* 1x1, stride 1, no padding */
    bool par;    /* fewer chunks than threads: split each GEMM instead */
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
    p->par = p->nchunks < T;
    /* output lines per cache block of im2col columns (0: no blocking) */
    int64_t O2 = g->out[2] > 0 ? g->out[2] : 1, Q = g->out[0] * g->out[1];
    int64_t target = (int64_t)(MF_CONV_BLOCK_BYTES / p->es) / (p->kc > 0 ? p->kc : 1);
    if (target < MF_CONV_BLOCK_MIN_COLS)
        target = MF_CONV_BLOCK_MIN_COLS;
    p->lines = (target + O2 - 1) / O2;
    if (p->lines >= Q)
        p->lines = 0;
    pthread_mutex_init(&p->lock, NULL);
}

/* Runs fn over all chunks on the pool. */
static mf_status plan_run(plan *p, mf_range_fn fn) {
    mf_parallel_for(p->nchunks, 1, fn, p);
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
                        int64_t rows, char *m, int64_t ld, bool to_images) {
    size_t bytes = (size_t)len * p->es;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t r = 0; r < rows; r++) {
            char *img = AT(t, ((n0 + i) * channels + c0 + r) * len);
            char *mat = AT(m, r * ld + i * len);
            if (to_images)
                memcpy(img, mat, bytes);
            else
                memcpy(mat, img, bytes);
        }
}

/* ---------------------------------------------------------------- forward */

/* One image's forward in blocks of output lines, so that each block's
 * columns are still in cache when the GEMM reads them. The blocking is
 * along output positions only: every output sums over the same kc terms in
 * the same order whatever the block. */
static void fwd_blocked(const plan *p, int64_t n0, int64_t gi, char *col) {
    const mf_conv_geom *g = p->g;
    int64_t Q = g->out[0] * g->out[1], O2 = g->out[2];
    const char *x = AT(p->x, (n0 * g->cin + gi * p->cg) * p->I);
    char *y = AT(p->y, (n0 * g->cout + gi * p->og) * p->P);
    for (int64_t q0 = 0; q0 < Q; q0 += p->lines) {
        int64_t q1 = q0 + p->lines < Q ? q0 + p->lines : Q, cols = (q1 - q0) * O2;
        mf__im2col_lines(p->dt, x, g, p->cg, col, cols, q0, q1);
        mf__gemm(p->dt, false, false, p->og, cols, p->kc, 1.0, AT(p->w, gi * p->og * p->kc), p->kc, col, cols, 0.0,
                 AT(y, q0 * O2), p->P);
    }
}

/* The calling thread's im2col buffer for a chunk of p->nb images, and
 * (when images are packed side by side) the packing buffer; marks the plan
 * failed and returns false when memory runs out. */
static bool chunk_buffers(plan *p, char **col, char **tmp) {
    int64_t cols = p->nb * p->P;
    *col = ws_get(0, (size_t)(p->kc * cols) * p->es);
    *tmp = p->nb > 1 ? ws_get(1, (size_t)(p->og * cols) * p->es) : NULL;
    if (!*col || (p->nb > 1 && !*tmp)) {
        fail(p);
        return false;
    }
    return true;
}

static void fwd_range(void *vp, int64_t begin, int64_t end) {
    plan *p = vp;
    gemm_fn gemm = p->par ? mf__gemm_par : mf__gemm;
    const mf_conv_geom *g = p->g;
    char *col, *tmp;
    if (!chunk_buffers(p, &col, &tmp))
        return;
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t n0 = ch * p->nb, nb = g->n - n0 < p->nb ? g->n - n0 : p->nb, ld = nb * p->P;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const char *B;
            if (!p->direct && nb == 1 && !p->par && p->lines > 0) {
                fwd_blocked(p, n0, gi, col);
                continue;
            }
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
                gemm(p->dt, false, false, p->og, p->P, p->kc, 1.0, A, p->kc, B, ld, 0.0,
                         AT(p->y, (n0 * g->cout + gi * p->og) * p->P), p->P);
            } else {
                gemm(p->dt, false, false, p->og, ld, p->kc, 1.0, A, p->kc, B, ld, 0.0, tmp, ld);
                pack_images(p, p->y, g->cout, p->P, n0, nb, gi * p->og, p->og, tmp, ld, true);
            }
        }
        if (p->bias)
            add_bias(p, p->y, n0, n0 + nb, g->cout, p->P);
    }
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

/* One image's input gradient in blocks of output lines (as fwd_blocked):
 * each block's columns are scattered back while still in cache. */
static void bwd_data_blocked(const plan *p, int64_t n0, int64_t gi, char *col) {
    const mf_conv_geom *g = p->g;
    int64_t Q = g->out[0] * g->out[1], O2 = g->out[2];
    const char *gy = AT(p->gy, (n0 * g->cout + gi * p->og) * p->P);
    char *gx = AT(p->gx, (n0 * g->cin + gi * p->cg) * p->I);
    memset(gx, 0, (size_t)(p->cg * p->I) * p->es);
    for (int64_t q0 = 0; q0 < Q; q0 += p->lines) {
        int64_t q1 = q0 + p->lines < Q ? q0 + p->lines : Q, cols = (q1 - q0) * O2;
        mf__gemm(p->dt, true, false, p->kc, cols, p->og, 1.0, AT(p->w, gi * p->og * p->kc), p->kc, AT(gy, q0 * O2),
                 p->P, 0.0, col, cols);
        mf__col2im_lines(p->dt, col, cols, g, p->cg, gx, q0, q1);
    }
}

static void bwd_data_range(void *vp, int64_t begin, int64_t end) {
    plan *p = vp;
    gemm_fn gemm = p->par ? mf__gemm_par : mf__gemm;
    const mf_conv_geom *g = p->g;
    char *col, *tmp;
    if (!chunk_buffers(p, &col, &tmp))
        return;
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t n0 = ch * p->nb, nb = g->n - n0 < p->nb ? g->n - n0 : p->nb, ld = nb * p->P;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const char *B;
            if (nb == 1) {
                B = AT(p->gy, (n0 * g->cout + gi * p->og) * p->P);
            } else {
                pack_images(p, (char *)p->gy, g->cout, p->P, n0, nb, gi * p->og, p->og, tmp, ld, false);
                B = tmp;
            }
            const char *A = AT(p->w, gi * p->og * p->kc); /* (og x kc), used transposed */
            if (!p->direct && nb == 1 && !p->par && p->lines > 0) {
                bwd_data_blocked(p, n0, gi, col);
                continue;
            }
            if (p->direct && nb == 1) {
                gemm(p->dt, true, false, p->kc, p->P, p->og, 1.0, A, p->kc, B, ld, 0.0,
                         AT(p->gx, (n0 * g->cin + gi * p->cg) * p->I), p->I);
                continue;
            }
            gemm(p->dt, true, false, p->kc, ld, p->og, 1.0, A, p->kc, B, ld, 0.0, col, ld);
            for (int64_t i = 0; i < nb; i++) {
                char *img = AT(p->gx, ((n0 + i) * g->cin + gi * p->cg) * p->I);
                memset(img, 0, (size_t)(p->cg * p->I) * p->es);
                mf__col2im(p->dt, AT(col, i * p->P), ld, g, p->cg, img);
            }
        }
        if (p->bias)
            add_bias(p, p->gx, n0, n0 + nb, g->cin, p->I);
    }
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

/* Two strategies. Where all images' columns fit in a modest buffer (deep
 * layers, few positions), they are packed side by side once and one GEMM
 * with OpenBLAS's threads writes gw: the product stays wide and no partial
 * gradients exist. Otherwise (shallow layers: many positions, small
 * weights) each worker accumulates its chunks into a private gradient that
 * is added to the shared one under the lock. */
#define MF_CONV_PACK_ALL_LIMIT ((int64_t)16 << 20) /* elements */

typedef struct {
    plan *p;
    int64_t gi;
    char *col, *gyall;
} pack_all_ctx;

static void pack_all_range(void *vc, int64_t begin, int64_t end) {
    pack_all_ctx *c = vc;
    plan *p = c->p;
    const mf_conv_geom *g = p->g;
    int64_t ld = g->n * p->P;
    for (int64_t n = begin; n < end; n++) {
        mf__im2col(p->dt, AT(p->x, (n * g->cin + c->gi * p->cg) * p->I), g, p->cg, AT(c->col, n * p->P), ld);
        pack_images(p, (char *)p->gy, g->cout, p->P, n, 1, c->gi * p->og, p->og, AT(c->gyall, n * p->P), ld, false);
    }
}

static mf_status bwd_weight_pack_all(plan *p) {
    const mf_conv_geom *g = p->g;
    int64_t ld = g->n * p->P;
    pack_all_ctx c = {.p = p};
    c.col = ws_get(0, (size_t)(p->kc * ld) * p->es);
    c.gyall = ws_get(1, (size_t)(p->og * ld) * p->es);
    if (!c.col || !c.gyall)
        return MF_ERR(MF_ERR_NOMEM, "conv backward: out of memory for the im2col buffers");
    for (c.gi = 0; c.gi < g->groups; c.gi++) {
        mf_parallel_for(g->n, 1, pack_all_range, &c);
        mf__gemm_par(p->dt, false, true, p->og, p->kc, ld, 1.0, c.gyall, ld, c.col, ld, 0.0,
                 AT(p->gw, c.gi * p->og * p->kc), p->kc);
    }
    return MF_OK;
}

/* Partial weight gradients are kept per fixed slot of chunks, not per
 * worker, and summed in slot order: the result is the same bit for bit
 * whichever thread ran which slot (a seed reproduces a run, and a resumed
 * run matches an uninterrupted one). */
#define MF_CONV_WGRAD_SLOTS 8

typedef struct {
    plan *p;
    char *parts; /* slots x wsize */
    int64_t slots;
} wgrad_ctx;

static void bwd_weight_range(void *vc, int64_t begin, int64_t end) {
    wgrad_ctx *c = vc;
    plan *p = c->p;
    const mf_conv_geom *g = p->g;
    int64_t wsize = g->cout * p->kc;
    char *col, *tmp;
    if (!chunk_buffers(p, &col, &tmp))
        return;
    for (int64_t slot = begin; slot < end; slot++) {
        char *part = c->parts + (size_t)(slot * wsize) * p->es;
        memset(part, 0, (size_t)wsize * p->es);
        int64_t c0 = slot * p->nchunks / c->slots, c1 = (slot + 1) * p->nchunks / c->slots;
        for (int64_t ch = c0; ch < c1; ch++) {
            int64_t n0 = ch * p->nb, nb = g->n - n0 < p->nb ? g->n - n0 : p->nb, ld = nb * p->P;
            for (int64_t gi = 0; gi < g->groups; gi++) {
                const char *A, *B;
                if (nb == 1) {
                    A = AT(p->gy, (n0 * g->cout + gi * p->og) * p->P);
                } else {
                    pack_images(p, (char *)p->gy, g->cout, p->P, n0, nb, gi * p->og, p->og, tmp, ld, false);
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
                mf__gemm(p->dt, false, true, p->og, p->kc, ld, 1.0, A, ld, B, ld, 1.0,
                         AT(part, gi * p->og * p->kc), p->kc);
            }
        }
    }
}

static mf_status bwd_weight_slots(plan *p) {
    const mf_conv_geom *g = p->g;
    int64_t wsize = g->cout * p->kc;
    wgrad_ctx c = {.p = p, .slots = p->nchunks < MF_CONV_WGRAD_SLOTS ? p->nchunks : MF_CONV_WGRAD_SLOTS};
    c.parts = malloc((size_t)(c.slots * wsize) * p->es);
    if (!c.parts) {
        pthread_mutex_destroy(&p->lock);
        return MF_ERR(MF_ERR_NOMEM, "conv backward: out of memory for %lld partial weight gradients",
                      (long long)c.slots);
    }
    mf_parallel_for(c.slots, 1, bwd_weight_range, &c);
    if (!p->failed) {
        for (int64_t s = 0; s < c.slots; s++) {
            if (p->dt == MF_F32) {
                float *d = (float *)p->gw;
                const float *src = (const float *)c.parts + s * wsize;
                for (int64_t i = 0; i < wsize; i++)
                    d[i] = s ? d[i] + src[i] : src[i];
            } else {
                double *d = (double *)p->gw;
                const double *src = (const double *)c.parts + s * wsize;
                for (int64_t i = 0; i < wsize; i++)
                    d[i] = s ? d[i] + src[i] : src[i];
            }
        }
    }
    free(c.parts);
    pthread_mutex_destroy(&p->lock);
    return p->failed ? MF_ERR(MF_ERR_NOMEM, "conv: out of memory for the im2col buffers") : MF_OK;
}

static mf_status cpu_backward_weight(mf_tensor *gw, const mf_tensor *x, const mf_tensor *gy,
                                     const mf_conv_geom *g) {
    plan p;
    plan_init(&p, g, gw->dtype);
    p.x = mf_tensor_data(x), p.gy = mf_tensor_data(gy), p.gw = mf_tensor_data(gw);
    /* pack all when private gradients would move about as much memory as
     * the columns themselves (wide weights, few positions) */
    const int64_t T = 2; /* a fixed constant: the path taken must not depend on the thread count */
    bool fits = g->n * p.P * (p.kc + p.og) <= MF_CONV_PACK_ALL_LIMIT;
    if (p.nchunks == 1 || (fits && 4 * T * g->cout >= g->n * p.P)) {
        mf_status st = bwd_weight_pack_all(&p);
        pthread_mutex_destroy(&p.lock);
        return st;
    }
    return bwd_weight_slots(&p);
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

/* bf16/f16: the f32 kernels on f32 twins (core/backend/cpu/lowp.h). */
#define IN(...) (const mf_tensor *const[]){__VA_ARGS__}
#define OUT(...) (mf_tensor *const[]){__VA_ARGS__}

static mf_status any_forward(mf_tensor *y, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias,
                             const mf_conv_geom *g) {
    if (!mf__lowp(y->dtype))
        return cpu_forward(y, x, w, bias, g);
    mf_lowp_frame f;
    const mf_tensor *i[3];
    mf_tensor *o[1];
    mf_status st = mf__lowp_begin(&f, 3, IN(x, w, bias), i, 1, OUT(y), o, false);
    return st != MF_OK ? st : mf__lowp_end(&f, cpu_forward(o[0], i[0], i[1], i[2], g));
}

static mf_status any_backward_data(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *w, const mf_tensor *bias,
                                   const mf_conv_geom *g) {
    if (!mf__lowp(gx->dtype))
        return cpu_backward_data(gx, gy, w, bias, g);
    mf_lowp_frame f;
    const mf_tensor *i[3];
    mf_tensor *o[1];
    mf_status st = mf__lowp_begin(&f, 3, IN(gy, w, bias), i, 1, OUT(gx), o, false);
    return st != MF_OK ? st : mf__lowp_end(&f, cpu_backward_data(o[0], i[0], i[1], i[2], g));
}

static mf_status any_backward_weight(mf_tensor *gw, const mf_tensor *x, const mf_tensor *gy, const mf_conv_geom *g) {
    if (!mf__lowp(gw->dtype))
        return cpu_backward_weight(gw, x, gy, g);
    mf_lowp_frame f;
    const mf_tensor *i[2];
    mf_tensor *o[1];
    mf_status st = mf__lowp_begin(&f, 2, IN(x, gy), i, 1, OUT(gw), o, false);
    return st != MF_OK ? st : mf__lowp_end(&f, cpu_backward_weight(o[0], i[0], i[1], g));
}

static mf_status any_backward_bias(mf_tensor *gb, const mf_tensor *gy) {
    if (!mf__lowp(gb->dtype))
        return cpu_backward_bias(gb, gy);
    mf_lowp_frame f;
    const mf_tensor *i[1];
    mf_tensor *o[1];
    mf_status st = mf__lowp_begin(&f, 1, IN(gy), i, 1, OUT(gb), o, false);
    return st != MF_OK ? st : mf__lowp_end(&f, cpu_backward_bias(o[0], i[0]));
}

const struct mf_kern_conv mf_cpu_conv = {
    .forward = any_forward,
    .backward_data = any_backward_data,
    .backward_weight = any_backward_weight,
    .backward_bias = any_backward_bias,
};
