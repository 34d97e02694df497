/* Pooling modules (nn.MaxPool*d, nn.AvgPool*d, nn.AdaptiveAvgPool*d) over
 * the mf_max_pool / mf_avg_pool / mf_adaptive_avg_pool ops. */
#include <string.h>

#include "core/nn/internal.h"

typedef struct {
    mf_module base;
    int rank;
    mf_pool_params p;
    int64_t out_size[3];
} pool_module;

static mf_status check_rank(mf_module *m, const mf_tensor *x) {
    pool_module *pm = (pool_module *)m;
    if (x->ndim != pm->rank + 2)
        return MF_ERR(MF_ERR_SHAPE, "%s: input %s, want %d dims (N, C, spatial...)", mf_module_type(m), MF_SHAPE(x),
                      pm->rank + 2);
    return MF_OK;
}

static mf_status max_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    MF_TRY(check_rank(m, x));
    return mf_max_pool(x, &((pool_module *)m)->p, out);
}
static mf_status avg_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    MF_TRY(check_rank(m, x));
    return mf_avg_pool(x, &((pool_module *)m)->p, out);
}
static mf_status adaptive_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    MF_TRY(check_rank(m, x));
    return mf_adaptive_avg_pool(x, ((pool_module *)m)->out_size, out);
}

static const mf_module_vtable max_vt[3] = {
    {"MaxPool1d", max_forward, NULL}, {"MaxPool2d", max_forward, NULL}, {"MaxPool3d", max_forward, NULL}};
static const mf_module_vtable avg_vt[3] = {
    {"AvgPool1d", avg_forward, NULL}, {"AvgPool2d", avg_forward, NULL}, {"AvgPool3d", avg_forward, NULL}};
static const mf_module_vtable adaptive_vt[3] = {{"AdaptiveAvgPool1d", adaptive_forward, NULL},
                                                {"AdaptiveAvgPool2d", adaptive_forward, NULL},
                                                {"AdaptiveAvgPool3d", adaptive_forward, NULL}};

static mf_status pool_new(const mf_module_vtable *vts, const char *what, int rank, const mf_pool_params *p,
                          const int64_t *out_size, mf_module **out) {
    *out = NULL;
    if (rank < 1 || rank > 3)
        return MF_ERR(MF_ERR_INVALID, "%s: rank %d must be 1, 2 or 3", what, rank);
    if (!p && !out_size)
        return MF_ERR(MF_ERR_INVALID, "%s: parameters are NULL", what);
    MF_TRY(mf_module_alloc(sizeof(pool_module), &vts[rank - 1], out));
    pool_module *pm = (pool_module *)*out;
    pm->rank = rank;
    if (p)
        pm->p = *p;
    if (out_size)
        memcpy(pm->out_size, out_size, (size_t)rank * sizeof(int64_t));
    return MF_OK;
}

mf_status mf_nn_max_pool_new(int rank, const mf_pool_params *p, mf_module **out) {
    return pool_new(max_vt, "MaxPool", rank, p, NULL, out);
}
mf_status mf_nn_avg_pool_new(int rank, const mf_pool_params *p, mf_module **out) {
    return pool_new(avg_vt, "AvgPool", rank, p, NULL, out);
}
mf_status mf_nn_adaptive_avg_pool_new(int rank, const int64_t *out_size, mf_module **out) {
    return pool_new(adaptive_vt, "AdaptiveAvgPool", rank, NULL, out_size, out);
}
