/* Mock cuDNN for the CPU emulation (see build.sh): the convolution calls of
 * conv.c run as naive loops accumulated in double, on 4-D and 5-D NC...
 * tensors of any strides, f32/f64/bf16/f16, grouped, dilated, either mode.
 * Shapes are checked like cuDNN does (BAD_PARAM / NOT_SUPPORTED); misuse a
 * GPU would not report (host or unknown pointers, dead or unset
 * descriptors, a handle without a stream, outputs overlapping inputs)
 * aborts. The heuristics offer, in order: algo 2 (not supported), algo 3
 * (a 2 GiB workspace), algo 1 (tensor-op math: f32 inputs round to TF32;
 * not with FMA math or f64) and algo 0 (the descriptor's math, 1 KiB
 * workspace). Under any math but FMA, f32 inputs round to TF32, as
 * DEFAULT math permits on Ampere and later. A workspace is scribbled on.
 * The search (Find*Ex) ranks algo 0 first: see find() below. */
#include "cudnn.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor/dtype.h"

enum { M_HANDLE = 0x68616e64, M_TENSOR = 0x74656e73, M_FILTER = 0x66696c74, M_CONV = 0x636f6e76 };
struct cudnnContext { int magic; cudaStream_t s; };
struct cudnnTensorStruct { int magic, set; cudnnDataType_t ty; int nd, dim[8], str[8]; };
struct cudnnFilterStruct { int magic, set; cudnnDataType_t ty; cudnnTensorFormat_t f; int nd, dim[8]; };
struct cudnnConvolutionStruct {
    int magic, set, sp, pad[3], str[3], dil[3], groups;
    cudnnConvolutionMode_t mode;
    cudnnDataType_t compute;
    cudnnMathType_t math;
};
static void need(int ok, const char *what) {
    if (!ok) { fprintf(stderr, "EMU cuDNN: %s\n", what); abort(); }
}
#define LIVE(d, M, what) need((d) && (d)->magic == (M), "dead or unknown " what)
#define READY(d, M, what) need((d) && (d)->magic == (M) && (d)->set, "dead, unknown or unset " what)
static cudnnStatus_t bad(const char *why) {
    fprintf(stderr, "EMU cuDNN: BAD_PARAM: %s\n", why);
    return CUDNN_STATUS_BAD_PARAM;
}

const char *cudnnGetErrorString(cudnnStatus_t s) {
    return s == CUDNN_STATUS_SUCCESS ? "CUDNN_STATUS_SUCCESS" : s == CUDNN_STATUS_BAD_PARAM ? "CUDNN_STATUS_BAD_PARAM"
                                                                                          : "CUDNN_STATUS_NOT_SUPPORTED";
}
cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
    *h = calloc(1, sizeof **h);
    (*h)->magic = M_HANDLE;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
    LIVE(h, M_HANDLE, "handle");
    h->s = s;
    return CUDNN_STATUS_SUCCESS;
}
#define CREATE_DESTROY(T, M, CREATE, DESTROY)                                                                          \
    cudnnStatus_t CREATE(T *d) { *d = calloc(1, sizeof **d); (*d)->magic = M; return CUDNN_STATUS_SUCCESS; }           \
    cudnnStatus_t DESTROY(T d) { LIVE(d, M, "descriptor destroyed"); d->magic = 0; free(d); return CUDNN_STATUS_SUCCESS; }
CREATE_DESTROY(cudnnTensorDescriptor_t, M_TENSOR, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor)
CREATE_DESTROY(cudnnFilterDescriptor_t, M_FILTER, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor)
CREATE_DESTROY(cudnnConvolutionDescriptor_t, M_CONV, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor)

