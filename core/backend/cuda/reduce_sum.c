/* CUDA sum over a set of dims (kern_reduce.h). Picks one of three shapes
 * of work: a thread per output (few reduced elements, or outputs adjacent
 * in memory so reads coalesce across threads), a block per output, or
 * several blocks per output writing partial sums that a second pass adds
 * in a fixed order (large reductions into few outputs). All accumulate in
 * double and are deterministic. */
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

static mf_status cuda_sum(mf_tensor *out, const mf_tensor *x, uint32_t mask) {
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
    mf_status st = mf_cuda_check(mf_cuda_launch_sum(s, &P, (int)x->dtype, mf_tensor_data(x), (int)out->dtype,
                                                    mf_tensor_data(out), by_thread, chunks, partial),
                                 "sum kernel");
    if (partial)
        mf_cuda_free(dev, partial, pbytes);
    return st;
}

const struct mf_kern_reduce mf_cuda_reduce = {
    .sum = cuda_sum,
};
