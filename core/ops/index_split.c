/* Splitting a tensor into pieces along a dim: every piece is a view made by
 * mf_slice, so the pieces share storage and carry their own backward. */
#include "core/ops/internal.h"

static mf_status split_impl(const char *op, const mf_tensor *x, int n, const int64_t *sizes, int d,
                            mf_tensor **outs) {
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        mf_status st = mf_slice(x, d, start, start + sizes[i], 1, &outs[i]);
        if (st != MF_OK) {
            for (int k = 0; k < i; k++)
                mf_tensor_clear(&outs[k]);
            return mf_error_context(st, "%s", op);
        }
        start += sizes[i];
    }
    return MF_OK;
}

mf_status mf_split(const mf_tensor *x, int n, const int64_t *sizes, int dim, mf_tensor **outs) {
    int d;
    MF_TRY(mf_dim_normalize("split", dim, x->ndim, &d));
    if (n < 1 || !sizes || !outs)
        return MF_ERR(MF_ERR_INVALID, "split: needs at least one piece, got %d", n);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0)
            return MF_ERR(MF_ERR_INVALID, "split: piece %d has negative size %lld", i, (long long)sizes[i]);
        total += sizes[i];
    }
    if (total != x->shape[d])
        return MF_ERR(MF_ERR_SHAPE, "split: piece sizes add up to %lld but dim %d of %s has size %lld",
                      (long long)total, dim, MF_SHAPE(x), (long long)x->shape[d]);
    return split_impl("split", x, n, sizes, d, outs);
}

mf_status mf_chunk(const mf_tensor *x, int n, int dim, mf_tensor **outs, int *n_out) {
    int d;
    MF_TRY(mf_dim_normalize("chunk", dim, x->ndim, &d));
    if (n < 1 || !outs || !n_out)
        return MF_ERR(MF_ERR_INVALID, "chunk: number of chunks must be >= 1, got %d", n);
    int64_t size = x->shape[d];
    int64_t each = (size + n - 1) / n;
    /* torch.chunk: ceil(size / n) per piece, so fewer pieces may result;
     * an empty dim still gives n empty pieces. */
    int pieces = each == 0 ? n : (int)((size + each - 1) / each);
    int64_t sizes[pieces];
    for (int i = 0; i < pieces; i++) {
        int64_t left = size - i * each;
        sizes[i] = left < each ? left : each;
    }
    MF_TRY(split_impl("chunk", x, pieces, sizes, d, outs));
    *n_out = pieces;
    return MF_OK;
}