static int esize(cudnnDataType_t t) {
    return t == CUDNN_DATA_DOUBLE ? 8 : t == CUDNN_DATA_FLOAT ? 4 : t == CUDNN_DATA_HALF || t == CUDNN_DATA_BFLOAT16 ? 2 : 0;
}
cudnnStatus_t cudnnSetTensorNdDescriptor(cudnnTensorDescriptor_t d, cudnnDataType_t ty, int nd, const int dim[],
                                         const int str[]) {
    LIVE(d, M_TENSOR, "tensor descriptor");
    if (nd < 3 || nd > 8 || !esize(ty)) return bad("tensor rank or data type");
    for (int i = 0; i < nd; i++) {
        if (dim[i] < 1 || str[i] < 1) return bad("tensor dim or stride below 1");
        d->dim[i] = dim[i], d->str[i] = str[i];
    }
    d->ty = ty, d->nd = nd, d->set = 1;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilterNdDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t ty, cudnnTensorFormat_t f, int nd,
                                         const int dim[]) {
    LIVE(d, M_FILTER, "filter descriptor");
    if (f != CUDNN_TENSOR_NCHW && f != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_NOT_SUPPORTED;
    if (nd < 3 || nd > 8 || !esize(ty)) return bad("filter rank or data type");
    for (int i = 0; i < nd; i++) {
        if (dim[i] < 1) return bad("filter dim below 1");
        d->dim[i] = dim[i];
    }
    d->ty = ty, d->f = f, d->nd = nd, d->set = 1;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionNdDescriptor(cudnnConvolutionDescriptor_t d, int n, const int pad[], const int str[],
                                              const int dil[], cudnnConvolutionMode_t mode, cudnnDataType_t compute) {
    LIVE(d, M_CONV, "convolution descriptor");
    if (n < 1 || !esize(compute) || (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION))
        return bad("convolution rank, mode or compute type");
    if (n > 3) return CUDNN_STATUS_NOT_SUPPORTED;
    for (int i = 0; i < n; i++) {
        if (pad[i] < 0 || str[i] < 1 || dil[i] < 1) return bad("padding, stride or dilation");
        d->pad[i] = pad[i], d->str[i] = str[i], d->dil[i] = dil[i];
    }
    d->sp = n, d->mode = mode, d->compute = compute, d->set = 1;
    if (!d->groups) d->groups = 1;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
    LIVE(d, M_CONV, "convolution descriptor");
    if (groups < 1) return bad("group count");
    d->groups = groups;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
    LIVE(d, M_CONV, "convolution descriptor");
    if (m < CUDNN_DEFAULT_MATH || m > CUDNN_FMA_MATH) return bad("math type");
    d->math = m;
    return CUDNN_STATUS_SUCCESS;
}

/* A tensor as 5 slots N, C, spatial right-aligned (absent slots: size 1). */
typedef struct { cudnnDataType_t ty; long long dim[5], str[5], lin[5], numel, bytes; } t5;
static t5 mk5(cudnnDataType_t ty, int nd, const int *dim, const int *str) {
    t5 t;
    memset(&t, 0, sizeof t);
    t.ty = ty;
    for (int s = 0; s < 5; s++) t.dim[s] = 1;
    for (int j = nd - 1, packed = 1; j >= 0; j--) {
        int s = j < 2 ? j : j + 5 - nd;
        t.dim[s] = dim[j], t.str[s] = str ? str[j] : packed;
        packed *= dim[j];
    }
    t.numel = 1, t.bytes = 1;
    for (int s = 4; s >= 0; s--) t.lin[s] = t.numel, t.numel *= t.dim[s], t.bytes += (t.dim[s] - 1) * t.str[s];
    t.bytes *= esize(ty);
    return t;
}
static long long offset(const t5 *t, long long l) {
    long long o = 0;
    for (int s = 4; s >= 0; s--) o += l % t->dim[s] * t->str[s], l /= t->dim[s];
    return o;
}

typedef struct { t5 x, w, y; long long groups, pad[3], str[3], dil[3]; int flip, tf32; } prob;
static cudnnStatus_t make_prob(prob *P, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                               cudnnTensorDescriptor_t y, cudnnConvolutionDescriptor_t c) {
    READY(x, M_TENSOR, "x tensor descriptor");
    READY(w, M_FILTER, "filter descriptor");
    READY(y, M_TENSOR, "y tensor descriptor");
    READY(c, M_CONV, "convolution descriptor");
    if (x->nd != 4 && x->nd != 5) return CUDNN_STATUS_NOT_SUPPORTED;
    if (w->nd != x->nd || y->nd != x->nd || c->sp != x->nd - 2) return bad("ranks of x, w, y and convolution differ");
    if (w->ty != x->ty || y->ty != x->ty) return bad("data types of x, w and y differ");
    cudnnDataType_t t = x->ty, ct = c->compute;
    /* f64 computes in f64, f16 in f16 or f32, f32 and bf16 in f32 */
    if (t == CUDNN_DATA_DOUBLE ? ct != t : t == CUDNN_DATA_HALF ? ct != t && ct != CUDNN_DATA_FLOAT
                                                              : ct != CUDNN_DATA_FLOAT)
        return CUDNN_STATUS_NOT_SUPPORTED;
    memset(P, 0, sizeof *P);
    P->x = mk5(t, x->nd, x->dim, x->str);
    int wstr[8]; /* NHWC filters: memory order K, spatial..., C */
    for (int j = w->nd - 1, packed = w->dim[1]; j >= 2; j--) wstr[j] = packed, packed *= w->dim[j];
    wstr[1] = 1, wstr[0] = w->dim[1];
    for (int j = 2; j < w->nd; j++) wstr[0] *= w->dim[j];
    P->w = mk5(t, w->nd, w->dim, w->f == CUDNN_TENSOR_NHWC ? wstr : NULL);
    P->y = mk5(t, y->nd, y->dim, y->str);
    P->groups = c->groups, P->flip = c->mode == CUDNN_CONVOLUTION;
    P->tf32 = t == CUDNN_DATA_FLOAT && c->math != CUDNN_FMA_MATH;
    if (P->x.dim[1] != P->w.dim[1] * P->groups || P->w.dim[0] % P->groups || P->y.dim[1] != P->w.dim[0] ||
        P->y.dim[0] != P->x.dim[0])
        return bad("batch or channel counts (filter channels * groups must equal input channels)");
    for (int i = 0; i < 3; i++) {
        int s = i + 2, k = i - (3 - c->sp);
        P->pad[i] = k < 0 ? 0 : c->pad[k], P->str[i] = k < 0 ? 1 : c->str[k], P->dil[i] = k < 0 ? 1 : c->dil[k];
        long long span = (P->w.dim[s] - 1) * P->dil[i] + 1, room = P->x.dim[s] + 2 * P->pad[i];
        if (room < span || P->y.dim[s] != 1 + (room - span) / P->str[i])
            return bad("output size does not follow the formula");
    }
    return CUDNN_STATUS_SUCCESS;
}

static double at(cudnnDataType_t t, const void *p, long long i) {
    switch (t) {
    case CUDNN_DATA_DOUBLE: return ((const double *)p)[i];
    case CUDNN_DATA_BFLOAT16: return mf_bf16_to_f32(((const uint16_t *)p)[i]);
    case CUDNN_DATA_HALF: return mf_f16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}
static void put(cudnnDataType_t t, void *p, long long i, double v) {
    switch (t) {
    case CUDNN_DATA_DOUBLE: ((double *)p)[i] = v; break;
    case CUDNN_DATA_BFLOAT16: ((uint16_t *)p)[i] = mf_f32_to_bf16((float)v); break;
    case CUDNN_DATA_HALF: ((uint16_t *)p)[i] = mf_f32_to_f16((float)v); break;
    default: ((float *)p)[i] = (float)v;
    }
}
/* f32 -> TF32 (10 mantissa bits, round to nearest even) */
static double tf32(double v) {
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    memcpy(&f, &u, 4);
    return f;
}
static double rd(const prob *P, const t5 *t, const void *p, long long o) {
    double v = at(t->ty, p, o);
    return P->tf32 ? tf32(v) : v;
}

enum { FWD, BWD_DATA, BWD_FILTER };
/* acc (packed, of the output of dir) += every product of the convolution */
static void accumulate(int dir, const prob *P, const void *x, const void *w, const void *y, double *acc) {
    const t5 *X = &P->x, *W = &P->w, *Y = &P->y;
    long long Cg = W->dim[1], Kg = W->dim[0] / P->groups;
    long long nop = Y->dim[2] * Y->dim[3] * Y->dim[4], nr = W->dim[2] * W->dim[3] * W->dim[4];
    for (long long n = 0; n < X->dim[0]; n++)
        for (long long k = 0; k < W->dim[0]; k++)
            for (long long op = 0; op < nop; op++)
                for (long long c = 0; c < Cg; c++)
                    for (long long rp = 0; rp < nr; rp++) {
                        long long ch = k / Kg * Cg + c; /* input channel c of k's group */
                        long long xo = n * X->str[0] + ch * X->str[1], xl = n * X->lin[0] + ch * X->lin[1];
                        long long wo = k * W->str[0] + c * W->str[1], yo = n * Y->str[0] + k * Y->str[1];
                        long long yl = n * Y->lin[0] + k * Y->lin[1], wl = k * W->lin[0] + c * W->lin[1];
                        int inside = 1;
                        for (int s = 4, q = (int)op, r = (int)rp; s >= 2; s--) {
                            long long o = q % Y->dim[s], kr = r % W->dim[s];
                            q /= (int)Y->dim[s], r /= (int)W->dim[s];
                            long long i = o * P->str[s - 2] - P->pad[s - 2] + kr * P->dil[s - 2];
                            inside &= i >= 0 && i < X->dim[s];
                            long long kw = P->flip ? W->dim[s] - 1 - kr : kr;
                            xo += i * X->str[s], xl += i * X->lin[s], wo += kw * W->str[s], wl += kw * W->lin[s];
                            yo += o * Y->str[s], yl += o * Y->lin[s];
                        }
                        if (!inside) continue;
                        if (dir == FWD) acc[yl] += rd(P, X, x, xo) * rd(P, W, w, wo);
                        else if (dir == BWD_DATA) acc[xl] += rd(P, Y, y, yo) * rd(P, W, w, wo);
                        else acc[wl] += rd(P, X, x, xo) * rd(P, Y, y, yo);
                    }
}

static const long long ws_bytes[4] = {1024, 2048, 0, 2LL << 30};
/* Whether algo runs this problem under math m, and its workspace. */
static cudnnStatus_t algo_ws(const prob *P, cudnnMathType_t m, int algo, size_t *ws) {
    if (algo < 0 || algo > 3 || algo == 2) return CUDNN_STATUS_NOT_SUPPORTED;
    if (algo == 1 && (m == CUDNN_FMA_MATH || P->x.ty == CUDNN_DATA_DOUBLE)) return CUDNN_STATUS_NOT_SUPPORTED;
    *ws = (size_t)ws_bytes[algo];
    return CUDNN_STATUS_SUCCESS;
}
static int overlaps(const void *a, long long an, const void *b, long long bn) {
    return (const char *)a < (const char *)b + bn && (const char *)b < (const char *)a + an;
}
static void on_device(const void *p, long long n, const char *what) {
    need(p && emu_device_extent(p) >= (size_t)n, what);
}
static double scalar(const void *s, cudnnDataType_t t) {
    need(s && !emu_is_device(s), "alpha/beta must be host pointers");
    return t == CUDNN_DATA_DOUBLE ? *(const double *)s : *(const float *)s;
}

/* One convolution call, checked, as run now or by a graph launch. */
typedef struct {
    int dir;
    prob P;
    const void *x, *w, *y;
    void *out;
    t5 ot;
    void *ws;
    size_t wsb;
    double al, be;
} conv_node;
static void run_conv(void *p) {
    const conv_node *n = p;
    if (n->wsb) memset(n->ws, 0x5a, n->wsb < (1u << 20) ? n->wsb : (1u << 20));
    double *acc = calloc((size_t)n->ot.numel, sizeof *acc);
    accumulate(n->dir, &n->P, n->x, n->w, n->y, acc);
    for (long long l = 0; l < n->ot.numel; l++) {
        long long o = offset(&n->ot, l);
        put(n->ot.ty, n->out, o, n->al * acc[l] + (n->be != 0 ? n->be * at(n->ot.ty, n->out, o) : 0));
    }
    free(acc);
}

static cudnnStatus_t run(int dir, cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd, const void *x,
                         cudnnFilterDescriptor_t wd, const void *w, cudnnTensorDescriptor_t yd, const void *y,
                         cudnnConvolutionDescriptor_t cd, int algo, void *ws, size_t wsb, const void *beta) {
    LIVE(h, M_HANDLE, "handle");
    need(h->s != NULL, "handle used without cudnnSetStream");
    prob P;
    size_t need_ws = 0;
    cudnnStatus_t e = make_prob(&P, xd, wd, yd, cd);
    if (e == CUDNN_STATUS_SUCCESS) e = algo_ws(&P, cd->math, algo, &need_ws);
    if (e != CUDNN_STATUS_SUCCESS) return e;
    if (wsb < need_ws) return bad("workspace smaller than the algorithm needs");
    on_device(x, P.x.bytes, "x is not device memory of its descriptor's extent");
    on_device(w, P.w.bytes, "w is not device memory of its descriptor's extent");
    on_device(y, P.y.bytes, "y is not device memory of its descriptor's extent");
    const t5 *ot = dir == FWD ? &P.y : dir == BWD_DATA ? &P.x : &P.w;
    void *out = (void *)(dir == FWD ? y : dir == BWD_DATA ? x : w);
    need(!overlaps(x, P.x.bytes, y, P.y.bytes) && !overlaps(x, P.x.bytes, w, P.w.bytes) &&
             !overlaps(w, P.w.bytes, y, P.y.bytes), "convolution tensors overlap");
    if (wsb) {
        on_device(ws, (long long)wsb, "workspace is not device memory of the size passed");
        need(!overlaps(ws, (long long)wsb, out, ot->bytes), "workspace overlaps the output");
    }
    conv_node n = {dir, P, x, w, y, out, *ot, ws, wsb, scalar(alpha, P.x.ty), scalar(beta, P.x.ty)};
    emu_submit(h->s, run_conv, &n, sizeof n); /* a graph replays it with these arguments (emu_graph.c) */
    return CUDNN_STATUS_SUCCESS;
}

/* The heuristics' ranked list (see the header comment), cut to `want`. */
#define HEURISTICS(PERF_T)                                                                                             \
    LIVE(h, M_HANDLE, "handle");                                                                                       \
    prob P;                                                                                                            \
    cudnnStatus_t e = make_prob(&P, xd, wd, yd, cd);                                                                   \
    if (e != CUDNN_STATUS_SUCCESS) return e;                                                                           \
    if (want < 1 || !got || !perf) return bad("requested algorithm count or output pointers");                         \
    static const int order[4] = {2, 3, 1, 0};                                                                          \
    *got = 0;                                                                                                          \
    for (int i = 0; i < 4 && *got < want; i++) {                                                                       \
        size_t ws = 0;                                                                                                 \
        cudnnStatus_t s = algo_ws(&P, cd->math, order[i], &ws);                                                        \
        if (order[i] == 1 && s != CUDNN_STATUS_SUCCESS) continue;                                                      \
        PERF_T *p = &perf[(*got)++];                                                                                   \
        memset(p, 0, sizeof *p);                                                                                       \
        p->algo = order[i], p->status = s, p->time = s ? -1.0f : 1.0f + (float)i, p->memory = ws;                     \
        p->determinism = CUDNN_DETERMINISTIC;                                                                          \
        p->mathType = order[i] == 1 ? CUDNN_TENSOR_OP_MATH : cd->math;                                                 \
    }                                                                                                                  \
    return CUDNN_STATUS_SUCCESS

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t xd,
                                                     const cudnnFilterDescriptor_t wd,
                                                     const cudnnConvolutionDescriptor_t cd,
                                                     const cudnnTensorDescriptor_t yd, const int want, int *got,
                                                     cudnnConvolutionFwdAlgoPerf_t *perf) {
    HEURISTICS(cudnnConvolutionFwdAlgoPerf_t);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, const cudnnFilterDescriptor_t wd,
                                                          const cudnnTensorDescriptor_t yd,
                                                          const cudnnConvolutionDescriptor_t cd,
                                                          const cudnnTensorDescriptor_t xd, const int want, int *got,
                                                          cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    HEURISTICS(cudnnConvolutionBwdDataAlgoPerf_t);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t xd,
                                                            const cudnnTensorDescriptor_t yd,
                                                            const cudnnConvolutionDescriptor_t cd,
                                                            const cudnnFilterDescriptor_t wd, const int want, int *got,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    HEURISTICS(cudnnConvolutionBwdFilterAlgoPerf_t);
}

/* The search (cudnnFind*AlgorithmEx): checked like a call, then the output
 * is scribbled on in stream order (a real search runs every candidate into
 * it) and the host waits, as cuDNN does. The "timings" rank algo 0 first,
 * then 1 and 3, so a search picks another algorithm than the heuristics
 * do under tensor-op or default math; candidates that do not run, or need
 * more workspace than given, come last with a failed status. */
static void scribble(void *p) {
    const conv_node *n = p;
    memset(n->out, 0x7f, (size_t)n->ot.bytes);
}
static cudnnStatus_t find(int dir, cudnnHandle_t h, cudnnTensorDescriptor_t xd, const void *x,
                          cudnnFilterDescriptor_t wd, const void *w, cudnnTensorDescriptor_t yd, const void *y,
                          cudnnConvolutionDescriptor_t cd, int want, int *got, void *ws, size_t wsb, int *algo,
                          cudnnStatus_t *status, float *time, size_t *mem, cudnnMathType_t *math) {
    LIVE(h, M_HANDLE, "handle");
    need(h->s != NULL, "handle used without cudnnSetStream");
    need(!emu_capturing(h->s), "cudnnFind*AlgorithmEx during a graph capture (it synchronises)");
    prob P;
    cudnnStatus_t e = make_prob(&P, xd, wd, yd, cd);
    if (e != CUDNN_STATUS_SUCCESS) return e;
    if (want < 1 || !got) return bad("requested algorithm count or output pointers");
    on_device(x, P.x.bytes, "x is not device memory of its descriptor's extent");
    on_device(w, P.w.bytes, "w is not device memory of its descriptor's extent");
    on_device(y, P.y.bytes, "y is not device memory of its descriptor's extent");
    if (wsb) on_device(ws, (long long)wsb, "workspace is not device memory of the size passed");
    const t5 *ot = dir == FWD ? &P.y : dir == BWD_DATA ? &P.x : &P.w;
    void *out = (void *)(dir == FWD ? y : dir == BWD_DATA ? x : w);
    conv_node n = {dir, P, x, w, y, out, *ot, ws, wsb, 1.0, 0.0};
    emu_submit(h->s, scribble, &n, sizeof n);
    cudaStreamSynchronize(h->s);
    static const int order[3] = {0, 1, 3};
    int ok[3], k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 3 && k < want; i++) {
            size_t need_ws = 0;
            cudnnStatus_t s = algo_ws(&P, cd->math, order[i], &need_ws);
            if (pass == 0) ok[i] = s == CUDNN_STATUS_SUCCESS && need_ws <= wsb;
            if (ok[i] != (pass == 0)) continue;
            algo[k] = order[i];
            status[k] = ok[i] ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
            time[k] = ok[i] ? 0.5f + (float)k : -1.0f;
            mem[k] = need_ws;
            math[k] = order[i] == 1 ? CUDNN_TENSOR_OP_MATH : cd->math;
            k++;
        }
    *got = k;
    return CUDNN_STATUS_SUCCESS;
}
#define FIND(DIR, PERF_T, X, W, Y)                                                                                     \
    int a_[3], n_ = 0;                                                                                                 \
    cudnnStatus_t s_[3];                                                                                               \
    float t_[3];                                                                                                       \
    size_t m_[3];                                                                                                      \
    cudnnMathType_t mt_[3];                                                                                            \
    if (!perf) return bad("requested algorithm count or output pointers");                                             \
    cudnnStatus_t e_ = find(DIR, h, xd, X, wd, W, yd, Y, cd, want < 3 ? want : 3, &n_, ws, wsb, a_, s_, t_, m_, mt_);  \
    if (e_ != CUDNN_STATUS_SUCCESS) return e_;                                                                         \
    for (int i = 0; i < n_; i++) {                                                                                     \
        memset(&perf[i], 0, sizeof perf[i]);                                                                           \
        perf[i].algo = a_[i], perf[i].status = s_[i], perf[i].time = t_[i], perf[i].memory = m_[i];                    \
        perf[i].determinism = CUDNN_DETERMINISTIC, perf[i].mathType = mt_[i];                                          \
    }                                                                                                                  \
    *got = n_;                                                                                                         \
    return CUDNN_STATUS_SUCCESS

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void *x,
                                                     const cudnnFilterDescriptor_t wd, const void *w,
                                                     const cudnnConvolutionDescriptor_t cd,
                                                     const cudnnTensorDescriptor_t yd, void *y, const int want,
                                                     int *got, cudnnConvolutionFwdAlgoPerf_t *perf, void *ws,
                                                     size_t wsb) {
    FIND(FWD, cudnnConvolutionFwdAlgoPerf_t, x, w, y);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t h, const cudnnFilterDescriptor_t wd,
                                                          const void *w, const cudnnTensorDescriptor_t yd,
                                                          const void *dy, const cudnnConvolutionDescriptor_t cd,
                                                          const cudnnTensorDescriptor_t xd, void *dx, const int want,
                                                          int *got, cudnnConvolutionBwdDataAlgoPerf_t *perf, void *ws,
                                                          size_t wsb) {
    FIND(BWD_DATA, cudnnConvolutionBwdDataAlgoPerf_t, dx, w, dy);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t h, const cudnnTensorDescriptor_t xd,
                                                            const void *x, const cudnnTensorDescriptor_t yd,
                                                            const void *dy, const cudnnConvolutionDescriptor_t cd,
                                                            const cudnnFilterDescriptor_t wd, void *dw, const int want,
                                                            int *got, cudnnConvolutionBwdFilterAlgoPerf_t *perf,
                                                            void *ws, size_t wsb) {
    FIND(BWD_FILTER, cudnnConvolutionBwdFilterAlgoPerf_t, x, dw, dy);
}

