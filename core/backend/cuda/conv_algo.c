/* Which cuDNN algorithm each convolution runs, chosen once per shape and
 * cached: (direction, dtype, geometry, math mode, device, policy).
 *
 * Two policies. The default takes the first of cuDNN's ranked heuristics
 * that works, fits 1 GiB of workspace and, in exact mode, uses no
 * tensor-core math (for bf16/f16: the first tensor-core one if any); it
 * runs nothing and gives the same choice in every run. The search policy
 * (mf_cuda_set_conv_search, MEDFM_CUDNN_SEARCH=1, `train.cudnn_search`;
 * torch.backends.cudnn.benchmark in PyTorch) times every candidate on the
 * first call of a shape with cudnnFind*AlgorithmEx, on the call's own
 * buffers and one workspace as large as the largest candidate needs (at
 * most 1 GiB), and keeps the fastest that obeys the same math rules. The
 * timing makes the choice, and so the last bits of results, vary between
 * runs. A shape first seen while a CUDA graph is being captured gets the
 * heuristics' choice: a search synchronises, which a capture refuses. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cuda/conv_internal.h"

#define EXPORT __attribute__((visibility("default")))

typedef struct {
    int dir, dt, exact, dev, search;
    mf_conv_geom g;
} algo_key;

typedef struct {
    algo_key key;
    int algo;
    cudnnMathType_t math;
    size_t ws;
} algo_entry;

#define CACHE_SIZE 512
#define N_PERF 16
#define WS_CAP ((size_t)1 << 30)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static algo_entry cache[CACHE_SIZE];
static int cache_n, cache_next;
static int search_override = -1; /* -1: follow the environment */
static uint64_t n_searched, n_heuristic;

EXPORT void mf_cuda_set_conv_search(int enabled) {
    __atomic_store_n(&search_override, enabled < 0 ? -1 : enabled != 0, __ATOMIC_RELAXED);
}

static int search_enabled(void) {
    int o = __atomic_load_n(&search_override, __ATOMIC_RELAXED);
    if (o >= 0)
        return o;
    const char *e = getenv("MEDFM_CUDNN_SEARCH");
    return e && e[0] == '1';
}

/* Shapes whose algorithm was chosen so far by search and by heuristics. */
EXPORT void mf_cuda_conv_algo_counts(uint64_t *searched, uint64_t *heuristic) {
    pthread_mutex_lock(&lock);
    *searched = n_searched;
    *heuristic = n_heuristic;
    pthread_mutex_unlock(&lock);
}

/* Field by field: a struct copy need not copy padding, so memcmp could miss. */
static bool key_eq(const algo_key *a, const algo_key *b) {
    const mf_conv_geom *x = &a->g, *y = &b->g;
    bool eq = a->dir == b->dir && a->dt == b->dt && a->exact == b->exact && a->dev == b->dev &&
              a->search == b->search && x->nsp == y->nsp && x->n == y->n && x->groups == y->groups &&
              x->cin == y->cin && x->cout == y->cout && x->channels_last == y->channels_last;
    for (int i = 0; i < 3 && eq; i++)
        eq = x->in[i] == y->in[i] && x->out[i] == y->out[i] && x->k[i] == y->k[i] && x->stride[i] == y->stride[i] &&
             x->pad[i] == y->pad[i] && x->dil[i] == y->dil[i];
    return eq;
}

static const char *dir_name(int dir) {
    return dir == MF_CONV_FWD ? "forward" : dir == MF_CONV_BWD_DATA ? "backward data" : "backward filter";
}

static mf_status workspace_size(mf_conv_call *c, int dir, int algo, size_t *mem) {
    cudnnStatus_t e;
    if (dir == MF_CONV_FWD)
        e = cudnnGetConvolutionForwardWorkspaceSize(c->h, c->x, c->w, c->c, c->y, (cudnnConvolutionFwdAlgo_t)algo,
                                                    mem);
    else if (dir == MF_CONV_BWD_DATA)
        e = cudnnGetConvolutionBackwardDataWorkspaceSize(c->h, c->w, c->y, c->c, c->x,
                                                         (cudnnConvolutionBwdDataAlgo_t)algo, mem);
    else
        e = cudnnGetConvolutionBackwardFilterWorkspaceSize(c->h, c->x, c->y, c->c, c->w,
                                                           (cudnnConvolutionBwdFilterAlgo_t)algo, mem);
    return mf_cuda_dnn_check(e, "conv: workspace size");
}

