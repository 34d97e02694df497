/* CUDA optim family (kern_optim.h): the fused parameter updates and the
 * clipping helpers over contiguous f32/f64 tensors, launched on the
 * device's stream (kernels: optim_kernels.cu). */
#include <math.h>

#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/kern_optim.h"

static mf_status cuda_sgd(mf_tensor *param, const mf_tensor *grad, mf_tensor *buf, const mf_sgd_hparams *h) {
    int64_t n = mf_tensor_numel(param);
    if (n == 0)
        return MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(param->storage->device.index, &s));
    return mf_cuda_check(mf_cuda_launch_sgd(s, n, (int)param->dtype, mf_tensor_data(param), mf_tensor_data(grad),
                                            buf ? mf_tensor_data(buf) : NULL, h),
                         "sgd kernel");
}

static mf_status cuda_adam(mf_tensor *param, const mf_tensor *grad, mf_tensor *exp_avg, mf_tensor *exp_avg_sq,
                           mf_tensor *vmax, const mf_adam_hparams *h) {
    int64_t n = mf_tensor_numel(param);
    if (n == 0)
        return MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(param->storage->device.index, &s));
    double t = (double)h->step;
    double step_size = h->lr / (1.0 - pow(h->beta1, t)), bc2_sqrt = sqrt(1.0 - pow(h->beta2, t));
    return mf_cuda_check(mf_cuda_launch_adam(s, n, (int)param->dtype, mf_tensor_data(param), mf_tensor_data(grad),
                                             mf_tensor_data(exp_avg), mf_tensor_data(exp_avg_sq),
                                             vmax ? mf_tensor_data(vmax) : NULL, h, step_size, bc2_sqrt),
                         "adam kernel");
}

static mf_status cuda_sum_squares(const mf_tensor *x, double *out) {
    mf_device dev = x->storage->device;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev.index, &s));
    int64_t n = mf_tensor_numel(x), nb = mf_cuda_sumsq_blocks(n);
    size_t bytes = (size_t)(nb + 1) * sizeof(double);
    double *partial;
    MF_TRY(mf_cuda_alloc(dev, bytes, (void **)&partial));
    double total = 0.0;
    mf_status st = mf_cuda_check(mf_cuda_launch_sum_squares(s, n, (int)x->dtype, mf_tensor_data(x), partial),
                                 "sum_squares kernel");
    if (st == MF_OK)
        st = mf_cuda_check(cudaMemcpyAsync(&total, partial + nb, sizeof total, cudaMemcpyDeviceToHost, s),
                           "sum_squares");
    if (st == MF_OK)
        st = mf_cuda_host_wait(dev.index, s, "sum_squares");
    mf_cuda_free(dev, partial, bytes);
    if (st == MF_OK)
        *out = total;
    return st;
}

static mf_status cuda_scale(mf_tensor *x, double scale) {
    int64_t n = mf_tensor_numel(x);
    if (n == 0)
        return MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    return mf_cuda_check(mf_cuda_launch_scale(s, n, (int)x->dtype, mf_tensor_data(x), scale), "scale kernel");
}

const struct mf_kern_optim mf_cuda_optim = {
    .sgd = cuda_sgd,
    .adam = cuda_adam,
    .sum_squares = cuda_sum_squares,
    .scale = cuda_scale,
};
