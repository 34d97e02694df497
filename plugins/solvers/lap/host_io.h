/* Host-side reads and writes of solver tensors as f64 (header-only, shared
 * by the solver plugins). Contiguous CPU f32/f64 tensors take a plain loop;
 * anything else goes through mf_tensor_to_host / mf_tensor_copy_. */
#ifndef MEDFM_PLUGIN_HOST_IO_H
#define MEDFM_PLUGIN_HOST_IO_H

#include <stdlib.h>
#include <string.h>

#include "medfm/autograd.h"
#include "medfm/ops/index.h"
#include "medfm/ops/view.h"
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

/* da = a and db = b as f64 (na and nb values, row-major). Two tensors on
 * one GPU come back in a single copy (flattened and joined there first):
 * every read from a device is a host wait, and the step's unary and
 * quadratic costs are read together. */
static inline mf_status hio_read2_f64(const mf_tensor *a, double *da, size_t na, const mf_tensor *b, double *db, size_t nb) {
    if (a->storage->device.type == MF_CPU || !mf_device_equal(a->storage->device, b->storage->device) ||
        a->dtype != b->dtype || (size_t)mf_tensor_numel(a) != na || (size_t)mf_tensor_numel(b) != nb) {
        MF_TRY(hio_read_f64(a, da, na));
        return hio_read_f64(b, db, nb);
    }
    bool grad = mf_grad_set_enabled(false);
    mf_tensor *fa = NULL, *fb = NULL, *both = NULL;
    double *buf = malloc(sizeof(double) * (na + nb + 1));
    mf_status st = buf ? MF_OK : MF_ERR(MF_ERR_NOMEM, "solver: out of memory reading %s and %s", MF_SHAPE(a),
                                        MF_SHAPE(b));
    if (st == MF_OK)
        st = mf_reshape(a, 1, (int64_t[]){(int64_t)na}, &fa);
    if (st == MF_OK)
        st = mf_reshape(b, 1, (int64_t[]){(int64_t)nb}, &fb);
    if (st == MF_OK)
        st = mf_concat(2, (mf_tensor *const[]){fa, fb}, 0, &both);
    if (st == MF_OK)
        st = mf_tensor_to_host(both, MF_F64, buf, sizeof(double) * (na + nb));
    if (st == MF_OK) {
        memcpy(da, buf, sizeof(double) * na);
        memcpy(db, buf + na, sizeof(double) * nb);
    }
    mf_grad_set_enabled(grad);
    mf_tensor_release(fa);
    mf_tensor_release(fb);
    mf_tensor_release(both);
    free(buf);
    return st;
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