/* One candidate of a heuristics or search list, as the fields we use. */
typedef struct {
    int algo;
    cudnnStatus_t status;
    cudnnMathType_t math;
    size_t memory;
} cand;

#define TO_CANDS(perf, n, out)                                                                                         \
    for (int i_ = 0; i_ < (n); i_++)                                                                                   \
    (out)[i_] = (cand){(int)(perf)[i_].algo, (perf)[i_].status, (perf)[i_].mathType, (perf)[i_].memory}

/* cuDNN's ranked heuristics for dir. */
static mf_status heuristics(mf_conv_call *c, int dir, cand *out, int *n) {
    cudnnStatus_t e;
    if (dir == MF_CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[N_PERF];
        e = cudnnGetConvolutionForwardAlgorithm_v7(c->h, c->x, c->w, c->c, c->y, N_PERF, n, perf);
        TO_CANDS(perf, e ? 0 : *n, out);
    } else if (dir == MF_CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[N_PERF];
        e = cudnnGetConvolutionBackwardDataAlgorithm_v7(c->h, c->w, c->y, c->c, c->x, N_PERF, n, perf);
        TO_CANDS(perf, e ? 0 : *n, out);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[N_PERF];
        e = cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->h, c->x, c->y, c->c, c->w, N_PERF, n, perf);
        TO_CANDS(perf, e ? 0 : *n, out);
    }
    return mf_cuda_dnn_check(e, "conv: algorithm heuristics");
}

/* cuDNN's candidates for dir timed on the call's buffers, fastest first. */
static mf_status timed(mf_conv_call *c, int dir, const void *in1, const void *in2, void *out, void *ws, size_t wsb,
                       cand *res, int *n) {
    cudnnStatus_t e;
    if (dir == MF_CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[N_PERF];
        e = cudnnFindConvolutionForwardAlgorithmEx(c->h, c->x, in1, c->w, in2, c->c, c->y, out, N_PERF, n, perf, ws,
                                                   wsb);
        TO_CANDS(perf, e ? 0 : *n, res);
    } else if (dir == MF_CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[N_PERF];
        e = cudnnFindConvolutionBackwardDataAlgorithmEx(c->h, c->w, in2, c->y, in1, c->c, c->x, out, N_PERF, n, perf,
                                                        ws, wsb);
        TO_CANDS(perf, e ? 0 : *n, res);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[N_PERF];
        e = cudnnFindConvolutionBackwardFilterAlgorithmEx(c->h, c->x, in1, c->y, in2, c->c, c->w, out, N_PERF, n,
                                                          perf, ws, wsb);
        TO_CANDS(perf, e ? 0 : *n, res);
    }
    return mf_cuda_dnn_check(e, "conv: algorithm search");
}

/* The first usable candidate (index into cs, or -1): it ran, fits `cap`,
 * and in exact mode uses no tensor cores; with `tensor_first`, tensor-core
 * candidates are taken before the others. */
static int first_usable(const mf_conv_call *c, const cand *cs, int n, size_t cap, bool tensor_first) {
    for (int pass = tensor_first ? 0 : 1; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (cs[i].status != CUDNN_STATUS_SUCCESS || cs[i].memory > cap)
                continue;
            if (c->exact && cs[i].math != CUDNN_FMA_MATH && cs[i].math != CUDNN_DEFAULT_MATH)
                continue;
            if (pass == 0 && cs[i].math != CUDNN_TENSOR_OP_MATH)
                continue;
            return i;
        }
    return -1;
}

/* The search: a workspace as large as the largest usable candidate's
 * (exact sizes, not the heuristics' estimates), then the timed list. */
