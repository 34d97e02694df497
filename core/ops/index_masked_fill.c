/* masked_fill: x with a constant wherever a bool mask (broadcast) is true.
 * A where() against a 0-d constant, so it inherits where's broadcasting,
 * kernels and backward (no gradient through filled elements). */
#include "core/ops/internal.h"

mf_status mf_masked_fill(const mf_tensor *x, const mf_tensor *mask, double value, mf_tensor **out) {
    if (mask->dtype != MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "masked_fill: mask must be bool, got %s", mf_dtype_name(mask->dtype));
    MF_TRY(mf__same_device("masked_fill", x, mask));
    int n;
    int64_t sh[MF_MAX_DIMS];
    MF_TRY(mf_broadcast_shape("masked_fill", x->ndim, x->shape, mask->ndim, mask->shape, &n, sh));
    mf_tensor *v;
    MF_TRY(mf_tensor_scalar(value, x->dtype, x->storage->device, &v));
    mf_status st = mf_where(mask, v, x, out);
    mf_tensor_release(v);
    if (st != MF_OK)
        return mf_error_context(st, "masked_fill");
    return MF_OK;
}
