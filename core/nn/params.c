/* Parameter allocation helpers shared by the layers (see internal.h). */
#include "core/nn/internal.h"

mf_status mf__nn_zeros(int ndim, const int64_t *shape, mf_tensor **out) {
    return mf_tensor_zeros(ndim, shape, MF_F32, MF_DEVICE_CPU, out);
}

mf_status mf__nn_param_const(mf_module *m, const char *name, int ndim, const int64_t *shape, double value,
                             int *slot) {
    mf_tensor *t;
    MF_TRY(mf_tensor_full(ndim, shape, MF_F32, MF_DEVICE_CPU, value, &t));
    return mf_module_add_param(m, name, t, slot);
}

mf_status mf__nn_weight_bias(mf_module *m, int ndim, const int64_t *wshape, int64_t bias_len, mf_rng *rng,
                             int *w_slot, int *b_slot) {
    mf_tensor *w = NULL, *b = NULL;
    mf_status st;
    MF_CHECK(mf__nn_zeros(ndim, wshape, &w));
    if (bias_len > 0)
        MF_CHECK(mf__nn_zeros(1, &bias_len, &b));
    MF_CHECK(mf_init_torch_default_(w, b, rng));
    st = mf_module_add_param(m, "weight", w, w_slot);
    w = NULL;
    if (st == MF_OK && b) {
        st = mf_module_add_param(m, "bias", b, b_slot);
        b = NULL;
    }
cleanup:
    mf_tensor_release(w);
    mf_tensor_release(b);
    return st;
}