static mf_status search(mf_conv_call *c, int dir, const cand *hs, int nh, const void *in1, const void *in2,
                        void *out, cand *best) {
    size_t wsb = 0;
    for (int i = 0; i < nh; i++) {
        size_t m = 0;
        if (hs[i].status == CUDNN_STATUS_SUCCESS && workspace_size(c, dir, hs[i].algo, &m) == MF_OK && m <= WS_CAP &&
            m > wsb)
            wsb = m;
    }
    mf_device dev = {MF_CUDA, c->dev};
    void *ws = NULL;
    if (wsb && mf_cuda_alloc(dev, wsb, &ws) != MF_OK)
        return mf_error_context(MF_ERR(MF_ERR_NOMEM, "conv: no room for a %zu-byte workspace", wsb),
                                "conv: cuDNN algorithm search (%s)", dir_name(dir));
    cand ts[N_PERF];
    int n = 0;
    mf_status st = timed(c, dir, in1, in2, out, ws, wsb, ts, &n);
    if (ws)
        mf_cuda_free(dev, ws, wsb);
    MF_TRY(st);
    int k = first_usable(c, ts, n, wsb, false);
    if (k < 0)
        return MF_ERR(MF_ERR_UNSUPPORTED, "conv: no algorithm cuDNN timed for this geometry ran (%s)", dir_name(dir));
    *best = ts[k];
    return MF_OK;
}

mf_status mf_cuda_conv_pick(mf_conv_call *c, int dir, const mf_conv_geom *g, const void *in1, const void *in2,
                            void *out, int *algo, size_t *ws) {
    algo_key key;
    memset(&key, 0, sizeof key);
    key.dir = dir, key.dt = c->dt, key.exact = c->exact, key.dev = c->dev, key.search = search_enabled(), key.g = *g;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < cache_n; i++)
        if (key_eq(&cache[i].key, &key)) {
            *algo = cache[i].algo;
            *ws = cache[i].ws;
            cudnnMathType_t m = cache[i].math;
            pthread_mutex_unlock(&lock);
            return mf_cuda_dnn_check(cudnnSetConvolutionMathType(c->c, m), "conv: math type");
        }
    pthread_mutex_unlock(&lock);
    /* bf16/f16 want tensor cores: without asking, the heuristics rank f32
     * and direct kernels first (on an H100 a ResNet-50 step ran 20x
     * slower, its backward data in a direct kernel). */
    bool lowp = c->dt == MF_BF16 || c->dt == MF_F16;
    MF_TRY(mf_cuda_dnn_check(cudnnSetConvolutionMathType(c->c, c->exact ? CUDNN_FMA_MATH
                                                               : lowp   ? CUDNN_TENSOR_OP_MATH
                                                                        : CUDNN_DEFAULT_MATH),
                             "conv: math type"));
    cand hs[N_PERF], pick;
    int nh = 0;
    MF_TRY(heuristics(c, dir, hs, &nh));
    bool searched = false;
    if (key.search) {
        cudaStream_t s;
        enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
        MF_TRY(mf_cuda_stream(c->dev, &s));
        MF_TRY(mf_cuda_check(cudaStreamIsCapturing(s, &cap), "conv: capture state"));
        if (cap == cudaStreamCaptureStatusNone) {
            MF_TRY(search(c, dir, hs, nh, in1, in2, out, &pick));
            searched = true;
        }
    }
    if (!searched) {
        int k = first_usable(c, hs, nh, WS_CAP, lowp);
        if (k < 0)
            return MF_ERR(MF_ERR_UNSUPPORTED, "conv: cuDNN offers no algorithm for this geometry (%s)",
                          dir_name(dir));
        pick = hs[k];
    }
    cudnnMathType_t math = c->exact ? CUDNN_FMA_MATH : pick.math;
    MF_TRY(mf_cuda_dnn_check(cudnnSetConvolutionMathType(c->c, math), "conv: math type"));
    /* the heuristics' memory figure may be a lower bound: ask for the exact size */
    size_t mem = 0;
    MF_TRY(workspace_size(c, dir, pick.algo, &mem));
    pthread_mutex_lock(&lock);
    int slot = cache_n < CACHE_SIZE ? cache_n++ : (cache_next++ % CACHE_SIZE);
    cache[slot] = (algo_entry){key, pick.algo, math, mem};
    if (searched)
        n_searched++;
    else
        n_heuristic++;
    pthread_mutex_unlock(&lock);
    *algo = pick.algo;
    *ws = mem;
    return MF_OK;
}
