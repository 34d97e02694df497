/* nn.BatchNorm1d/2d/3d: affine weight/bias, running statistics as buffers
 * (running_mean, running_var, int64 num_batches_tracked), batch statistics
 * in training mode and running ones in eval mode, as torch. */
#include "core/nn/internal.h"

typedef struct {
    mf_module base;
    int rank;
    int64_t features;
    mf_norm_spec spec;
    int w, b, mean, var, count;
} bn_module;

mf_norm_spec mf_norm_spec_default(void) {
    return (mf_norm_spec){.eps = 1e-5, .momentum = 0.1, .affine = true, .track_running_stats = true};
}

/* num_batches_tracked += 1 where the buffer lives: no host round trip (that
 * was a device sync per layer and step, and a CUDA graph cannot hold one). */
static mf_status bump_count(mf_tensor *count) {
    bool prev = mf_grad_set_enabled(false);
    mf_tensor *t;
    mf_status st = mf_add_scalar(count, 1.0, &t);
    mf_grad_set_enabled(prev);
    MF_TRY(st);
    st = mf_tensor_copy_(count, t);
    mf_tensor_release(t);
    return st;
}

static mf_status bn_run(mf_module *m, const mf_tensor *x, bool relu, mf_tensor **out) {
    bn_module *bn = (bn_module *)m;
    bool rank_ok = bn->rank == 1 ? (x->ndim == 2 || x->ndim == 3) : x->ndim == bn->rank + 2;
    if (!rank_ok || x->shape[1] != bn->features)
        return MF_ERR(MF_ERR_SHAPE, "%s(%lld): input %s, want (N, %lld, ...) with %s dims", mf_module_type(m),
                      (long long)bn->features, MF_SHAPE(x), (long long)bn->features,
                      bn->rank == 1 ? "2 or 3" : bn->rank == 2 ? "4" : "5");
    mf_tensor *mean = mf_module_buffer(m, bn->mean), *var = mf_module_buffer(m, bn->var);
    /* Without running statistics, eval mode normalises with batch statistics too. */
    bool use_batch = m->training || !mean;
    bool update = m->training && mean;
    MF_TRY((relu ? mf_batch_norm_relu : mf_batch_norm)(x, mean, var, mf_module_param(m, bn->w),
                                                        mf_module_param(m, bn->b), use_batch, bn->spec.momentum,
                                                        bn->spec.eps, out));
    if (update) {
        mf_status st = bump_count(mf_module_buffer(m, bn->count));
        if (st != MF_OK) {
            mf_tensor_clear(out);
            return st;
        }
    }
    return MF_OK;
}

static mf_status bn_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) { return bn_run(m, x, false, out); }

static const mf_module_vtable bn_vt[3] = {
    {"BatchNorm1d", bn_forward, NULL}, {"BatchNorm2d", bn_forward, NULL}, {"BatchNorm3d", bn_forward, NULL}};

mf_status mf_nn_batch_norm_relu_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    *out = NULL;
    if (!m || (m->vt != &bn_vt[0] && m->vt != &bn_vt[1] && m->vt != &bn_vt[2]))
        return MF_ERR(MF_ERR_INVALID, "batch_norm_relu_forward: module %s is not a BatchNorm",
                      m ? mf_module_type(m) : "(null)");
    return bn_run(m, x, true, out);
}

mf_status mf_nn_batch_norm_new(int rank, int64_t num_features, const mf_norm_spec *spec, mf_module **out) {
    *out = NULL;
    mf_norm_spec s = spec ? *spec : mf_norm_spec_default();
    if (rank < 1 || rank > 3)
        return MF_ERR(MF_ERR_INVALID, "BatchNorm: rank %d must be 1, 2 or 3", rank);
    if (num_features <= 0 || !(s.eps > 0) || !(s.momentum >= 0 && s.momentum <= 1))
        return MF_ERR(MF_ERR_INVALID, "BatchNorm%dd: features %lld, eps %g, momentum %g invalid", rank,
                      (long long)num_features, s.eps, s.momentum);
    mf_module *m;
    MF_TRY(mf_module_alloc(sizeof(bn_module), &bn_vt[rank - 1], &m));
    bn_module *bn = (bn_module *)m;
    bn->rank = rank;
    bn->features = num_features;
    bn->spec = s;
    bn->w = bn->b = bn->mean = bn->var = bn->count = -1;
    int64_t shape[1] = {num_features};
    mf_status st = MF_OK;
    if (s.affine) {
        MF_CHECK(mf__nn_param_const(m, "weight", 1, shape, 1.0, &bn->w));
        MF_CHECK(mf__nn_param_const(m, "bias", 1, shape, 0.0, &bn->b));
    }
    if (s.track_running_stats) {
        mf_tensor *t;
        MF_CHECK(mf_tensor_zeros(1, shape, MF_F32, MF_DEVICE_CPU, &t));
        MF_CHECK(mf_module_add_buffer(m, "running_mean", t, &bn->mean));
        MF_CHECK(mf_tensor_full(1, shape, MF_F32, MF_DEVICE_CPU, 1.0, &t));
        MF_CHECK(mf_module_add_buffer(m, "running_var", t, &bn->var));
        MF_CHECK(mf_tensor_zeros(0, NULL, MF_I64, MF_DEVICE_CPU, &t));
        MF_CHECK(mf_module_add_buffer(m, "num_batches_tracked", t, &bn->count));
    }
cleanup:
    if (st != MF_OK)
        mf_module_free(m);
    else
        *out = m;
    return st;
}