static cudnnStatus_t ws_size(cudnnHandle_t h, cudnnTensorDescriptor_t xd, cudnnFilterDescriptor_t wd,
                             cudnnTensorDescriptor_t yd, cudnnConvolutionDescriptor_t cd, int algo, size_t *size) {
    LIVE(h, M_HANDLE, "handle");
    prob P;
    cudnnStatus_t e = make_prob(&P, xd, wd, yd, cd);
    return e != CUDNN_STATUS_SUCCESS ? e : algo_ws(&P, cd->math, algo, size);
}
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t xd,
                                                      const cudnnFilterDescriptor_t wd,
                                                      const cudnnConvolutionDescriptor_t cd,
                                                      const cudnnTensorDescriptor_t yd, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t *size) {
    return ws_size(h, xd, wd, yd, cd, (int)algo, size);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, const cudnnFilterDescriptor_t wd,
                                                           const cudnnTensorDescriptor_t yd,
                                                           const cudnnConvolutionDescriptor_t cd,
                                                           const cudnnTensorDescriptor_t xd,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t *size) {
    return ws_size(h, xd, wd, yd, cd, (int)algo, size);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t xd,
                                                             const cudnnTensorDescriptor_t yd,
                                                             const cudnnConvolutionDescriptor_t cd,
                                                             const cudnnFilterDescriptor_t wd,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t *size) {
    return ws_size(h, xd, wd, yd, cd, (int)algo, size);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd,
                                      const void *x, const cudnnFilterDescriptor_t wd, const void *w,
                                      const cudnnConvolutionDescriptor_t cd, cudnnConvolutionFwdAlgo_t algo, void *ws,
                                      size_t wsb, const void *beta, const cudnnTensorDescriptor_t yd, void *y) {
    return run(FWD, h, alpha, xd, x, wd, w, yd, y, cd, (int)algo, ws, wsb, beta);
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, const cudnnFilterDescriptor_t wd,
                                           const void *w, const cudnnTensorDescriptor_t yd, const void *dy,
                                           const cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdDataAlgo_t algo,
                                           void *ws, size_t wsb, const void *beta, const cudnnTensorDescriptor_t xd,
                                           void *dx) {
    return run(BWD_DATA, h, alpha, xd, dx, wd, w, yd, dy, cd, (int)algo, ws, wsb, beta);
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd,
                                             const void *x, const cudnnTensorDescriptor_t yd, const void *dy,
                                             const cudnnConvolutionDescriptor_t cd,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *ws, size_t wsb,
                                             const void *beta, const cudnnFilterDescriptor_t wd, void *dw) {
    return run(BWD_FILTER, h, alpha, xd, x, wd, dw, yd, dy, cd, (int)algo, ws, wsb, beta);
}

