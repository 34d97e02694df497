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
