/* CUDA loss family (kern_loss.h): softmax / log-softmax along one dim and
 * the fused cross-entropy, over the kernels of norm_loss_kernels.cu. An
 * out-of-range target is flagged by the kernel in a device word and read
 * back after the launch, so cross_entropy reports it like the CPU does. */
#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/cuda/nn_internal.h"
#include "core/backend/kern_loss.h"

static mf_status need_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: dtype %s not supported on the cuda backend", op,
                      mf_dtype_name(t->dtype));
    return MF_OK;
}

static void split(const mf_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < dim; d++)
        *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++)
        *inner *= t->shape[d];
    *n = t->ndim ? t->shape[dim] : 1;
}

static mf_status cuda_softmax_forward(mf_tensor *y, const mf_tensor *x, int dim, bool log) {
    MF_TRY(need_float(log ? "log_softmax" : "softmax", x));
    int64_t outer, n, inner;
    split(x, dim, &outer, &n, &inner);
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    return mf_cuda_check(
        mf_cuda_launch_softmax(s, (int)x->dtype, outer, n, inner, mf_tensor_data(y), mf_tensor_data(x), NULL, log, 0),
        log ? "log_softmax kernel" : "softmax kernel");
}

static mf_status cuda_softmax_backward(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *y, int dim, bool log) {
    MF_TRY(need_float(log ? "log_softmax backward" : "softmax backward", y));
    int64_t outer, n, inner;
    split(y, dim, &outer, &n, &inner);
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(y->storage->device.index, &s));
    return mf_cuda_check(mf_cuda_launch_softmax(s, (int)y->dtype, outer, n, inner, mf_tensor_data(gx),
                                                mf_tensor_data(gy), mf_tensor_data(y), log, 1),
                         log ? "log_softmax backward kernel" : "softmax backward kernel");
}

static mf_status cuda_ce_forward(mf_tensor *loss, mf_tensor *wt, mf_tensor *logp, const mf_tensor *logits,
                                 const mf_tensor *target, const mf_tensor *weight, int64_t ignore_index,
                                 double smoothing) {
    MF_TRY(need_float("cross_entropy", logits));
    mf_device dev = logits->storage->device;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev.index, &s));
    mf_ce_args a = {.N = logp->shape[0],
                    .C = logp->shape[1],
                    .S = logp->shape[2],
                    .x = mf_tensor_data(logits),
                    .w = weight ? mf_tensor_data(weight) : NULL,
                    .t = mf_tensor_data(target),
                    .loss = mf_tensor_data(loss),
                    .wt = mf_tensor_data(wt),
                    .logp = mf_tensor_data(logp),
                    .ignore = ignore_index,
                    .eps = smoothing};
    if (a.N * a.S == 0)
        return MF_OK;
    /* A bad target counts as class 0 and is reported at the next host wait
     * (device_checks.c): no wait here, and the step can be captured. */
    MF_TRY(mf_cuda_check_record(dev.index, MF_CUDA_CHECK_TARGET, "cross_entropy", &a.bad));
    return mf_cuda_check(mf_cuda_launch_ce(s, (int)logits->dtype, 0, &a), "cross_entropy kernel");
}

static mf_status cuda_ce_backward(mf_tensor *gx, const mf_tensor *gscale, const mf_tensor *logp,
                                  const mf_tensor *target, const mf_tensor *weight, int64_t ignore_index,
                                  double smoothing) {
    MF_TRY(need_float("cross_entropy backward", logp));
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(logp->storage->device.index, &s));
    mf_ce_args a = {.N = logp->shape[0],
                    .C = logp->shape[1],
                    .S = logp->shape[2],
                    .g = mf_tensor_data(gscale),
                    .w = weight ? mf_tensor_data(weight) : NULL,
                    .t = mf_tensor_data(target),
                    .logp = mf_tensor_data(logp),
                    .gx = mf_tensor_data(gx),
                    .gs0 = gscale->stride[0],
                    .gs1 = gscale->stride[1],
                    .ignore = ignore_index,
                    .eps = smoothing};
    return mf_cuda_check(mf_cuda_launch_ce(s, (int)logp->dtype, 1, &a), "cross_entropy backward kernel");
}

const struct mf_kern_loss mf_cuda_loss = {
    .softmax_forward = cuda_softmax_forward,
    .softmax_backward = cuda_softmax_backward,
    .ce_forward = cuda_ce_forward,
    .ce_backward = cuda_ce_backward,
};
