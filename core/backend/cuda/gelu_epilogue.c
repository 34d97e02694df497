/* CUDA entries of linear_gelu's fused epilogue (kern_linalg.h: bias_gelu,
 * bias_gelu_backward), launching gelu_epilogue_kernels.cu on the device's
 * compute stream. */
#include "core/backend/cuda/cuda_internal.h"

/* Rows per bias-gradient partial: a function of the shape only, so the sum
 * is deterministic. Shorter than the CPU's 64 so that a ViT-sized batch
 * (~1.5k rows) still gives every SM several blocks; at most 1024 partials
 * per column bounds the scratch. */
static int64_t chunk_rows(int64_t rows) {
    int64_t c = (rows + 1023) / 1024;
    return c < 16 ? 16 : c;
}

static int64_t last_dim(const mf_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

mf_status mf_cuda_bias_gelu(mf_tensor *y, mf_tensor *pre, const mf_tensor *bias) {
    int64_t numel = mf_tensor_numel(y), n = last_dim(y);
    if (numel == 0 || n == 0)
        return MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(y->storage->device.index, &s));
    return mf_cuda_check(mf_cuda_launch_bias_gelu(s, (int)y->dtype, numel, n, mf_tensor_data(y), mf_tensor_data(pre),
                                                  bias ? mf_tensor_data(bias) : NULL),
                         "linear_gelu: bias_gelu kernel");
}

mf_status mf_cuda_bias_gelu_backward(mf_tensor *gpre, mf_tensor *gbias, const mf_tensor *gy, const mf_tensor *pre) {
    int64_t numel = mf_tensor_numel(gpre), n = last_dim(gpre);
    int64_t rows = n ? numel / n : 0;
    int dev = gpre->storage->device.index;
    if (n == 0)
        return MF_OK;
    if (rows == 0) /* an empty batch: the bias gradient is zero */
        return gbias ? mf_cuda_fill(gbias, 0.0) : MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev, &s));
    int64_t chunk = chunk_rows(rows), chunks = (rows + chunk - 1) / chunk;
    double *partial = NULL;
    size_t pbytes = (size_t)(chunks * n) * sizeof(double);
    if (gbias && chunks > 1)
        MF_TRY(mf_cuda_alloc(gpre->storage->device, pbytes, (void **)&partial));
    mf_status st = mf_cuda_check(mf_cuda_launch_bias_gelu_backward(s, (int)gpre->dtype, rows, n, chunk,
                                                                   mf_tensor_data(gpre), mf_tensor_data(gy),
                                                                   mf_tensor_data(pre), partial,
                                                                   gbias ? mf_tensor_data(gbias) : NULL),
                                 "linear_gelu backward: bias_gelu_backward kernel");
    if (partial)
        mf_cuda_free(gpre->storage->device, partial, pbytes);
    return st;
}