typedef struct { t5 a, c; const void *A; void *C; double al, be; } add_node;
static void run_add(void *p) {
    const add_node *n = p;
    for (long long l = 0; l < n->c.numel; l++) {
        long long ao = 0, rest = l;
        for (int s = 4; s >= 0; s--)
            ao += (n->a.dim[s] == 1 ? 0 : rest % n->c.dim[s]) * n->a.str[s], rest /= n->c.dim[s];
        long long co = offset(&n->c, l);
        put(n->c.ty, n->C, co, n->al * at(n->a.ty, n->A, ao) + (n->be != 0 ? n->be * at(n->c.ty, n->C, co) : 0));
    }
}
cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t ad, const void *A,
                             const void *beta, const cudnnTensorDescriptor_t cd, void *C) {
    LIVE(h, M_HANDLE, "handle");
    need(h->s != NULL, "handle used without cudnnSetStream");
    READY(ad, M_TENSOR, "A tensor descriptor");
    READY(cd, M_TENSOR, "C tensor descriptor");
    if (ad->nd != cd->nd || ad->ty != cd->ty || ad->nd > 5) return bad("cudnnAddTensor ranks or data types");
    t5 a = mk5(ad->ty, ad->nd, ad->dim, ad->str), c = mk5(cd->ty, cd->nd, cd->dim, cd->str);
    for (int s = 0; s < 5; s++)
        if (a.dim[s] != c.dim[s] && a.dim[s] != 1) return bad("cudnnAddTensor: A dims must match C or be 1");
    on_device(A, a.bytes, "cudnnAddTensor: A is not device memory of its descriptor's extent");
    on_device(C, c.bytes, "cudnnAddTensor: C is not device memory of its descriptor's extent");
    need(!overlaps(A, a.bytes, C, c.bytes), "cudnnAddTensor: A overlaps C");
    add_node n = {a, c, A, C, scalar(alpha, c.ty), scalar(beta, c.ty)};
    emu_submit(h->s, run_add, &n, sizeof n);
    return CUDNN_STATUS_SUCCESS;
}
