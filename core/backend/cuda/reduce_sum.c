/* CUDA reductions over a set of dims (kern_reduce.h): sum, max/min,
 * variance and logsumexp (two passes through a per-output center), norms.
 * Picks one of three shapes of work: a thread per output (few reduced elements, or outputs adjacent
 * in memory so reads coalesce across threads), a block per output, or
 * several blocks per output writing partial sums that a second pass adds
 * in a fixed order (large reductions into few outputs). All accumulate in
 * double and are deterministic. */
#include <math.h>

#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/kern_reduce.h"

/* Appends a dim to a coalesced list: merges with the previous entry when
 * the pair walks memory like one dim in every stride array. */
static void push_dim(int *n, int64_t *shape, int64_t *s0, int64_t *s1, int64_t size, int64_t t0, int64_t t1) {
    if (size == 1)
        return;
    int k = *n;
    if (k > 0 && s0[k - 1] == t0 * size && (!s1 || s1[k - 1] == t1 * size)) {
        shape[k - 1] *= size;
        s0[k - 1] = t0;
        if (s1)
            s1[k - 1] = t1;
        return;
    }
    shape[k] = size;
    s0[k] = t0;
    if (s1)
        s1[k] = t1;
    *n = k + 1;
}

/* One pass of reduction A of x's masked dims into out (or A->result). */
static mf_status run_reduce(mf_tensor *out, const mf_tensor *x, uint32_t mask, const mf_cuda_red_args *A) {
    mf_cuda_sum_plan P = {0};
    P.nout = 1;
    P.nred = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (mask & (1u << d)) {
            P.nred *= x->shape[d];
            push_dim(&P.nr, P.rshape, P.rx, NULL, x->shape[d], x->stride[d], 0);
        } else {
            P.nout *= x->shape[d];
            push_dim(&P.nk, P.kshape, P.kx, P.ko, x->shape[d], x->stride[d], out->stride[d]);
        }
    }
    if (P.nout == 0)
        return MF_OK;
    mf_device dev = out->storage->device;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev.index, &s));
    int sms = mf_cuda_sm_count(dev.index);
    bool inner_kept_unit = P.nk > 0 && P.kx[P.nk - 1] == 1;
    int by_thread = P.nred <= 32 || (inner_kept_unit && P.nout >= 32 * (int64_t)sms);
    int chunks = 1;
    if (!by_thread && P.nout < 2 * (int64_t)sms && P.nred >= 16384) {
        int64_t want = (4 * (int64_t)sms + P.nout - 1) / P.nout, most = P.nred / 4096;
        chunks = (int)(want < most ? want : most);
        if (chunks > 1024)
            chunks = 1024;
        if (chunks < 1)
            chunks = 1;
    }
    double *partial = NULL;
    size_t pbytes = (size_t)P.nout * (size_t)chunks * sizeof(double);
    if (chunks > 1)
        MF_TRY(mf_cuda_alloc(dev, pbytes, (void **)&partial));
    mf_status st = mf_cuda_check(mf_cuda_launch_reduce(s, &P, A, (int)x->dtype, mf_tensor_data(x), (int)out->dtype,
                                                       mf_tensor_data(out), by_thread, chunks, partial),
                                 "reduce kernel");
    if (partial)
        mf_cuda_free(dev, partial, pbytes);
    return st;
}

/* A statistic from a per-output center: pass 1 writes the center of each
 * output into a device buffer, pass 2 reduces against it. */
static mf_status two_pass(mf_tensor *out, const mf_tensor *x, uint32_t mask, mf_cuda_red_args first,
                          mf_cuda_red_args second) {
    mf_device dev = out->storage->device;
    size_t bytes = (size_t)mf_tensor_numel(out) * sizeof(double);
    double *center;
    MF_TRY(mf_cuda_alloc(dev, bytes, (void **)&center));
    first.result = center;
    second.center = center;
    mf_status st = run_reduce(out, x, mask, &first);
    if (st == MF_OK)
        st = run_reduce(out, x, mask, &second);
    mf_cuda_free(dev, center, bytes);
    return st;
}

static int64_t reduced_count(const mf_tensor *x, uint32_t mask) {
    int64_t n = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask & (1u << d))
            n *= x->shape[d];
    return n;
}

static mf_status cuda_sum(mf_tensor *out, const mf_tensor *x, uint32_t mask) {
    mf_cuda_red_args A = {.kind = MF_RED_SUM, .fin = MF_FIN_NONE};
    return run_reduce(out, x, mask, &A);
}

static mf_status cuda_extreme(mf_tensor *out, const mf_tensor *x, uint32_t mask, bool want_max) {
    mf_cuda_red_args A = {.kind = want_max ? MF_RED_MAX : MF_RED_MIN, .fin = MF_FIN_NONE};
    return run_reduce(out, x, mask, &A);
}

static mf_status cuda_var(mf_tensor *out, const mf_tensor *x, uint32_t mask, double divisor) {
    mf_cuda_red_args mean = {.kind = MF_RED_SUM, .fin = MF_FIN_DIV, .arg = (double)reduced_count(x, mask)};
    mf_cuda_red_args ss = {.kind = MF_RED_SQDEV, .fin = MF_FIN_DIV, .arg = divisor};
    return two_pass(out, x, mask, mean, ss);
}

static mf_status cuda_logsumexp(mf_tensor *out, const mf_tensor *x, uint32_t mask) {
    mf_cuda_red_args max = {.kind = MF_RED_MAX, .fin = MF_FIN_NONE};
    mf_cuda_red_args sum = {.kind = MF_RED_EXPDEV, .fin = MF_FIN_LSE};
    return two_pass(out, x, mask, max, sum);
}

static mf_status cuda_norm(mf_tensor *out, const mf_tensor *x, uint32_t mask, double p) {
    mf_cuda_red_args A = {.kind = MF_RED_POWSUM, .fin = MF_FIN_ROOT, .arg = p};
    if (isinf(p))
        A = (mf_cuda_red_args){.kind = MF_RED_ABSMAX, .fin = MF_FIN_NONE};
    else if (p == 2.0)
        A = (mf_cuda_red_args){.kind = MF_RED_SQSUM, .fin = MF_FIN_SQRT};
    else if (p == 1.0)
        A = (mf_cuda_red_args){.kind = MF_RED_ABSSUM, .fin = MF_FIN_NONE};
    return run_reduce(out, x, mask, &A);
}

/* sort.c: a thread per line along dim. */
mf_status mf_cuda_arg_extreme(mf_tensor *values, mf_tensor *indices, const mf_tensor *x, int dim, bool want_max);

const struct mf_kern_reduce mf_cuda_reduce = {
    .sum = cuda_sum,
    .extreme = cuda_extreme,
    .arg_extreme = mf_cuda_arg_extreme,
    .var = cuda_var,
    .logsumexp = cuda_logsumexp,
    .norm = cuda_norm,
};
