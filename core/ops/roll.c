/* torch.roll: circular shifts along dims, as a per-dim index gather
 * (out[i] = x[(i - shift) mod n]); with no dims the flattened tensor is
 * rolled and reshaped back. */
#include "core/ops/pool_internal.h"

mf_status mf_roll(const mf_tensor *x, int n_dims, const int64_t *shifts, const int *dims, mf_tensor **out) {
    if (n_dims < 0 || (n_dims > 0 && (!shifts || !dims)))
        return MF_ERR(MF_ERR_INVALID, "roll: needs shifts and dims for %d dims", n_dims);
    if (n_dims == 0) {
        if (!shifts)
            return MF_ERR(MF_ERR_INVALID, "roll: with no dims, shifts[0] rolls the flattened input");
        int64_t numel = mf_tensor_numel(x);
        mf_tensor *flat = NULL, *r = NULL;
        mf_status st;
        MF_CHECK(mf_reshape(x, 1, &numel, &flat));
        MF_CHECK(mf_roll(flat, 1, shifts, (int[]){0}, &r));
        MF_CHECK(mf_reshape(r, x->ndim, x->shape, out));
    cleanup:
        mf_tensor_release(flat);
        mf_tensor_release(r);
        return st;
    }
    int64_t shift[MF_MAX_DIMS] = {0};
    for (int i = 0; i < n_dims; i++) {
        int d;
        MF_TRY(mf_dim_normalize("roll", dims[i], x->ndim, &d));
        shift[d] += shifts[i];
    }
    mf__index_maps *m;
    MF_TRY(mf__maps_new("roll", x->ndim, x->shape, &m));
    for (int d = 0; d < x->ndim; d++) {
        int64_t n = x->shape[d];
        int64_t s = n ? shift[d] % n : 0;
        for (int64_t o = 0; o < n; o++)
            m->map[d][o] = ((o - s) % n + n) % n;
    }
    return mf__gather_maps("roll", x, m, 0.0, out);
}
