/* nn.Conv1d/2d/3d and nn.ConvTranspose1d/2d/3d: weight layouts and default
 * init as torch (kaiming uniform a = sqrt 5 over the weight's fan-in, and a
 * fan-in uniform bias); the forward is the mf_conv / mf_conv_transpose op. */
#include "core/nn/internal.h"

typedef struct {
    mf_module base;
    mf_conv_spec spec;
    bool transposed;
    int w, b;
} conv_module;

static mf_status conv_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    conv_module *c = (conv_module *)m;
    if (x->ndim != c->spec.rank + 2 || x->shape[1] != c->spec.in_channels)
        return MF_ERR(MF_ERR_SHAPE, "%s(%lld, %lld): input %s, want %d dims (N, %lld, ...)", mf_module_type(m),
                      (long long)c->spec.in_channels, (long long)c->spec.out_channels, MF_SHAPE(x), c->spec.rank + 2,
                      (long long)c->spec.in_channels);
    const mf_tensor *w = mf_module_param(m, c->w), *b = mf_module_param(m, c->b);
    return c->transposed ? mf_conv_transpose(x, w, b, &c->spec.p, out) : mf_conv(x, w, b, &c->spec.p, out);
}

static const mf_module_vtable conv_vt[2][3] = {
    {{"Conv1d", conv_forward, NULL}, {"Conv2d", conv_forward, NULL}, {"Conv3d", conv_forward, NULL}},
    {{"ConvTranspose1d", conv_forward, NULL},
     {"ConvTranspose2d", conv_forward, NULL},
     {"ConvTranspose3d", conv_forward, NULL}},
};

mf_conv_spec mf_conv_spec_make(int rank, int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                               int64_t padding) {
    mf_conv_spec s = {.rank = rank, .in_channels = in_channels, .out_channels = out_channels, .bias = true};
    s.p = mf_conv_params_default();
    for (int d = 0; d < 3; d++) {
        s.kernel[d] = kernel;
        s.p.stride[d] = stride;
        s.p.padding[d] = padding;
    }
    return s;
}

static mf_status conv_new(const mf_conv_spec *spec, bool transposed, mf_rng *rng, mf_module **out) {
    *out = NULL;
    const char *what = transposed ? "ConvTranspose" : "Conv";
    if (!spec || spec->rank < 1 || spec->rank > 3)
        return MF_ERR(MF_ERR_INVALID, "%s: spatial rank %d must be 1, 2 or 3", what, spec ? spec->rank : 0);
    int64_t g = spec->p.groups;
    if (g < 1 || spec->in_channels <= 0 || spec->out_channels <= 0 || spec->in_channels % g ||
        spec->out_channels % g)
        return MF_ERR(MF_ERR_INVALID, "%s%dd: channels (%lld -> %lld) must be positive and divisible by groups %lld",
                      what, spec->rank, (long long)spec->in_channels, (long long)spec->out_channels, (long long)g);
    for (int d = 0; d < spec->rank; d++)
        if (spec->kernel[d] < 1 || spec->p.stride[d] < 1 || spec->p.padding[d] < 0 || spec->p.dilation[d] < 1)
            return MF_ERR(MF_ERR_INVALID,
                          "%s%dd: kernel %lld, stride %lld, padding %lld, dilation %lld in dim %d are invalid", what,
                          spec->rank, (long long)spec->kernel[d], (long long)spec->p.stride[d],
                          (long long)spec->p.padding[d], (long long)spec->p.dilation[d], d);
    mf_module *m;
    MF_TRY(mf_module_alloc(sizeof(conv_module), &conv_vt[transposed][spec->rank - 1], &m));
    conv_module *c = (conv_module *)m;
    c->spec = *spec;
    c->transposed = transposed;
    c->b = -1;
    int64_t wshape[5];
    wshape[0] = transposed ? spec->in_channels : spec->out_channels;
    wshape[1] = transposed ? spec->out_channels / g : spec->in_channels / g;
    for (int d = 0; d < spec->rank; d++)
        wshape[2 + d] = spec->kernel[d];
    mf_status st = mf__nn_weight_bias(m, spec->rank + 2, wshape, spec->bias ? spec->out_channels : 0, rng, &c->w,
                                      &c->b);
    if (st != MF_OK)
        mf_module_free(m);
    else
        *out = m;
    return st;
}

mf_status mf_nn_conv_new(const mf_conv_spec *spec, mf_rng *rng, mf_module **out) {
    return conv_new(spec, false, rng, out);
}

mf_status mf_nn_conv_transpose_new(const mf_conv_spec *spec, mf_rng *rng, mf_module **out) {
    return conv_new(spec, true, rng, out);
}
