/* Host-side element access for tests and small bookkeeping: flat indexing
 * in row-major order of a view, scalar extraction, copies to host buffers. */
#include "medfm/tensor.h"

#include <stdlib.h>
#include <string.h>

#include "core/tensor/dtype.h"

static int64_t flat_to_offset(const mf_tensor *t, int64_t i) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        off += (i % n) * t->stride[d];
        i /= n;
    }
    return off;
}

double mf_tensor_get_flat(const mf_tensor *t, int64_t i) {
    size_t es = mf_dtype_size(t->dtype);
    return mf_load_as_f64((const char *)t->storage->data + flat_to_offset(t, i) * (int64_t)es, t->dtype);
}

void mf_tensor_set_flat(mf_tensor *t, int64_t i, double v) {
    size_t es = mf_dtype_size(t->dtype);
    mf_store_from_f64((char *)t->storage->data + flat_to_offset(t, i) * (int64_t)es, t->dtype, v);
}

mf_status mf_tensor_to_host(const mf_tensor *t, mf_dtype dt, void *dst, size_t dst_bytes) {
    int64_t n = mf_tensor_numel(t);
    if ((size_t)n * mf_dtype_size(dt) > dst_bytes)
        return MF_ERR(MF_ERR_INVALID, "to_host: %lld elements of %s do not fit in %zu bytes", (long long)n,
                      mf_dtype_name(dt), dst_bytes);
    mf_tensor *host = NULL;
    const mf_tensor *src = t;
    if (t->storage->device.type != MF_CPU || t->dtype != dt || !mf_tensor_is_contiguous(t)) {
        MF_TRY(mf_tensor_wrap(t->ndim, t->shape, dt, MF_DEVICE_CPU, dst, NULL, NULL, &host));
        mf_status st = mf_tensor_copy_(host, t); /* a device tensor converts on the device, then moves */
        mf_tensor_release(host);
        return st;
    }
    memcpy(dst, mf_tensor_data(src), (size_t)n * mf_dtype_size(dt));
    return MF_OK;
}

mf_status mf_tensor_item(const mf_tensor *t, double *out) {
    if (mf_tensor_numel(t) != 1)
        return MF_ERR(MF_ERR_SHAPE, "item: tensor of shape %s has %lld elements, expected 1", MF_SHAPE(t),
                      (long long)mf_tensor_numel(t));
    double v;
    MF_TRY(mf_tensor_to_host(t, MF_F64, &v, sizeof v));
    *out = v;
    return MF_OK;
}
