/* Host-side reads and writes of solver tensors as f64 (header-only, shared
 * by the solver plugins). Contiguous CPU f32/f64 tensors take a plain loop;
 * anything else goes through mf_tensor_to_host / mf_tensor_copy_. */
#ifndef MEDFM_PLUGIN_HOST_IO_H
#define MEDFM_PLUGIN_HOST_IO_H

#include "medfm/tensor.h"

/* dst[0..numel) = t as f64, row-major. */
static mf_status hio_read_f64(const mf_tensor *t, double *dst, size_t count) {
    if (t->storage->device.type == MF_CPU && mf_tensor_is_contiguous(t) && (size_t)mf_tensor_numel(t) == count) {
        if (t->dtype == MF_F32) {
            const float *s = mf_tensor_data(t);
            for (size_t k = 0; k < count; k++)
                dst[k] = s[k];
            return MF_OK;
        }
        if (t->dtype == MF_F64) {
            const double *s = mf_tensor_data(t);
            for (size_t k = 0; k < count; k++)
                dst[k] = s[k];
            return MF_OK;
        }
    }
    return mf_tensor_to_host(t, MF_F64, dst, sizeof(double) * count);
}

/* t = src (f64, row-major, t's shape), converting to t's dtype/device. */
static mf_status hio_write_f64(mf_tensor *t, double *src) {
    const size_t count = (size_t)mf_tensor_numel(t);
    if (t->storage->device.type == MF_CPU && mf_tensor_is_contiguous(t)) {
        if (t->dtype == MF_F32) {
            float *d = mf_tensor_data(t);
            for (size_t k = 0; k < count; k++)
                d[k] = (float)src[k];
            return MF_OK;
        }
        if (t->dtype == MF_F64) {
            double *d = mf_tensor_data(t);
            for (size_t k = 0; k < count; k++)
                d[k] = src[k];
            return MF_OK;
        }
    }
    mf_tensor *h = NULL;
    mf_status st = mf_tensor_wrap(t->ndim, t->shape, MF_F64, MF_DEVICE_CPU, src, NULL, NULL, &h);
    if (st == MF_OK)
        st = mf_tensor_copy_(t, h);
    mf_tensor_release(h);
    return st;
}

#endif
