/* Parameter-free wrappers: activations (nn.ReLU, nn.GELU, ...), nn.Identity,
 * nn.Flatten and nn.Dropout, so that they can sit in a Sequential and keep
 * torch's child indices. */
#include <stdlib.h>

#include "core/nn/internal.h"

mf_status mf_activation_apply(mf_activation act, const mf_tensor *x, mf_tensor **out) {
    switch (act) {
    case MF_ACT_IDENTITY:
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    case MF_ACT_RELU: return mf_relu(x, out);
    case MF_ACT_GELU: return mf_gelu(x, out);
    case MF_ACT_SILU: return mf_silu(x, out);
    case MF_ACT_SIGMOID: return mf_sigmoid(x, out);
    case MF_ACT_TANH: return mf_tanh(x, out);
    case MF_ACT_LEAKY_RELU: return mf_leaky_relu(x, 0.01, out);
    }
    *out = NULL;
    return MF_ERR(MF_ERR_INVALID, "activation: unknown kind %d", (int)act);
}

typedef struct {
    mf_module base;
    mf_activation act;
} act_module;

static mf_status act_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    return mf_activation_apply(((act_module *)m)->act, x, out);
}

static const mf_module_vtable act_vt[] = {
    [MF_ACT_IDENTITY] = {"Identity", act_forward, NULL}, [MF_ACT_RELU] = {"ReLU", act_forward, NULL},
    [MF_ACT_GELU] = {"GELU", act_forward, NULL},         [MF_ACT_SILU] = {"SiLU", act_forward, NULL},
    [MF_ACT_SIGMOID] = {"Sigmoid", act_forward, NULL},   [MF_ACT_TANH] = {"Tanh", act_forward, NULL},
    [MF_ACT_LEAKY_RELU] = {"LeakyReLU", act_forward, NULL},
};

mf_status mf_nn_activation_new(mf_activation act, mf_module **out) {
    *out = NULL;
    if ((int)act < 0 || (size_t)act >= sizeof act_vt / sizeof act_vt[0])
        return MF_ERR(MF_ERR_INVALID, "activation: unknown kind %d", (int)act);
    MF_TRY(mf_module_alloc(sizeof(act_module), &act_vt[act], out));
    ((act_module *)*out)->act = act;
    return MF_OK;
}

mf_status mf_nn_identity_new(mf_module **out) { return mf_nn_activation_new(MF_ACT_IDENTITY, out); }

/* ---- Flatten ---- */

typedef struct {
    mf_module base;
    int start, end;
} flatten_module;

static mf_status flatten_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    flatten_module *f = (flatten_module *)m;
    return mf_flatten(x, f->start, f->end, out);
}

static const mf_module_vtable flatten_vt = {"Flatten", flatten_forward, NULL};

mf_status mf_nn_flatten_new(int start_dim, int end_dim, mf_module **out) {
    MF_TRY(mf_module_alloc(sizeof(flatten_module), &flatten_vt, out));
    ((flatten_module *)*out)->start = start_dim;
    ((flatten_module *)*out)->end = end_dim;
    return MF_OK;
}

/* ---- Dropout ---- */

typedef struct {
    mf_module base;
    double p;
    mf_rng rng;
} dropout_module;

static mf_status dropout_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    dropout_module *d = (dropout_module *)m;
    if (!m->training || d->p == 0.0) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    return mf_dropout(x, d->p, m->training, &d->rng, out);
}

static const mf_module_vtable dropout_vt = {"Dropout", dropout_forward, NULL};

mf_status mf_nn_dropout_new(double p, uint64_t seed, mf_module **out) {
    *out = NULL;
    if (!(p >= 0 && p <= 1))
        return MF_ERR(MF_ERR_INVALID, "Dropout: probability %g not in [0, 1]", p);
    MF_TRY(mf_module_alloc(sizeof(dropout_module), &dropout_vt, out));
    dropout_module *d = (dropout_module *)*out;
    d->p = p;
    mf_rng_init(&d->rng, seed);
    return MF_OK;
}
