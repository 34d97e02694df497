/* Padding (constant, reflect, replicate; negative pads crop) in
 * torch.nn.functional.pad's argument order, as a differentiable per-dim
 * index gather: each output index maps to one input index or to the fill
 * value, and the backward scatter-adds through the same map. */
#include "core/ops/pool_internal.h"

static const char *mode_name(mf_pad_mode m) {
    switch (m) {
    case MF_PAD_CONSTANT: return "constant";
    case MF_PAD_REFLECT: return "reflect";
    case MF_PAD_REPLICATE: return "replicate";
    }
    return "?";
}

mf_status mf_pad(const mf_tensor *x, int n_pads, const int64_t *pads, mf_pad_mode mode, double value,
                 mf_tensor **out) {
    if (mode != MF_PAD_CONSTANT && mode != MF_PAD_REFLECT && mode != MF_PAD_REPLICATE)
        return MF_ERR(MF_ERR_INVALID, "pad: unknown mode %d", (int)mode);
    if (x->ndim < 1)
        return MF_ERR(MF_ERR_SHAPE, "pad: input must have at least one dim, got shape %s", MF_SHAPE(x));
    if (n_pads < 0 || n_pads % 2 || n_pads / 2 > x->ndim)
        return MF_ERR(MF_ERR_INVALID, "pad: needs an even number of pads, at most 2 per dim of input %s; got %d",
                      MF_SHAPE(x), n_pads);
    if (n_pads && !pads)
        return MF_ERR(MF_ERR_INVALID, "pad: pads must not be NULL");
    if (mode != MF_PAD_CONSTANT)
        MF_TRY(mf__need_float("pad", x));
    int64_t before[MF_MAX_DIMS] = {0}, shape[MF_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        int i = x->ndim - 1 - d; /* pair index of dim d */
        int64_t lo = i < n_pads / 2 ? pads[2 * i] : 0, hi = i < n_pads / 2 ? pads[2 * i + 1] : 0;
        int64_t in = x->shape[d];
        before[d] = lo;
        shape[d] = in + lo + hi;
        if (shape[d] < 0) /* torch allows cropping down to an empty dim */
            return MF_ERR(MF_ERR_SHAPE, "pad: pads (%lld, %lld) give a negative size in dim %d of input %s",
                          (long long)lo, (long long)hi, d, MF_SHAPE(x));
        if (mode == MF_PAD_REFLECT && (lo >= in || hi >= in))
            return MF_ERR(MF_ERR_SHAPE, "pad: reflect pads (%lld, %lld) must be smaller than size %lld of dim %d "
                          "of input %s", (long long)lo, (long long)hi, (long long)in, d, MF_SHAPE(x));
        if (mode == MF_PAD_REPLICATE && (lo > 0 || hi > 0) && in < 1)
            return MF_ERR(MF_ERR_SHAPE, "pad: replicate cannot pad empty dim %d of input %s", d, MF_SHAPE(x));
    }
    mf__index_maps *m;
    MF_TRY(mf__maps_new("pad", x->ndim, shape, &m));
    for (int d = 0; d < x->ndim; d++) {
        int64_t in = x->shape[d];
        for (int64_t o = 0; o < shape[d]; o++) {
            int64_t j = o - before[d];
            if (mode == MF_PAD_REFLECT) {
                if (j < 0)
                    j = -j;
                if (j >= in)
                    j = 2 * (in - 1) - j;
            } else if (mode == MF_PAD_REPLICATE) {
                j = j < 0 ? 0 : (j >= in ? in - 1 : j);
            } else if (j < 0 || j >= in) {
                j = -1;
            }
            m->map[d][o] = j;
        }
    }
    mf_status st = mf__gather_maps("pad", x, m, value, out);
    if (st != MF_OK)
        return mf_error_context(st, "pad (%s)", mode_name(mode));
    return MF_OK;
}
